"""Corrupting inside vLLM, so that only the selection travels (``eco serve`` uses it when vLLM has it).

A flagged prompt sent as ``prompt_embeds`` carries tokens × hidden numbers: 22 MB in bfloat16 for 2,048
tokens at hidden 4096, which vLLM must parse and which bypass its prefix cache. For a corruption that is a
fixed function of each token's embedding (a sign flip or zeroing of its first-n or top-k dims: no σ, no
noise draw), the gateway can instead send the prompt's *token ids*, each selected id shifted past the
vocabulary by a code that names the corruption::

    id + V * slot,   slot = 1 + family * (d + 1) + k      (V: vocabulary rows, d: hidden size, k: dims)

This module is both ends. :func:`shift_ids` builds the ids in the gateway. :func:`register`, a vLLM
general plugin (entry point ``vllm.general_plugins``, loaded in each vLLM process when ``eco-unlearn`` is
installed next to vLLM: ``scripts/setup_vllm.sh`` does it), makes vLLM read them: the input embedding
embeds ``id mod V`` and corrupts the shifted positions with the same functions as the ``hf`` backend
(``core/corruptions.py``), and the front end accepts the shifted ids. Ids that name no corruption are
refused with a 400. An unshifted id takes the unchanged path, so the plugin leaves clean traffic alone.

A shifted id must fit vLLM's int32 token ids: every family fits up to a Llama-3-8B's vocabulary and width
(``V * (4d + 6) < 2**31``), the first families further. :func:`slot_for` says ``None`` for a code that does
not fit, and for the noise families, whose draws the ids cannot carry: the gateway then sends embeddings.
Nothing here imports vLLM or the rest of the package at module level: the gateway imports the encoding,
vLLM's processes the plugin.
"""

from __future__ import annotations

import logging

import torch

from eco_unlearn.core.corruptions import apply_corruption

INLINE_FAMILIES: tuple[str, ...] = ("flip_sign_first_n", "flip_sign_top_k", "zero_out_first_n", "zero_out_top_k")
"""Corruptions that are a fixed function of a token's embedding and their dims: what an id can name."""
MAX_TOKEN_ID = 2**31 - 1
"""vLLM keeps token ids in int32."""

log = logging.getLogger(__name__)


def slot_for(name: str, dims: int | None, vocab: int, hidden: int) -> int | None:
    """The shift code of a corruption (``None``: it cannot travel as ids, send embeddings)."""
    if name not in INLINE_FAMILIES:
        return None
    k = hidden if dims is None else dims
    if not 1 <= k <= hidden:
        raise ValueError(f"dims must be in [1, {hidden}] or None (all), got {dims}")
    slot = 1 + INLINE_FAMILIES.index(name) * (hidden + 1) + k
    return slot if vocab * (slot + 1) - 1 <= MAX_TOKEN_ID else None


def decode_slot(slot: int, hidden: int) -> tuple[str, int] | None:
    """The (family, k) a shift code names, or ``None`` when it names none."""
    family, k = divmod(slot - 1, hidden + 1)
    if slot < 1 or family >= len(INLINE_FAMILIES) or k < 1:
        return None
    return INLINE_FAMILIES[family], k


def shift_ids(ids: list[int], mask: list[bool], slot: int, vocab: int) -> list[int]:
    """The ids as vLLM reads them: each selected id shifted by ``vocab * slot``."""
    if len(ids) != len(mask):
        raise ValueError(f"{len(ids)} ids but {len(mask)} mask entries")
    if any(not 0 <= t < vocab for t in ids):
        raise ValueError(f"token ids must be in [0, {vocab})")
    return [t + vocab * slot if m else t for t, m in zip(ids, mask)]


def corrupt_shifted(embeds: torch.Tensor, slots: torch.Tensor, hidden: int) -> torch.Tensor:
    """(n, d) embeddings of ``id mod V`` with each shifted position corrupted as its slot says; the other
    rows bit for bit. In float32, cast back, as the ``hf`` backend does."""
    out = embeds.float()[None]
    for slot in torch.unique(slots[slots > 0]).tolist():
        named = decode_slot(int(slot), hidden)
        if named is None:  # the front end refuses such ids; a direct engine call should not get here
            raise ValueError(f"token id shift {slot} names no corruption")
        out = apply_corruption(named[0], out, (slots == slot)[None], dims=named[1])
    return out[0].to(embeds.dtype)


def _patch_embedding(model: torch.nn.Module) -> bool:
    """Make the model's input embedding read shifted ids (its ``forward`` wrapped on the instance, so the
    module, its weights and their names stay as vLLM loaded them)."""
    from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding

    found = [m for m in model.modules() if isinstance(m, VocabParallelEmbedding) and not isinstance(m, ParallelLMHead)]
    if len(found) != 1:
        log.warning("eco-unlearn: %d input embeddings found, corruption in vLLM is off", len(found))
        return False
    emb = found[0]
    vocab, hidden, plain = int(emb.num_embeddings), int(emb.embedding_dim), emb.forward

    def forward(input_ids: torch.Tensor) -> torch.Tensor:
        slots = torch.div(input_ids, vocab, rounding_mode="floor")
        if not bool(slots.any()):  # clean traffic: one division and one test
            return plain(input_ids)
        return corrupt_shifted(plain(input_ids - slots * vocab), slots, hidden)

    emb.forward = forward
    return True


def _patch_validation() -> None:
    """The front end checks prompt ids against the vocabulary; accept a shifted id that names a corruption
    (and check the id under it), refuse any other out-of-vocabulary id as before."""
    from vllm.exceptions import VLLMValidationError
    from vllm.renderers.base import BaseRenderer

    plain = BaseRenderer.validate_token_ids

    def validate_token_ids(self, token_ids, *, parameter=None):
        vocab = self.model_config.get_vocab_size()
        if token_ids and max(token_ids) >= vocab:
            hidden = self.model_config.get_hidden_size()
            for t in token_ids:
                if t >= vocab and decode_slot(t // vocab, hidden) is None:
                    raise VLLMValidationError(f"Token id {t} is out of vocabulary", parameter=parameter)
            token_ids = [t % vocab for t in token_ids]
        return plain(self, token_ids, parameter=parameter)

    BaseRenderer.validate_token_ids = validate_token_ids


def register() -> None:
    """vLLM's general-plugin hook (every vLLM process, possibly more than once): patch the model loader so
    each loaded model's input embedding reads shifted ids, and the front end's id check."""
    from vllm.model_executor.model_loader.base_loader import BaseModelLoader

    if getattr(BaseModelLoader.load_model, "_eco_unlearn", False):
        return
    plain = BaseModelLoader.load_model

    def load_model(self, vllm_config, model_config, prefix: str = ""):
        model = plain(self, vllm_config=vllm_config, model_config=model_config, prefix=prefix)
        if _patch_embedding(model):
            log.info("eco-unlearn: corruption in vLLM is on (shifted token ids)")
        return model

    load_model._eco_unlearn = True  # type: ignore[attr-defined]
    BaseModelLoader.load_model = load_model
    _patch_validation()
