"""Corruption functions: the only place where prompt embeddings are changed.

Every function has the same signature ``fn(embeds, mask, strength, dims, generator) -> embeds``:

- ``embeds``: ``[B, T, d]`` token embeddings (the embedding layer's output, so Gemma's ``sqrt(d)`` scaling is
  already applied);
- ``mask``: ``[B, T]`` bool, True where a token must be corrupted. Rows of unflagged prompts are all False,
  so the functions need no separate "flagged" argument;
- ``strength``: σ (noise std or additive offset); ignored by functions that have none;
- ``dims``: n (first-n / random-n) or k (top-k); ``None`` means all ``d`` dimensions;
- ``generator``: the only source of randomness, so that a fixed seed gives fixed noise. The σ search relies
  on this (common random numbers: the same standard-normal draw scaled by σ+μ and by σ−μ).

The functions are pure (they return a new tensor), keep the dtype, and leave every unmasked position
bit-identical. Unlike the reference code, ``reverse`` and ``shuffle`` permute only the masked positions of
each row, never padding or other sequences of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


class CorruptionFn(Protocol):
    def __call__(
        self,
        embeds: torch.Tensor,
        mask: torch.Tensor,
        strength: float,
        dims: int | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class Corruption:
    """A registered corruption: the function and which of (strength, dims) it reads."""

    name: str
    fn: CorruptionFn
    uses_strength: bool
    uses_dims: bool
    doc: str
    uses_donors: bool = False
    """Reads ``donors``: embeddings of other tokens to put in place of the masked ones."""


CORRUPTIONS: dict[str, Corruption] = {}


def register(name: str, *, uses_strength: bool, uses_dims: bool, uses_donors: bool = False):
    def wrap(fn: CorruptionFn) -> CorruptionFn:
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        CORRUPTIONS[name] = Corruption(name, fn, uses_strength, uses_dims, doc, uses_donors)
        return fn

    return wrap


def get_corruption(name: str) -> Corruption:
    try:
        return CORRUPTIONS[name]
    except KeyError:
        known = ", ".join(sorted(CORRUPTIONS))
        raise ValueError(f"unknown corruption {name!r}; known: {known}") from None


def apply_corruption(
    name: str,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    strength: float = 0.0,
    dims: int | None = None,
    generator: torch.Generator | None = None,
    donors: torch.Tensor | None = None,
) -> torch.Tensor:
    """Validate the arguments at the boundary, then run the named corruption (``donors``: [N, d] embeddings
    for the corruptions that substitute tokens)."""
    spec = get_corruption(name)
    if embeds.dim() != 3 or mask.shape != embeds.shape[:2]:
        raise ValueError(f"expected embeds [B,T,d] and mask [B,T], got {tuple(embeds.shape)} and {tuple(mask.shape)}")
    if not (strength >= 0.0):  # also rejects NaN
        raise ValueError(f"corruption strength must be >= 0, got {strength}")
    if dims is not None and not (1 <= dims <= embeds.shape[-1]):
        raise ValueError(f"dims must be in [1, {embeds.shape[-1]}] or None (all), got {dims}")
    if spec.uses_donors:
        if donors is None or donors.dim() != 2 or donors.shape[0] < 1 or donors.shape[1] != embeds.shape[-1]:
            raise ValueError(f"corruption {name!r} needs donors: a [N, {embeds.shape[-1]}] tensor of embeddings")
        return spec.fn(embeds, mask.bool(), float(strength), dims, generator, donors=donors)  # type: ignore[call-arg]
    return spec.fn(embeds, mask.bool(), float(strength), dims, generator)


# --- helpers -------------------------------------------------------------------------------------------


def _n(dims: int | None, d: int) -> int:
    return d if dims is None else dims


def _first_n_mask(embeds: torch.Tensor, mask: torch.Tensor, dims: int | None) -> torch.Tensor:
    """Bool, broadcastable to [B,T,d]: masked tokens × their first n dims. With n = d it is the [B,T,1]
    token mask itself: at a 7B model's width a [B,T,d] mask of a 2k-token prompt is 8 M elements to build."""
    d = embeds.shape[-1]
    if _n(dims, d) == d:
        return mask[..., None]
    dim_sel = torch.zeros(d, dtype=torch.bool, device=embeds.device)
    dim_sel[: _n(dims, d)] = True
    return mask[..., None] & dim_sel


