"""ECOModel: a causal LM behind Embedding-COrrupted prompts.

:class:`~eco_unlearn.core.encoder.PromptEncoder` decides, selects and corrupts; this class adds the local
LM that runs on the corrupted ``inputs_embeds``: generation, teacher-forced scoring and cloze choice.
A batch in which nothing is flagged runs on ``input_ids`` exactly as the plain model would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from eco_unlearn.core.encoder import Plan, Prompt, PromptEncoder, _id_list
from eco_unlearn.core.models import DEFAULT_MODEL, load_model
from eco_unlearn.core.target import ForgetTarget


@dataclass
class Generation:
    text: str
    flagged: list[str]
    corrupted_tokens: int
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    """"stop" (end of sequence) or "length" (max_new_tokens reached)."""
    p_forget: dict[str, float] = field(default_factory=dict)


@dataclass
class Choice:
    index: int
    scores: list[float]
    flagged: list[str]


@dataclass
class PromptLogprobs:
    """What the model says about a prompt's own tokens and the token after it (OpenAI ``echo`` +
    ``logprobs``), computed on the prompt as planned: corrupted where the plan says."""

    logprobs: list[float]
    """log p(ids[i] | ids[:i]) for i = 1 .. n-1 (the first token has no context)."""
    top: list[list[tuple[int, float]]]
    """The ``top`` most likely (token, log-prob) at each of those positions, best first."""
    next_logprobs: torch.Tensor
    """(vocab,) log-distribution of the token after the prompt."""


class ECOModel(PromptEncoder):
    """Wraps a Hugging Face causal LM, its (fast) tokenizer and a list of forget targets."""

    def __init__(self, model, tokenizer, targets: Sequence[ForgetTarget] = (), *, seed: int = 0):
        eos = model.generation_config.eos_token_id if model.generation_config else None
        super().__init__(
            tokenizer,
            model.get_input_embeddings(),
            targets,
            seed=seed,
            eos_ids=_id_list(eos),
            max_context=getattr(model.config, "max_position_embeddings", None),
        )
        self.model = model.eval()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_MODEL,
        targets: Sequence[ForgetTarget] = (),
        *,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        **kw,
    ) -> ECOModel:
        """Load a model (``device``: cpu, cuda, cuda:N, mps or auto; ``dtype``: float32, bfloat16 or
        float16; defaults from ``$ECO_DEVICE`` / ``$ECO_DTYPE``, else the CPU in float32)."""
        model, tok = load_model(name_or_path, device=device, dtype=dtype)
        return cls(model, tok, targets, **kw)

    # --- public API ------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        prompts: Prompt | Sequence[Prompt],
        *,
        max_new_tokens: int = 64,
        chat: bool | None = None,
        batch_size: int = 8,
        seed: int | None = None,
        targets: Sequence[str] | None = None,
        **generate_kwargs,
    ) -> list[Generation]:
        """Greedy (by default) generation for one prompt or a list; always returns a list.

        A prompt is a string (wrapped in the chat template when the model has one, unless ``chat=False``)
        or a list of ``{"role", "content"}`` messages. ``targets`` narrows the active targets by name.
        Extra keyword arguments go to ``model.generate`` (e.g. ``do_sample=True, temperature=0.7``).
        """
        plans = self.prepare(prompts, chat=chat, max_new_tokens=max_new_tokens, targets=targets)
        out: list[Generation] = []
        for i in range(0, len(plans), batch_size):
            chunk = plans[i : i + batch_size]
            rows = self.generate_plans(chunk, max_new_tokens=max_new_tokens, seed=seed, **generate_kwargs)
            out += [self._finish(p, row) for p, row in zip(chunk, rows)]
        return out

    @torch.no_grad()
    def generate_plans(
        self, plans: list[Plan], *, max_new_tokens: int, seed: int | None = None, **generate_kwargs
    ) -> list[list[int]]:
        """The new token ids of each planned prompt, run as one batch (the gateway's batcher calls this).

        Finished rows are padded by ``model.generate``; :meth:`_finish` cuts them at the first EOS.
        """
        seed = self.seed if seed is None else seed
        kwargs = {"do_sample": False, "pad_token_id": self.pad_id, **generate_kwargs}
        ids, attn, starts = self._pad(plans, left=True)
        if any(p.corrupted for p in plans):
            embeds = self._embeds(ids, plans, starts, seed)
            new = self.model.generate(
                inputs_embeds=embeds, attention_mask=attn, max_new_tokens=max_new_tokens, **kwargs
            )
        else:
            new = self.model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=max_new_tokens, **kwargs)
            new = new[:, ids.shape[1] :]
        return new.tolist()

    def _finish(self, plan: Plan, tokens: list[int]) -> Generation:
        stop = next((j for j, t in enumerate(tokens) if t in self.eos_ids), None)
        kept = tokens if stop is None else tokens[:stop]
        return Generation(
            text=self.tokenizer.decode(kept, skip_special_tokens=True),
            flagged=[t.name for t in plan.decision.flagged],
            corrupted_tokens=sum(plan.mask) if plan.corrupted else 0,
            prompt_tokens=len(plan.seg.ids),
            completion_tokens=len(kept),
            finish_reason="length" if stop is None else "stop",
            p_forget=plan.decision.p_forget,
        )

    def score_batch(self, pairs: Sequence[tuple[Prompt, str]], **kw) -> list[torch.Tensor]:
        """Per-token log-probs of each continuation given its prompt (teacher forcing).

        The gates read the prompt only; whether the continuation's own embeddings are corrupted is each
        target's ``selection.corrupt_answer``. Keywords: ``chat`` (default False), ``batch_size``,
        ``seed``, ``targets``.
        """
        return self._score(pairs, **kw)[0]

    @torch.no_grad()
    def _score(
        self,
        pairs: Sequence[tuple[Prompt, str]],
        *,
        chat: bool = False,
        batch_size: int = 16,
        seed: int | None = None,
        targets: Sequence[str] | None = None,
    ) -> tuple[list[torch.Tensor], list[Plan]]:
        segs = [self.encode_pair(p, c, chat=chat) for p, c in pairs]
        for s in segs:
            self.check_length(len(s.ids))
        plans = self.plan(segs, self.active_targets(targets))
        seed = self.seed if seed is None else seed
        out: list[torch.Tensor] = []
        for i in range(0, len(plans), batch_size):
            chunk = plans[i : i + batch_size]
            ids, attn, starts = self._pad(chunk, left=False)  # right padding: positions start at 0 for all rows
            # Only the positions that predict a continuation token need logits: with a 262k vocabulary
            # (Gemma 3) the full (batch, seq, vocab) tensor dominates the cost of scoring.
            first = min(p.seg.prompt_len for p in chunk) - 1
            keep = torch.arange(first, max(len(p.seg.ids) for p in chunk) - 1, device=ids.device)
            logits = self._logits(chunk, ids, attn, starts, seed, logits_to_keep=keep)
            for b, p in enumerate(chunk):
                n, k = len(p.seg.ids), p.seg.prompt_len
                lp = torch.log_softmax(logits[b, k - 1 - first : n - 1 - first].float(), dim=-1)
                out.append(lp.gather(-1, ids[b, k:n, None]).squeeze(-1).cpu())
        return out, plans

    @torch.no_grad()
    def prompt_logprobs(self, plans: Sequence[Plan], top: int = 0, seed: int | None = None) -> list[PromptLogprobs]:
        """Log-probs of every token of each planned prompt given the tokens before it, and of the next token.

        One prompt per forward pass: all positions need the full vocabulary here, and (seq, vocab) of a
        long prompt is already large. The corruption is the one generation would use (same plan, same
        per-sequence seed), so a flagged prompt scores as it would prompt."""
        seed = self.seed if seed is None else seed
        out = []
        for plan in plans:
            ids, attn, starts = self._pad([plan], left=False)
            lp = torch.log_softmax(self._logits([plan], ids, attn, starts, seed)[0].float(), dim=-1)
            own = lp[:-1].gather(-1, ids[0, 1:, None]).squeeze(-1)
            best: list[list[tuple[int, float]]] = [[] for _ in range(len(own))]
            if top:
                values, indices = lp[:-1].topk(top, dim=-1)
                best = [list(zip(i, v)) for i, v in zip(indices.tolist(), values.tolist())]
            out.append(PromptLogprobs(own.tolist(), best, lp[-1].cpu()))
        return out

    def _logits(self, plans: list[Plan], ids, attn, starts: list[int], seed: int, **kw) -> torch.Tensor:
        """The LM's logits for padded planned rows: on the corrupted embeddings when any row is corrupted,
        else on the ids as the plain model would run."""
        if any(p.corrupted for p in plans):
            embeds = self._embeds(ids, plans, starts, seed)
            return self.model(inputs_embeds=embeds, attention_mask=attn, **kw).logits
        return self.model(input_ids=ids, attention_mask=attn, **kw).logits

    def score(self, prompt: Prompt, continuation: str, **kw) -> torch.Tensor:
        return self.score_batch([(prompt, continuation)], **kw)[0]

    def choose_batch(
        self,
        items: Sequence[tuple[Prompt, Sequence[str]]],
        *,
        reduction: str = "mean",
        **kw,
    ) -> list[Choice]:
        """Cloze multiple choice: each option is scored as a continuation of the prompt.

        ``reduction`` is "mean" (mean token log-prob, the paper's choice_by_top_prob) or "sum". A space is
        put between prompt and option unless one of them already has it.
        """
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        pairs, sizes = [], []
        for prompt, options in items:
            if len(options) < 2:
                raise ValueError("a multiple-choice item needs at least two options")
            sep = "" if isinstance(prompt, list) or prompt[-1:].isspace() else " "
            pairs += [(prompt, o if o[:1].isspace() else sep + o) for o in options]
            sizes.append(len(options))
        lps, plans = self._score(pairs, **kw)
        out, j = [], 0
        for size in sizes:
            scores = [float(lp.mean() if reduction == "mean" else lp.sum()) for lp in lps[j : j + size]]
            out.append(Choice(int(np.argmax(scores)), scores, [t.name for t in plans[j].decision.flagged]))
            j += size
        return out

    def choose(self, prompt: Prompt, options: Sequence[str], **kw) -> Choice:
        return self.choose_batch([(prompt, options)], **kw)[0]
