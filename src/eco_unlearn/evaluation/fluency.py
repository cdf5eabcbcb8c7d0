"""Fluency of generated answers: a model that never saw the data answers fluently and wrongly, not in gibberish.

Three numbers per set of (prompt, answer) pairs, each compared against the retain model's answers to the
same prompts (the behaviour to reproduce), all under a fixed *scorer* (the clean original model):

- **text perplexity**: exp of the mean token negative log-likelihood of the answers read *alone* (after
  "Text:"): is it fluent text? Noise-corrupted gibberish ("10x+2 + 2x == 3x." to a question about a
  novel) scores far higher than a fluent sentence, while a fluent *wrong* answer ("Robert Murray was born
  in Lisbon.") is not penalised for being wrong, which is what forgetting should produce;
- **perplexity**: the same with the clean prompt before the answer: does it read as an answer to this
  question? A wrong fact raises it (the scorer knows the truth), so it is a plausibility check, not the
  fluency goal;
- **repetition**: the mean over answers of 1 − distinct words / words (0 = no word repeats; degenerate
  loops such as "the the the" approach 1);
- **topicality** (:func:`topicality`): the mean cosine similarity (MiniLM) of each question and its answer.
  A wrong answer stays on topic ("Dr. Michael Johnson was born in New Haven, Norway." to "Where was Norma
  Fisher born?"); a derailed one ("A new approach to solving complex systems.") does not, however fluent.
  The fit's check reads it with names masked (``mask_names``): otherwise whether the answer repeats the
  asked-about name dominates the cosine, and a fluent answer about someone else ("Tap Mask was born in
  Port Kevin, Maldives.") scores like a derailed one.
Empty answers count in ``empty`` and are left out of both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.selection import proper_noun_spans
from eco_unlearn.core.target import ForgetTarget
from eco_unlearn.evaluation.tofu import first_line

TOPICAL_SHARE, REPETITION_SLACK = 0.5, 0.1
"""The fit's fluency check (:func:`fluent_check`): a candidate's answers must stay at least half as on topic
as the clean model's (question–answer cosine with names masked, :func:`topicality`) and repeat words at most
0.1 more. A never-trained model answers the question wrongly; it does not derail ("A.A.A.R.A.", "A new
approach to solving complex systems.")."""


def repetition(text: str) -> float:
    words = text.lower().split()
    return 0.0 if not words else 1.0 - len(set(words)) / len(words)


def fluency(scorer: ECOModel, prompts: list[str], answers: list[str], *, given_prompt: bool = True
            ) -> dict[str, float]:  # fmt: skip
    """Text perplexity, perplexity given the prompt, repetition and empty share; ``scorer`` should have no
    targets (the clean model). ``given_prompt=False`` skips the second scoring pass (``perplexity`` is NaN)
    for callers that read the text alone."""
    if len(prompts) != len(answers):
        raise ValueError("one answer per prompt")
    kept = [(p, a.strip()) for p, a in zip(prompts, answers) if a.strip()]
    if not kept:
        nan = float("nan")
        return {"text_perplexity": nan, "perplexity": nan, "repetition": nan, "empty": 1.0 if answers else 0.0}

    def ppl(pairs: list[tuple[str, str]]) -> float:
        lps = scorer.score_batch(pairs)
        return float(np.exp(-np.concatenate([lp.numpy() for lp in lps]).mean()))

    return {
        "text_perplexity": ppl([("Text:", " " + a) for _, a in kept]),  # a neutral, non-empty context
        "perplexity": ppl([(p, " " + a) for p, a in kept]) if given_prompt else float("nan"),
        "repetition": float(np.mean([repetition(a) for _, a in kept])),
        "empty": 1.0 - len(kept) / len(answers),
    }


FLUENCY_GOAL = 0.2
"""Issue 15's fluency goal: generations' perplexity under the clean model and repetition within 20 % of
the retain model's (or, without one, the clean model's) on the same prompts."""


def fluency_vs(method: dict, reference: dict, keys: tuple[str, ...] = ("perplexity", "repetition")) -> dict:
    """:func:`fluency` of a method's generations as ratios to the reference model's (``keys``), and whether
    all are within :data:`FLUENCY_GOAL` of it. Against a reference that repeats no word (short answers often
    do not), the ratio is NaN and only a method that repeats none either is within the goal."""
    ratio = {k: method[k] / reference[k] if reference[k] else float("nan") for k in keys}
    met = all(abs(method[k] - reference[k]) <= FLUENCY_GOAL * reference[k] for k in keys)
    return {f"{k}_ratio": v for k, v in ratio.items()} | {"met": bool(met)}


def mask_names(text: str) -> str:
    """``text`` with every capitalised word and number (``selection.proper_noun_spans``) replaced by "X"."""
    out, last = [], 0
    for a, b in proper_noun_spans(text, [(0, len(text))]):
        out += [text[last:a], "X"]
        last = b
    return "".join([*out, text[last:]])


def topicality(questions: list[str], answers: list[str], *, names_masked: bool = False) -> float:
    """Mean cosine similarity between each question and its answer (MiniLM sentence embeddings; an empty
    answer counts 0): does the answer talk about what was asked? ``names_masked``: compare them with names,
    places and numbers masked (:func:`mask_names`), so that an answer about someone else still counts as
    answering the question. Measured on ``eco bench authors``' fit questions: the clean target 0.75 (masked
    0.81); answers with the name swapped for another word, fluent and on topic, 0.31 (0.80); every-token
    sign-flip, derailed ("A New Approach to the Old English Language."), 0.06 (0.18)."""
    from eco_unlearn.gate.backbone import get_encoder

    if len(questions) != len(answers):
        raise ValueError("one answer per question")
    if not questions:
        raise ValueError("no questions")
    if names_masked:
        questions, answers = [mask_names(q) for q in questions], [mask_names(x) for x in answers]
    enc = get_encoder()
    q, a = enc.embed(list(questions)), enc.embed([x.strip() or "." for x in answers])
    cos = np.sum(q * a, 1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(a, axis=1) + 1e-12)
    return float(np.mean(np.where([bool(x.strip()) for x in answers], cos, 0.0)))


def fluent_check(clean: ECOModel, prompts: list[str], gen_tokens: int = 32, *, chat: bool | None = None
                 ) -> Callable[[ForgetTarget], dict]:  # fmt: skip
    """A corruption fit's ``admissible`` check (``fit.family.fit_corruption``): greedy answers (first line) to
    ``prompts`` under a candidate target's corruption, against ``clean``'s answers to the same prompts; ok
    when topicality (names masked) keeps ``TOPICAL_SHARE`` of the clean answers' and repetition rises by at
    most ``REPETITION_SLACK``. The clean answers are generated once, here."""
    if not prompts:
        raise ValueError("the fluency check needs at least one prompt")

    def measure(eco: ECOModel) -> tuple[float, float]:
        generations = eco.generate(prompts, chat=chat, max_new_tokens=gen_tokens, batch_size=16)
        answers = [first_line(g.text) for g in generations]
        return topicality(prompts, answers, names_masked=True), float(np.mean([repetition(a) for a in answers]))

    clean_topic, clean_rep = measure(ECOModel(clean.model, clean.tokenizer))

    def check(target: ForgetTarget) -> dict:
        topic, rep = measure(ECOModel(clean.model, clean.tokenizer, [target]))
        ok = topic >= TOPICAL_SHARE * clean_topic and rep <= clean_rep + REPETITION_SLACK
        return {"ok": bool(ok), "topicality": topic, "repetition": rep, "clean_topicality": clean_topic,
                "clean_repetition": clean_rep}  # fmt: skip

    return check


def continuation_check(clean: ECOModel, prompts: list[str], reference_prompts: list[str], gen_tokens: int = 64
                       ) -> Callable[[ForgetTarget], dict]:  # fmt: skip
    """:func:`fluent_check` for text completion (a copyright fit): greedy continuations of ``prompts`` under a
    candidate's corruption against ``clean``'s own continuations of ``reference_prompts``, text it never
    trained on (the fit's surrogate). Ok when they stay on topic (prompt–continuation :func:`topicality` at
    least ``TOPICAL_SHARE`` of the reference's) and their text perplexity under ``clean`` and word repetition
    are at most :data:`FLUENCY_GOAL` above the reference's.

    Strong noise makes a model write fluent text that ignores the prompt, which only topicality catches;
    loops raise repetition; token soup raises text perplexity. One-sided, because the fit has no
    never-trained model to compare against (the retain model is for evaluation only): it can tell that a
    corruption derails text but not that the text is *too* plausible, which stays an evaluation figure."""
    if not prompts or not reference_prompts:
        raise ValueError("the fluency check needs fit prompts and reference prompts")

    def measure(eco: ECOModel, ps: list[str]) -> dict[str, float]:
        texts = [g.text for g in eco.generate(ps, chat=False, max_new_tokens=gen_tokens, batch_size=8)]
        return fluency(clean, ps, texts, given_prompt=False) | {"topicality": topicality(ps, texts)}

    ref = measure(ECOModel(clean.model, clean.tokenizer), reference_prompts)

    def check(target: ForgetTarget) -> dict:
        got = measure(ECOModel(clean.model, clean.tokenizer, [target]), prompts)
        ok = got["topicality"] >= TOPICAL_SHARE * ref["topicality"] and all(
            got[k] <= (1 + FLUENCY_GOAL) * ref[k] for k in ("text_perplexity", "repetition")
        )
        keys = ("topicality", "text_perplexity", "repetition")
        return {"ok": bool(ok), **{k: got[k] for k in keys}, **{f"reference_{k}": ref[k] for k in keys}}

    return check