def _top_k_mask(values: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """[B,T,d] bool: masked tokens × the k dims where ``values`` is largest (per token)."""
    idx = values.topk(k, dim=-1).indices
    sel = torch.zeros_like(values, dtype=torch.bool).scatter_(-1, idx, True)
    return mask[..., None] & sel


def _scaled_noise(embeds: torch.Tensor, strength: float, generator: torch.Generator | None) -> torch.Tensor:
    """σ·z with z ~ N(0, 1) of the embeddings' shape, drawn in float32 whatever the model's dtype (the same
    numbers in every dtype), scaled in place: the draw is the one large buffer this needs."""
    z = torch.randn(embeds.shape, generator=generator, dtype=torch.float32, device=embeds.device)
    return z.mul_(strength)


def _add_where(embeds: torch.Tensor, where: torch.Tensor, delta: torch.Tensor | float) -> torch.Tensor:
    """``embeds + delta`` (in float32) where ``where`` holds, ``embeds`` bit for bit elsewhere. A tensor
    ``delta`` is a scratch buffer of this call and is overwritten (no boolean indexing and no extra
    copies: they cost more than the noise itself on a 2k-token prompt at hidden 4096)."""
    added = delta.add_(embeds) if isinstance(delta, torch.Tensor) else embeds.float() + delta
    added = added.to(embeds.dtype)  # a new tensor in every case, so it can take the result in place
    if embeds.requires_grad and torch.is_grad_enabled():  # autograd refuses out=
        return torch.where(where, added, embeds)
    return torch.where(where, added, embeds, out=added)


def _negate_where(embeds: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """``-embeds`` where ``where`` holds: one multiply by ±1 (exact), the [B,T,1] mask broadcast."""
    return embeds * (1 - 2 * where.to(embeds.dtype))


# --- corruptions ---------------------------------------------------------------------------------------


@register("rand_noise_first_n", uses_strength=True, uses_dims=True)
def rand_noise_first_n(embeds, mask, strength, dims, generator):
    """Add N(0, σ²) noise to the first n dims (the paper's main ECO corruption)."""
    return _add_where(embeds, _first_n_mask(embeds, mask, dims), _scaled_noise(embeds, strength, generator))


@register("rand_noise_rand_n", uses_strength=True, uses_dims=True)
def rand_noise_rand_n(embeds, mask, strength, dims, generator):
    """Add N(0, σ²) noise to n random dims, drawn once per call and shared by all tokens."""
    d = embeds.shape[-1]
    perm = torch.randperm(d, generator=generator, device=embeds.device)[: _n(dims, d)]
    dim_sel = torch.zeros(d, dtype=torch.bool, device=embeds.device)
    dim_sel[perm] = True
    return _add_where(embeds, mask[..., None] & dim_sel, _scaled_noise(embeds, strength, generator))


@register("rand_noise_top_k", uses_strength=True, uses_dims=True)
def rand_noise_top_k(embeds, mask, strength, dims, generator):
    """Add N(0, σ²) noise to each token's k dims of largest magnitude."""
    where = _top_k_mask(embeds.abs(), mask, _n(dims, embeds.shape[-1]))
    return _add_where(embeds, where, _scaled_noise(embeds, strength, generator))


@register("zero_out_first_n", uses_strength=False, uses_dims=True)
def zero_out_first_n(embeds, mask, strength, dims, generator):
    """Set the first n dims to zero."""
    return embeds.masked_fill(_first_n_mask(embeds, mask, dims), 0.0)


@register("zero_out_top_k", uses_strength=False, uses_dims=True)
def zero_out_top_k(embeds, mask, strength, dims, generator):
    """Set each token's k dims of largest magnitude to zero."""
    return embeds.masked_fill(_top_k_mask(embeds.abs(), mask, _n(dims, embeds.shape[-1])), 0.0)


@register("flip_sign_first_n", uses_strength=False, uses_dims=True)
def flip_sign_first_n(embeds, mask, strength, dims, generator):
    """Negate the first n dims (n = d negates the whole vector)."""
    return _negate_where(embeds, _first_n_mask(embeds, mask, dims))


@register("flip_sign_top_k", uses_strength=False, uses_dims=True)
def flip_sign_top_k(embeds, mask, strength, dims, generator):
    """Negate each token's k dims of largest magnitude (the paper's TOFU Sign-Flip with k = d)."""
    return _negate_where(embeds, _top_k_mask(embeds.abs(), mask, _n(dims, embeds.shape[-1])))


@register("add_value_first_n", uses_strength=True, uses_dims=True)
def add_value_first_n(embeds, mask, strength, dims, generator):
    """Add the constant σ to the first n dims."""
    return _add_where(embeds, _first_n_mask(embeds, mask, dims), strength)


@register("sub_value_top_k", uses_strength=True, uses_dims=True)
def sub_value_top_k(embeds, mask, strength, dims, generator):
    """Subtract the constant σ from each token's k largest (signed) values."""
    where = _top_k_mask(embeds, mask, _n(dims, embeds.shape[-1]))
    return _add_where(embeds, where, -strength)


def _permute_masked(embeds: torch.Tensor, mask: torch.Tensor, order_fn) -> torch.Tensor:
    out = embeds.clone()
    for b in range(embeds.shape[0]):
        pos = mask[b].nonzero().squeeze(-1)
        if pos.numel() > 1:
            out[b, pos] = embeds[b, pos[order_fn(pos.numel())]]
    return out


@register("reverse", uses_strength=False, uses_dims=False)
def reverse(embeds, mask, strength, dims, generator):
    """Reverse the order of the masked tokens within each sequence (padding and other rows untouched)."""
    return _permute_masked(embeds, mask, lambda n: torch.arange(n - 1, -1, -1, device=embeds.device))


@register("shuffle", uses_strength=False, uses_dims=False)
def shuffle(embeds, mask, strength, dims, generator):
    """Randomly permute the masked tokens within each sequence (padding and other rows untouched)."""
    return _permute_masked(embeds, mask, lambda n: torch.randperm(n, generator=generator, device=embeds.device))


@register("substitute", uses_strength=False, uses_dims=False, uses_donors=True)
def substitute(embeds, mask, strength, dims, generator, donors):
    """Put another word in place of each masked token: the same stand-in for the same token everywhere.

    With the target's names selected (``--select entities``), "Where was Norma Fisher born?" reads as a
    question about some name the model never heard of: what a model that never saw Norma Fisher sees. The
    donors are name-like words of the vocabulary (``PromptEncoder.donor_embeddings``). The stand-in of a
    token is a fixed function of the token (a hash of its embedding), not a draw: the question and each
    scored answer, scored as separate sequences, all speak of the same stranger. Nothing is added off the
    embedding manifold, so answers stay fluent."""
    out = embeds.clone()
    where = mask.nonzero(as_tuple=True)
    if where[0].numel() == 0:
        return out
    rows = embeds[where].float()
    # a stable integer per distinct embedding: its values, quantised, mixed by fixed odd weights
    weights = torch.arange(1, rows.shape[-1] + 1, device=rows.device, dtype=torch.float64) * 2654435761 % 1000003
    key = ((rows.double() * 1e4).round() * weights).sum(-1).abs().long()
    out[where] = donors[key % donors.shape[0]].to(device=embeds.device, dtype=embeds.dtype)
    return out
