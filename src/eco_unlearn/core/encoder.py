"""PromptEncoder: everything ECO does before the LM runs (tokenise, gate, select, corrupt).

For every prompt, each active target's gate decides whether it is in scope. For flagged prompts the token
embeddings picked by the targets' selections are corrupted, and the model runs on ``inputs_embeds``;
only the prefill is corrupted (tokens generated afterwards go through the embedding table as usual).
A batch in which nothing is flagged runs on ``input_ids`` exactly as the plain model would, so unflagged
generation is bit-identical to the model without ECO and pays no embedding overhead (scoring keeps only the
logits it needs, which matches the full computation to fp32 rounding).

Noise is seeded per sequence from ``(seed, token ids)``: a prompt gets the same corruption whatever batch
it is in, and two σ values see the same standard-normal draw (common random numbers for the σ search).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch

from eco_unlearn.core.corruptions import apply_corruption, get_corruption
from eco_unlearn.core.models import DEFAULT_MODEL
from eco_unlearn.core.selection import Segment, select_tokens
from eco_unlearn.core.target import CorruptionSpec, ForgetTarget, gate_scores, target_set

Message = dict[str, str]
Prompt = str | list[Message]


@dataclass
class Decision:
    """What the gates said about one prompt: every target's p_forget and the targets that flagged it."""

    names: list[str]
    scores: np.ndarray
    """p_forget of each target, in the order of ``names``."""
    flagged: list[ForgetTarget]

    @cached_property
    def p_forget(self) -> dict[str, float]:
        """Target name -> p_forget. Built when read: with 100 targets, a dict per prompt would cost more
        than the names-only gates that scored it."""
        return dict(zip(self.names, self.scores.tolist()))


@dataclass
class Plan:
    """How one sequence is corrupted: the union mask of its flagged targets and the strongest corruption."""

    seg: Segment
    decision: Decision
    mask: list[bool]
    corruption: CorruptionSpec | None

    @property
    def corrupted(self) -> bool:
        return self.corruption is not None and any(self.mask)


def _strength_key(t: ForgetTarget, d: int) -> tuple[float, int]:
    c = t.corruption
    return (c.strength, d if c.dims is None else c.dims)


def _row_seed(seed: int, ids: list[int]) -> int:
    crc = zlib.crc32(np.asarray(ids, dtype=np.int64).tobytes())
    return (seed * 0x9E3779B1 + crc) % (2**63)


def decide(gate_texts: list[list[str]], targets: Sequence[ForgetTarget]) -> list[Decision]:
    """Run every gate once over all texts; a prompt is flagged when any of its gate texts is (each user
    message, and for a multi-turn chat the whole conversation). Vectorised over targets: with 100 targets
    the bookkeeping must not cost more than the gates."""
    ts = target_set(targets)
    flat = [t for texts in gate_texts for t in texts]
    position = {t: i for i, t in enumerate(dict.fromkeys(flat))}  # cloze repeats a prompt per option: score once
    scores = gate_scores(ts, list(position)) if flat else np.zeros((len(ts.targets), 0))
    if len(position) == len(gate_texts) == len(flat):
        p = scores  # one distinct gate text per prompt (the gateway's common case): already in prompt order
    else:
        p = np.zeros((len(ts.targets), len(gate_texts)))  # a prompt's p: the max over its gate texts
        for k, texts in enumerate(gate_texts):
            if texts:
                p[:, k] = scores[:, [position[t] for t in texts]].max(axis=1)
    # with 100 targets numpy's fancy indexing and flatnonzero per prompt cost more than a names-only gate:
    # one comparison, and each prompt's column read as a row of the transpose
    flagged = (p >= ts.thresholds[:, None]).T
    return [
        Decision(ts.names, p[:, k], [ts.targets[i] for i in row.nonzero()[0].tolist()]) for k, row in enumerate(flagged)
    ]


