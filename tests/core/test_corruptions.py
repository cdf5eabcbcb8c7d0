import pytest
import torch

from eco_unlearn.core.corruptions import CORRUPTIONS, apply_corruption

B, T, D = 3, 7, 16


def _inputs(dtype=torch.float32):
    torch.manual_seed(0)
    e = torch.randn(B, T, D).to(dtype)
    m = torch.zeros(B, T, dtype=torch.bool)
    m[0, 1:5] = True  # a flagged row, partly masked
    m[2, 3:7] = True  # another flagged row; row 1 is unflagged
    return e, m


def _gen(seed=123):
    return torch.Generator().manual_seed(seed)


DONORS = torch.randn(5, D, generator=torch.Generator().manual_seed(7))


def _donors(name):
    """What the encoder passes to a corruption that substitutes tokens (``donor_embeddings``)."""
    return DONORS if CORRUPTIONS[name].uses_donors else None


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_only_masked_positions_change_and_dtype_is_kept(name, dtype):
    e, m = _inputs(dtype)
    out = apply_corruption(name, e, m, strength=2.0, dims=4, generator=_gen(), donors=_donors(name))
    assert out.dtype == dtype and out.shape == e.shape
    assert torch.equal(out[~m], e[~m])  # unmasked rows/positions bit-identical
    assert not torch.equal(out[m], e[m])  # and the masked ones really change
    assert torch.equal(e, _inputs(dtype)[0])  # pure: the input is untouched


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_seed_determinism(name):
    e, m = _inputs()
    a = apply_corruption(name, e, m, 2.0, 4, _gen(1), donors=_donors(name))
    b = apply_corruption(name, e, m, 2.0, 4, _gen(1), donors=_donors(name))
    assert torch.equal(a, b)
    if name in ("rand_noise_first_n", "rand_noise_rand_n", "rand_noise_top_k", "shuffle"):
        assert not torch.equal(a, apply_corruption(name, e, m, 2.0, 4, _gen(2), donors=_donors(name)))


def test_substitute_gives_a_token_the_same_stand_in_everywhere_and_needs_donors():
    e, m = _inputs()
    e[0, 4] = e[0, 1]  # the same token twice in a flagged row
    e[2, 5] = e[0, 1]  # and in another sequence
    out = apply_corruption("substitute", e, m, generator=_gen(), donors=DONORS)
    for b, t in m.nonzero().tolist():
        assert any(torch.equal(out[b, t], d) for d in DONORS)  # every masked token is some donor word
    assert torch.equal(out[0, 4], out[0, 1]) and torch.equal(out[2, 5], out[0, 1])
    assert len({tuple(out[b, t].tolist()) for b, t in m.nonzero().tolist()}) > 1  # not one word for all
    with pytest.raises(ValueError, match="needs donors"):
        apply_corruption("substitute", e, m, generator=_gen())


def test_rand_noise_first_n_formula_and_common_random_numbers():
    e, m = _inputs()
    z = torch.randn(e.shape, generator=_gen())
    for sigma in (0.5, 3.0):
        out = apply_corruption("rand_noise_first_n", e, m, sigma, 3, _gen())
        delta = out - e
        assert torch.allclose(delta[m][:, :3], sigma * z[m][:, :3])
        assert torch.equal(delta[m][:, 3:], torch.zeros_like(delta[m][:, 3:]))


def test_rand_noise_all_dims_when_dims_none():
    e, m = _inputs()
    out = apply_corruption("rand_noise_first_n", e, m, 1.0, None, _gen())
    assert (out[m] != e[m]).all()


def test_rand_noise_rand_n_uses_one_dim_subset_for_all_tokens():
    e, m = _inputs()
    changed = (apply_corruption("rand_noise_rand_n", e, m, 1.0, 5, _gen()) != e)[m]
    assert changed.sum(-1).eq(5).all()
    assert (changed == changed[0]).all()


@pytest.mark.parametrize("name", ["rand_noise_top_k", "zero_out_top_k", "flip_sign_top_k"])
def test_top_k_touches_the_k_largest_magnitudes(name):
    e, m = _inputs()
    out = apply_corruption(name, e, m, 1.0, 3, _gen())
    changed = (out != e)[m]
    top = torch.zeros_like(changed).scatter_(-1, e[m].abs().topk(3, -1).indices, True)
    assert torch.equal(changed, top)
    if name == "zero_out_top_k":
        assert (out[m][top] == 0).all()
    if name == "flip_sign_top_k":
        assert torch.equal(out[m][top], -e[m][top])


def test_zero_flip_add_sub_formulas():
    e, m = _inputs()
    z = apply_corruption("zero_out_first_n", e, m, 0.0, 4, None)
    assert (z[m][:, :4] == 0).all() and torch.equal(z[m][:, 4:], e[m][:, 4:])
    f = apply_corruption("flip_sign_first_n", e, m, 0.0, None, None)
    assert torch.equal(f[m], -e[m])
    a = apply_corruption("add_value_first_n", e, m, 2.5, 2, None)
    assert torch.allclose(a[m][:, :2], e[m][:, :2] + 2.5) and torch.equal(a[m][:, 2:], e[m][:, 2:])
    s = apply_corruption("sub_value_top_k", e, m, 1.5, 2, None)
    top = torch.zeros_like(e[m], dtype=torch.bool).scatter_(-1, e[m].topk(2, -1).indices, True)
    assert torch.allclose(s[m][top], e[m][top] - 1.5) and torch.equal(s[m][~top], e[m][~top])


def test_reverse_and_shuffle_permute_masked_tokens_within_their_row():
    e, m = _inputs()
    r = apply_corruption("reverse", e, m, 0.0, None, None)
    assert torch.equal(r[0, 1:5], e[0, 1:5].flip(0)) and torch.equal(r[2, 3:7], e[2, 3:7].flip(0))
    s = apply_corruption("shuffle", e, m, 0.0, None, _gen(5))
    for b, (lo, hi) in ((0, (1, 5)), (2, (3, 7))):
        got = sorted(map(tuple, s[b, lo:hi].tolist()))
        assert got == sorted(map(tuple, e[b, lo:hi].tolist()))  # same tokens, other order


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"name": "nope"}, "unknown corruption"),
        ({"strength": -1.0}, "strength must be >= 0"),
        ({"strength": float("nan")}, "strength must be >= 0"),
        ({"dims": 0}, "dims must be"),
        ({"dims": D + 1}, "dims must be"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    e, m = _inputs()
    args = {"name": "rand_noise_first_n", "strength": 1.0, "dims": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        apply_corruption(args["name"], e, m, args["strength"], args["dims"], _gen())


def test_shape_mismatch_is_rejected():
    e, m = _inputs()
    with pytest.raises(ValueError, match="expected embeds"):
        apply_corruption("zero_out_first_n", e, m[:, :3])
