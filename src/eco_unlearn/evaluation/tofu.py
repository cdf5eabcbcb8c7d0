"""TOFU's metrics, as the TOFU paper defines them (Maini et al., 2024), on any ECOModel.

Per question q with answer a, paraphrased answer ã and perturbed answers â_j, and P(x|q)^(1/|x|) the
length-normalised probability of answer x (exp of the mean token log-prob):

- **probability**: P(a|q)^(1/|a|) on the forget and retain sets; on real authors and world facts, the
  option-normalised P(a) / (P(a) + Σ_j P(â_j)) (those sets have no paraphrase; there ã = a);
- **truth ratio** R = mean_j P(â_j|q)^(1/|â_j|) / P(ã|q)^(1/|ã|); model utility uses max(0, 1 − R) averaged;
- **ROUGE-L recall** of the greedy answer against a (rouge-score, stemming on);
- **forget quality**: the p-value of the two-sample KS test between the truth ratios of the method and of
  the retain model on the forget set (high = indistinguishable from never having seen it);
- **model utility**: the harmonic mean of {probability, ROUGE-L, truth ratio} × {retain, real authors,
  world facts}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rouge_score import rouge_scorer
from scipy import stats

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.finetune import qa_prompt

_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


@dataclass
class EvalItem:
    question: str
    answer: str
    paraphrased: str
    perturbed: list[str]


@dataclass
class SetScores:
    probability: float
    truth_ratio: float
    """Mean of max(0, 1 − R) (higher = prefers the truth), the utility form."""
    rouge_l: float
    ratios: list[float]
    """Per-question R (the KS test's sample)."""
    answers: list[str]


def evaluate_set(
    eco: ECOModel,
    items: list[EvalItem],
    *,
    options_normalised: bool,
    prefix: str = "",
    max_new_tokens: int = 24,
    generate: bool = True,
) -> SetScores:
    """Every metric of one set; ``generate=False`` skips the greedy answers (no ROUGE-L: NaN, no answers),
    for callers that need only the probabilities and truth ratios, such as extra noise draws."""
    prompts = [prefix + qa_prompt(it.question) for it in items]
    pairs, spans = [], []
    for p, it in zip(prompts, items):
        start = len(pairs)
        pairs += [(p, " " + x) for x in (it.answer, it.paraphrased, *it.perturbed)]
        spans.append((start, len(pairs)))
    probs = np.array([float(np.exp(lp.mean())) for lp in eco.score_batch(pairs)])
    prob, ratios = [], []
    for s, e in spans:
        p_a, p_para, p_pert = probs[s], probs[s + 1], probs[s + 2 : e]
        prob.append(p_a / (p_a + p_pert.sum()) if options_normalised else p_a)
        ratios.append(float(p_pert.mean() / max(p_para, 1e-300)))
    answers = []
    if generate:
        gens = eco.generate(prompts, chat=False, max_new_tokens=max_new_tokens, batch_size=16)
        answers = [first_line(g.text) for g in gens]
    rouge = [_ROUGE.score(it.answer, a)["rougeL"].recall for it, a in zip(items, answers)] or [float("nan")]
    return SetScores(
        probability=float(np.mean(prob)),
        truth_ratio=float(np.mean([max(0.0, 1.0 - r) for r in ratios])),
        rouge_l=float(np.mean(rouge)),
        ratios=ratios,
        answers=answers,
    )


def first_line(text: str) -> str:
    """The answer a QA prompt gets: the first non-empty line (small chat models often open with a newline)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def forget_quality(method_ratios: list[float], retain_ratios: list[float]) -> float:
    return float(stats.ks_2samp(method_ratios, retain_ratios).pvalue)


UTILITY_SETS = ("retain", "real_authors", "world_facts")


def model_utility(sets: dict[str, SetScores]) -> float:
    """TOFU's model utility: the harmonic mean of probability, ROUGE-L and truth ratio on the three utility
    sets (nine values), so its smallest value dominates it."""
    values = [getattr(sets[k], m) for k in UTILITY_SETS for m in ("probability", "rouge_l", "truth_ratio")]
    return float(stats.hmean(np.maximum(values, 1e-12)))


def set_utility(scores: SetScores) -> float:
    """One set's share of :func:`model_utility`: the harmonic mean of its three values. The harmonic mean of
    the three sets' figures is the model utility (up to rounding)."""
    return float(stats.hmean(np.maximum([scores.probability, scores.rouge_l, scores.truth_ratio], 1e-12)))