class PromptEncoder:
    """Tokenizer, input-embedding table and forget targets: everything ECO does before the LM runs.

    The vLLM gateway uses it on its own (the LM runs in another process; only the embedding table is kept
    here), and :class:`ECOModel` adds a local LM on top.
    """

    def __init__(
        self,
        tokenizer,
        embedding: torch.nn.Module,
        targets: Sequence[ForgetTarget] = (),
        *,
        seed: int = 0,
        eos_ids: Sequence[int] = (),
        max_context: int | None = None,
    ):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("ECO needs a fast tokenizer (character offsets are used to select tokens)")
        self.tokenizer = tokenizer
        self.embedding = embedding
        self.targets: list[ForgetTarget] = list(targets)
        self.seed = seed
        self.eos_ids: set[int] = set(eos_ids or [tokenizer.eos_token_id]) - {None}
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else min(self.eos_ids, default=0)
        self.max_context = max_context
        self.hidden_size: int = embedding.weight.shape[1]

    @classmethod
    def from_pretrained(
        cls, name_or_path: str = DEFAULT_MODEL, targets: Sequence[ForgetTarget] = (), **kw
    ) -> PromptEncoder:
        """Tokenizer and embedding table only (a few MB), read from the model's safetensors files."""
        from eco_unlearn.core.models import load_embedding

        tok, embedding, config = load_embedding(name_or_path)
        return cls(
            tok,
            embedding,
            targets,
            eos_ids=_id_list(config.get("eos_token_id")),
            max_context=config.get("max_position_embeddings"),
            **kw,
        )

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    # --- encoding --------------------------------------------------------------------------------------

    def encode(self, prompt: Prompt, *, chat: bool | None = None) -> Segment:
        """Tokenise a prompt exactly as the model will see it, remembering where the user's text is."""
        chat = self.has_chat_template if chat is None else chat
        if isinstance(prompt, str):
            if not prompt.strip():
                raise ValueError("empty prompt")
            if not chat:
                enc = self.tokenizer(prompt, add_special_tokens=True, return_offsets_mapping=True)
                return Segment(
                    prompt,
                    list(enc.input_ids),
                    [tuple(o) for o in enc.offset_mapping],
                    [(0, len(prompt))],
                    len(enc.input_ids),
                    [prompt],
                )
            prompt = [{"role": "user", "content": prompt}]
        messages = _validate_messages(prompt)
        if not self.has_chat_template:
            raise ValueError("this model has no chat template: pass a plain string prompt")
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        spans, users, cursor = [], [], 0
        for m in messages:
            # Templates may strip the content; look for it verbatim first, then stripped.
            found = [(text.find(n, cursor), n) for n in (m["content"], m["content"].strip()) if n]
            start, needle = next(((i, n) for i, n in found if i >= 0), (-1, ""))
            if start < 0:
                continue
            cursor = start + len(needle)
            if m["role"] == "user":
                spans.append((start, cursor))
                users.append(m["content"])
        conversation = conversation_text(messages)
        if conversation:
            users.append(conversation)
        return Segment(
            text, list(enc.input_ids), [tuple(o) for o in enc.offset_mapping], spans, len(enc.input_ids), users
        )

    def encode_ids(self, ids: Sequence[int], prompt_len: int | None = None) -> Segment:
        """A prompt given as token ids (what lm-eval sends): the model sees exactly these ids, no special
        token added, and the gates read their decoded text. A token's character span is where its decoded
        text falls in the decoded prompt, so entity selection works as for a text prompt.

        ``prompt_len``: only the first ``prompt_len`` tokens are the prompt (the gates read them, the
        selection picks among them); the rest is a continuation to score, as :meth:`encode_pair` makes."""
        ids = list(ids)
        if not ids:
            raise ValueError("empty prompt")
        prompt_len = len(ids) if prompt_len is None else prompt_len
        if not 0 < prompt_len <= len(ids):
            raise ValueError(f"prompt_len must be in 1..{len(ids)}, got {prompt_len}")
        vocab = self.embedding.weight.shape[0]
        bad = [i for i in ids if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < vocab]
        if bad:
            raise ValueError(f"token id {bad[0]!r} is not in the model's vocabulary (0..{vocab - 1})")
        pieces = token_texts(self.tokenizer, ids)
        offsets, cursor = [], 0
        for piece in pieces:
            offsets.append((cursor, cursor + len(piece)))
            cursor += len(piece)
        text = "".join(pieces)
        prompt = text[: offsets[prompt_len - 1][1]]
        if not prompt.strip():
            raise ValueError("empty prompt: the token ids decode to blank text")
        return Segment(text, ids, offsets, [(0, len(prompt))], prompt_len, [prompt])

    def encode_pair(self, prompt: Prompt, continuation: str, *, chat: bool = False) -> Segment:
        """Prompt and continuation tokenised separately and concatenated (no BPE merge across the boundary)."""
        if not continuation:
            raise ValueError("empty continuation")
        seg = self.encode(prompt, chat=chat)
        enc = self.tokenizer(continuation, add_special_tokens=False, return_offsets_mapping=True)
        if not enc.input_ids:
            raise ValueError(f"continuation {continuation!r} has no tokens")
        shift = len(seg.text)
        seg.text += continuation
        seg.ids += list(enc.input_ids)
        seg.offsets += [(s + shift, e + shift) for s, e in enc.offset_mapping]
        return seg

    # --- deciding and planning -------------------------------------------------------------------------

    def active_targets(self, names: Sequence[str] | None = None) -> list[ForgetTarget]:
        if names is None:
            return self.targets
        known = {t.name: t for t in self.targets}
        missing = [n for n in names if n not in known]
        if missing:
            raise ValueError(f"unknown target(s): {', '.join(missing)}; loaded: {', '.join(known) or 'none'}")
        return [known[n] for n in names]

    def decide(self, gate_texts: list[list[str]], targets: Sequence[ForgetTarget] | None = None) -> list[Decision]:
        return decide(gate_texts, self.targets if targets is None else targets)

    def plan(self, segs: list[Segment], targets: Sequence[ForgetTarget] | None = None) -> list[Plan]:
        plans = []
        for seg, decision in zip(segs, self.decide([s.gate_texts for s in segs], targets)):
            mask = [False] * len(seg.ids)
            for t in decision.flagged:
                sel = select_tokens(
                    seg, t.selection.mode, entities=t.entities, corrupt_answer=t.selection.corrupt_answer
                )
                mask = [a or b for a, b in zip(mask, sel)]
            strongest = max(decision.flagged, key=lambda t: _strength_key(t, self.hidden_size), default=None)
            plans.append(Plan(seg, decision, mask, strongest.corruption if strongest else None))
        return plans

    def _pad(self, plans: list[Plan], left: bool) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        width = max(len(p.seg.ids) for p in plans)
        ids = torch.full((len(plans), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(plans), width), dtype=torch.long)
        starts = []
        for b, p in enumerate(plans):
            n = len(p.seg.ids)
            s = width - n if left else 0
            ids[b, s : s + n] = torch.tensor(p.seg.ids)
            attn[b, s : s + n] = 1
            starts.append(s)
        return ids.to(self.device), attn.to(self.device), starts

    def _embeds(self, ids: torch.Tensor, plans: list[Plan], starts: list[int], seed: int) -> torch.Tensor:
        embeds = self.embedding(ids)
        for b, p in enumerate(plans):
            if not p.corrupted:
                continue
            n, s, c = len(p.seg.ids), starts[b], p.corruption
            gen = torch.Generator(device=embeds.device).manual_seed(_row_seed(seed, p.seg.ids))
            mask = torch.tensor(p.mask, device=embeds.device)[None]
            # the corruption is computed in float32 (a bfloat16 σ·noise or sign flip of a small value loses
            # most of its precision) and cast back to the model's dtype
            donors = self.donor_embeddings() if get_corruption(c.name).uses_donors else None
            row = apply_corruption(
                c.name, embeds[b : b + 1, s : s + n].float(), mask, c.strength, c.dims, gen, donors=donors
            )
            embeds[b, s : s + n] = row[0]  # the cast to the model's dtype happens in this one copy
        return embeds

    def donor_embeddings(self) -> torch.Tensor:
        """[N, d] float32 embeddings of name-like words of the vocabulary (a capital letter then at least two
        lower-case letters, as a word of its own: " Kevin", " Arnold"): what ``substitute`` puts in place of
        a target's names. Computed once."""
        if getattr(self, "_donors", None) is None:
            ids = _name_like_ids(self.tokenizer, min(self.embedding.weight.shape[0], len(self.tokenizer)))
            if not ids:
                raise ValueError("the vocabulary has no name-like word to substitute")
            with torch.no_grad():
                self._donors = self.embedding(torch.tensor(ids, device=self.device)).float()
        return self._donors

    def prepare(
        self,
        prompts: Prompt | Sequence[Prompt],
        *,
        chat: bool | None = None,
        max_new_tokens: int = 64,
        targets: Sequence[str] | Sequence[ForgetTarget] | None = None,
    ) -> list[Plan]:
        """Encode, length-check and plan one prompt or a list (``targets``: names, or ForgetTarget objects)."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        batch = [prompts] if isinstance(prompts, str) or _is_messages(prompts) else list(prompts)
        segs = [self.encode(p, chat=chat) for p in batch]
        for s in segs:
            self.check_length(len(s.ids), max_new_tokens)
        if targets is not None and not any(isinstance(t, str) for t in targets):
            active = list(targets)
        else:
            active = self.active_targets(targets)
        return self.plan(segs, active) if segs else []

    @torch.no_grad()
    def prompt_embeds(self, plan: Plan, seed: int | None = None) -> torch.Tensor:
        """The (seq, hidden) input embeddings of one planned prompt, corrupted where the plan says."""
        ids, _, starts = self._pad([plan], left=True)
        return self._embeds(ids, [plan], starts, self.seed if seed is None else seed)[0]

    def check_length(self, n_tokens: int, extra: int = 0) -> None:
        if self.max_context is not None and n_tokens + extra > self.max_context:
            raise ValueError(
                f"prompt of {n_tokens} tokens + {extra} new tokens exceeds the model's context of {self.max_context}"
            )


def conversation_text(messages: list[Message]) -> str | None:
    """The turns of a multi-turn chat joined (system prompt left out), for the gates to read whole: a
    follow-up ("Where was she born?") is in scope when an earlier turn, the assistant's included, named the
    target. ``None`` for a single turn (its user message is scored on its own already)."""
    turns = [m["content"] for m in messages if m["role"] != "system" and m["content"].strip()]
    return "\n".join(turns) if len(turns) > 1 else None


def gate_texts_of(prompt: Prompt) -> list[str]:
    """What the gates read for a prompt, without tokenising it: the raw prompt, or each user message plus
    the whole conversation (as :meth:`PromptEncoder.encode` records it)."""
    if isinstance(prompt, str):
        return [prompt]
    messages = _validate_messages(prompt)
    conversation = conversation_text(messages)
    return [m["content"] for m in messages if m["role"] == "user"] + ([conversation] if conversation else [])


@lru_cache(maxsize=8)
def _name_like_ids(tokenizer, vocab: int) -> tuple[int, ...]:
    """Ids of whole words that look like names (" Kevin"); decoding the vocabulary takes a moment, so once
    per tokenizer."""
    words = re.compile(r"^ [A-Z][a-z]{2,}$")
    return tuple(i for i in range(vocab) if words.match(tokenizer.decode([i])))


def token_texts(tokenizer, ids: Sequence[int]) -> list[str]:
    """Each token's text, such that the pieces join to the decoded sequence (the ``tokens`` and
    ``text_offset`` of OpenAI log-probs). A character split over several byte-level tokens goes to the
    token that completes it. Each token is decoded in a window of the 8 before it (a
    whole-prefix decode per token would be quadratic)."""
    out = []
    for k in range(1, len(ids) + 1):
        start = max(0, k - 8)
        text = tokenizer.decode(ids[start:k], skip_special_tokens=False)
        prev = tokenizer.decode(ids[start : k - 1], skip_special_tokens=False) if k - 1 > start else ""
        done = prev.rstrip("\ufffd")  # what the earlier tokens completed
        piece = text[len(done) :] if text.startswith(done) else text[len(prev) :]
        out.append(piece.rstrip("\ufffd"))
    return out


def _id_list(ids: int | list[int] | None) -> list[int]:
    """HF configs give EOS as one id, a list of ids, or nothing."""
    return [] if ids is None else list(ids) if isinstance(ids, list) else [ids]


def _is_messages(x) -> bool:
    return isinstance(x, list) and bool(x) and all(isinstance(m, dict) for m in x)


def _validate_messages(messages) -> list[Message]:
    if not _is_messages(messages):
        raise ValueError("a chat prompt must be a non-empty list of {'role', 'content'} messages")
    out = []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise ValueError(f"bad chat message {m!r}: need role system/user/assistant and string content")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "user" and m["content"].strip() for m in out):
        raise ValueError("empty prompt: no non-empty user message")
    return out
