"""The shifted-id encoding of ``eco serve --corrupt-in-vllm`` (both ends; vLLM itself in test_server_vllm.py)."""

from __future__ import annotations

import pytest
import torch

from eco_unlearn.core.corruptions import apply_corruption
from eco_unlearn.server.vllm_plugin import INLINE_FAMILIES, corrupt_shifted, decode_slot, shift_ids, slot_for

SMOLLM2 = (49152, 576)  # vocabulary rows, hidden size
LLAMA3_8B, GEMMA3_27B = (128256, 4096), (262208, 5376)


def test_every_inline_corruption_travels_and_comes_back_as_itself():
    vocab, hidden = SMOLLM2
    seen = set()
    for name in INLINE_FAMILIES:
        for dims in (1, 7, hidden - 1, None):
            slot = slot_for(name, dims, vocab, hidden)
            assert decode_slot(slot, hidden) == (name, hidden if dims is None else dims)
            seen.add(slot)
    assert len(seen) == 4 * len(INLINE_FAMILIES) and min(seen) >= 1
    assert decode_slot(0, hidden) is None and decode_slot(1 + 4 * (hidden + 1), hidden) is None  # past the families
    assert decode_slot(1 + hidden + 1, hidden) is None  # k = 0 names nothing


def test_what_ids_cannot_carry_is_sent_as_embeddings():
    vocab, hidden = SMOLLM2
    assert slot_for("rand_noise_first_n", None, vocab, hidden) is None  # a draw and a σ
    assert slot_for("sub_value_top_k", 3, vocab, hidden) is None  # a σ
    assert slot_for("flip_sign_top_k", None, *LLAMA3_8B) is not None  # fits int32, just
    assert slot_for("zero_out_top_k", None, *LLAMA3_8B) is not None
    assert slot_for("zero_out_top_k", None, *GEMMA3_27B) is None  # would overflow vLLM's int32 ids
    assert slot_for("flip_sign_first_n", None, *GEMMA3_27B) is not None  # the first family's codes are small
    with pytest.raises(ValueError, match="dims"):
        slot_for("flip_sign_top_k", hidden + 1, vocab, hidden)


def test_shifted_ids_keep_the_token_and_name_the_corruption():
    vocab, hidden = SMOLLM2
    slot = slot_for("flip_sign_top_k", 10, vocab, hidden)
    ids, mask = [1, 500, 49151, 7], [False, True, True, False]
    shifted = shift_ids(ids, mask, slot, vocab)
    assert [t % vocab for t in shifted] == ids
    assert [t // vocab for t in shifted] == [0, slot, slot, 0]
    assert max(shifted) < 2**31
    with pytest.raises(ValueError, match="mask"):
        shift_ids(ids, mask[:2], slot, vocab)
    with pytest.raises(ValueError, match="token ids"):
        shift_ids([vocab], [True], slot, vocab)


def test_vllm_side_corrupts_exactly_as_the_local_backend():
    """The plugin's corruption of a batch of shifted positions equals ``apply_corruption`` on the same
    tokens, row by row, whatever other requests' tokens share the batch (clean rows bit for bit)."""
    vocab, hidden = 100, 16
    torch.manual_seed(0)
    embeds = torch.randn(9, hidden)
    slots = torch.zeros(9, dtype=torch.long)
    flip, zero = slot_for("flip_sign_top_k", 3, vocab, hidden), slot_for("zero_out_first_n", None, vocab, hidden)
    slots[[1, 2]], slots[[5, 7]] = flip, zero  # two requests with different corruptions in one batch
    got = corrupt_shifted(embeds, slots, hidden)
    want = apply_corruption("flip_sign_top_k", embeds[None], (slots == flip)[None], dims=3)[0]
    want = apply_corruption("zero_out_first_n", want[None], (slots == zero)[None])[0]
    assert torch.equal(got, want)
    assert torch.equal(got[slots == 0], embeds[slots == 0])
    assert not torch.equal(got[1], embeds[1]) and got[5].abs().sum() == 0
    assert corrupt_shifted(embeds.bfloat16(), slots, hidden).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="names no corruption"):
        corrupt_shifted(embeds, torch.full((9,), 4 * (hidden + 1) + 5), hidden)
