"""A distribution-level objective: match the *whole* per-item statistic distribution, not its mean.

TOFU's forget quality is a KS test between two samples of per-question truth ratios (the unlearned model's
and a model that never saw the data). Matching a mean margin (``LikelihoodObjective``) can land on the
right mean with the wrong shape: some questions still fully remembered, others corrupted into nonsense,
and the KS test sees both. This objective fits the corruption so that the corrupted model's sample of
log truth ratios on fit items is close, as a distribution, to a *reference* sample.

The reference is what a never-trained model scores. Without peeking at any retain model, it comes from the
clean model itself on comparable items it was never trained on (held-out authors of the same generator, a
held-out part of a corpus): :meth:`DistributionObjective.from_unseen`.

Per item, with P̄(x) = exp(mean token log-prob of x) as TOFU: log R = log mean_j P̄(perturbed_j) − log
P̄(paraphrased) (high = the model no longer prefers the truth). Distances between the two samples:

- ``ks``: the two-sample Kolmogorov–Smirnov statistic (what forget quality's p-value is computed from);
- ``wasserstein``: the 1-Wasserstein distance between the log-ratio samples (smooth, scale-aware);
- ``quantile``: mean absolute difference of the 10th…90th percentiles.
All three are 0 when the samples are equal and grow as they move apart; the fitter minimises them (the
surrogate is 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.fit.objectives import QAItem, QAObjective, option_logprobs

DISTANCES = ("ks", "wasserstein", "quantile")


def log_truth_ratios(eco: ECOModel, items: list[QAItem], seed: int = 0) -> np.ndarray:
    """TOFU's log truth ratio per item: ``QAItem.answer`` is the paraphrased answer it compares against."""
    return np.array([np.log(np.mean(np.exp(lp[1:]))) - lp[0] for lp in option_logprobs(eco, items, seed)])


def sample_distance(a: np.ndarray, b: np.ndarray, kind: str = "ks") -> float:
    """Distance between two samples (0 when equal); see the module docstring."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("both samples must be non-empty")
    if kind == "ks":
        return float(stats.ks_2samp(a, b).statistic)
    if kind == "wasserstein":
        return float(stats.wasserstein_distance(a, b))
    if kind == "quantile":
        q = np.linspace(0.1, 0.9, 9)
        return float(np.mean(np.abs(np.quantile(a, q) - np.quantile(b, q))))
    raise ValueError(f"unknown distance {kind!r}; known: {', '.join(DISTANCES)}")


@dataclass
class DistributionObjective(QAObjective):
    """Distance between the corrupted model's log-truth-ratio sample on ``items`` and ``reference``."""

    reference: list[float] = field(default_factory=list)
    distance: str = "ks"
    name: str = "distribution"

    def __post_init__(self) -> None:
        if not self.items or not self.reference:
            raise ValueError("the distribution objective needs fit items and a non-empty reference sample")
        if self.distance not in DISTANCES:
            raise ValueError(f"unknown distance {self.distance!r}; known: {', '.join(DISTANCES)}")

    @classmethod
    def from_unseen(cls, eco: ECOModel, items: list[QAItem], unseen: list[QAItem], distance: str = "ks"):
        """Reference = the clean model's log truth ratios on ``unseen`` items (never trained on)."""
        clean = ECOModel(eco.model, eco.tokenizer)
        return cls(items, log_truth_ratios(clean, unseen).tolist(), distance)

    def sample(self, eco: ECOModel, seed: int) -> np.ndarray:
        return log_truth_ratios(eco, self.items, seed)

    def metric(self, eco: ECOModel, seed: int) -> float:
        return sample_distance(self.sample(eco, seed), np.array(self.reference), self.distance)

    def surrogate(self) -> float:
        return 0.0

    def bootstrap(self, eco: ECOModel, seeds: list[int], n: int = 1000, seed: int = 0) -> np.ndarray:
        """The objective at one corrupted model under ``n`` bootstrap resamples of the fit items and of the
        reference (the same item indices for every noise seed; the mean distance over ``seeds``, as the fit
        scores a point). How far the objective moves with the sample says which candidates it cannot tell
        apart. The resample indices depend only on ``seed`` and the sample sizes, so two candidates
        bootstrapped with the same ``seed`` are compared on the same resamples."""
        samples = [self.sample(eco, s) for s in seeds]
        ref, rng = np.asarray(self.reference, dtype=float), np.random.default_rng(seed)
        out = np.empty(n)
        for b in range(n):
            i, j = rng.integers(len(samples[0]), size=len(samples[0])), rng.integers(len(ref), size=len(ref))
            out[b] = np.mean([sample_distance(x[i], ref[j], self.distance) for x in samples])
        return out
