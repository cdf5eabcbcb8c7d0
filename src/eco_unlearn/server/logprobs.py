"""OpenAI-shaped log-probs of a scored completion (``echo`` / ``logprobs`` on ``/v1/completions``).

lm-eval's ``local-completions`` model computes a log-likelihood by sending context + continuation as one
prompt with ``echo=true, logprobs=1, max_tokens=1`` and summing ``token_logprobs`` over the continuation
(all but the last entry, which is the generated token); ``top_logprobs`` tells it whether the
continuation is the greedy one. This module turns the model's numbers (``PromptLogprobs``) into that
legacy shape: ``tokens``, ``token_logprobs``, ``top_logprobs`` and ``text_offset``, the first prompt
token having no log-prob (``None``), as OpenAI and vLLM give it.
"""

from __future__ import annotations

import torch

from eco_unlearn.core.ecomodel import PromptLogprobs
from eco_unlearn.core.encoder import Plan, token_texts


def next_token(next_logprobs: torch.Tensor, temperature: float, top_p: float, seed: int | None) -> int:
    """The one generated token of a scoring request: the argmax at temperature 0, else a draw."""
    if temperature == 0.0:
        return int(next_logprobs.argmax())
    probs = torch.softmax(next_logprobs / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        outside = sorted_p.cumsum(0) - sorted_p >= top_p  # keep the smallest set reaching top_p
        probs = probs.clone()
        probs[order[outside]] = 0.0
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return int(torch.multinomial(probs, 1, generator=gen))


def scored_choice(
    index: int,
    plan: Plan,
    scores: PromptLogprobs,
    tokenizer,
    *,
    echo: bool,
    top: int | None,
    generated: int | None,
    eos_ids: set[int],
) -> dict:
    """One ``choices`` entry: the echoed prompt (if ``echo``), the generated token (if any), and their
    log-probs when ``top`` (the request's ``logprobs``) is not None."""
    ids = list(plan.seg.ids) if echo else []
    pieces = token_texts(tokenizer, ids) if echo else []
    logprobs: list[float | None] = ([None] + list(scores.logprobs)) if echo else []
    tops: list[list[tuple[int, float]]] = ([[]] + scores.top) if echo else []
    finish = "length"
    if generated is not None:
        ids.append(generated)
        stop = generated in eos_ids
        finish = "stop" if stop else "length"
        # an end-of-sequence token adds no text, but keeps its entry: clients slice the log-probs by position
        pieces.append("" if stop else tokenizer.decode([generated], skip_special_tokens=True))
        logprobs.append(float(scores.next_logprobs[generated]))
        values, indices = scores.next_logprobs.topk(top or 0)
        tops.append(list(zip(indices.tolist(), values.tolist())))
    choice: dict = {"index": index, "text": "".join(pieces), "finish_reason": finish, "logprobs": None}
    if top is None:
        return choice
    offsets, cursor = [], 0
    for piece in pieces:
        offsets.append(cursor)
        cursor += len(piece)
    top_logprobs: list[dict[str, float] | None] = []
    for k, (token, lp, best) in enumerate(zip(ids, logprobs, tops)):
        if echo and k == 0:
            top_logprobs.append(None)
            continue
        # the best `top` alternatives and the token itself (vLLM's shape: it may be outside the best)
        entry = {tokenizer.decode([t]): v for t, v in best}
        entry.setdefault(tokenizer.decode([token]), lp)
        top_logprobs.append(entry)
    choice["logprobs"] = {
        "tokens": [tokenizer.decode([t]) for t in ids],
        "token_logprobs": logprobs,
        "top_logprobs": top_logprobs,
        "text_offset": offsets,
    }
    return choice
