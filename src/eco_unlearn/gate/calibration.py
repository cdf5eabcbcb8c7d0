"""Threshold calibration for a prompt classifier, and the report that goes with it.

Two errors, two bounds:

- **False negatives** (a forget prompt passes): conformal. With nonconformity s_i = 1 − p_i on n forget
  prompts the classifier did not train on and k = ⌈(n+1)(1−α)⌉, flagging p ≥ τ_FNR = the k-th largest p_i
  gives P(not flagged) ≤ α for a new exchangeable forget prompt. Split conformal holds out a calibration
  split; on small requests that split is a dozen prompts and τ collapses toward 0. ``eco target create``
  therefore uses out-of-fold scores of *every* forget prompt (K-fold cross-conformal, Vovk 2015); the bound
  is then exact for the fold classifiers and approximate for the classifier refit on all prompts, and the
  report says so.
- **False positives** (an innocent prompt is flagged): Neyman–Pearson (Tong, Feng & Li 2018, the umbrella
  algorithm). With m held-out negative scores sorted ascending, τ_FPR = the k-th smallest, k the smallest
  rank with P(Binomial(m, 1 − ε) ≥ k) ≤ δ, gives P(FPR > ε) ≤ δ; it needs m ≥ log δ / log(1 − ε)
  negatives (59 for ε = 5 %, 149 for 2 %, 299 for 1 % at δ = 0.05).

:func:`choose_threshold` takes both: when τ_FPR ≤ τ_FNR every τ between them honours both bounds and it
picks the midpoint in logits (real traffic differs from either calibration set, so it keeps slack on both
sides); when τ_FPR > τ_FNR the data cannot meet both, and it keeps the FNR bound (a leak is worse than a
corrupted answer) and says by how much the FPR budget is missed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eco_unlearn.fileio import pyplot, save_figure


def conformal_threshold(p_calibration: np.ndarray, alpha: float) -> float:
    """τ with FNR ≤ α on exchangeable forget prompts. Needs n ≥ 1/α − 1 points, else τ = 0 (flag all)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p = np.sort(np.asarray(p_calibration, dtype=float))
    n = len(p)
    if n == 0:
        raise ValueError("conformal calibration needs at least one held-out forget prompt")
    k = math.ceil((n + 1) * (1 - alpha))
    if k > n:
        return 0.0
    return float(p[n - k])  # the k-th largest


def np_threshold(p_negative: np.ndarray, max_fpr: float, delta: float = 0.05) -> float | None:
    """τ with P(FPR > max_fpr) ≤ δ from held-out negative scores, flagging p > τ (strictly above: τ is the
    score of a negative that stays unflagged). ``None`` when there are too few negatives for the bound."""
    from scipy.stats import binom

    if not 0.0 < max_fpr < 1.0 or not 0.0 < delta < 1.0:
        raise ValueError(f"max_fpr and delta must be in (0, 1), got {max_fpr}, {delta}")
    p = np.sort(np.asarray(p_negative, dtype=float))
    m = len(p)
    ranks = np.arange(1, m + 1)
    # violation probability of τ = p_(k): P(more than ε of the population lies above the k-th smallest)
    violation = binom.sf(ranks - 1, m, 1.0 - max_fpr)  # P(Binomial(m, 1 − ε) ≥ k)
    ok = np.flatnonzero(violation <= delta)
    return float(p[ok[0]]) if len(ok) else None


def min_negatives(max_fpr: float, delta: float = 0.05) -> int:
    """Fewest held-out negatives for which :func:`np_threshold` can give its bound."""
    return math.ceil(math.log(delta) / math.log(1.0 - max_fpr))


@dataclass
class Threshold:
    """The chosen τ and what it guarantees, as stated in the bundle's report."""

    tau: float
    tau_fnr: float
    tau_fpr: float | None
    feasible: bool
    guarantee: str
    warnings: list[str] = field(default_factory=list)


def choose_threshold(
    p_forget_calibration: np.ndarray,
    p_negative: np.ndarray,
    *,
    alpha: float,
    max_fpr: float | None,
    delta: float = 0.05,
    fnr_bound: str = "split-conformal",
) -> Threshold:
    """τ honouring FNR ≤ α (conformal on the forget scores) and, when ``max_fpr`` is set, FPR ≤ max_fpr with
    probability 1 − δ (Neyman–Pearson on the negative scores). See the module docstring for the choice."""
    tau_fnr = conformal_threshold(p_forget_calibration, alpha)
    n = len(p_forget_calibration)
    fnr_text = f"FNR ≤ {alpha:g} ({fnr_bound}, n = {n})"
    warnings = []
    if math.ceil((n + 1) * (1 - alpha)) > n:
        warnings.append(
            f"only {n} forget prompts calibrate τ: too few for alpha={alpha:g} (need {math.ceil(1 / alpha - 1)})"
        )
    if max_fpr is None:
        return Threshold(tau_fnr, tau_fnr, None, True, fnr_text, warnings)
    tau_fpr = np_threshold(p_negative, max_fpr, delta)
    m = len(p_negative)
    if tau_fpr is None:
        warnings.append(
            f"{m} held-out negatives are too few for an FPR bound at {max_fpr:g}"
            f" (need {min_negatives(max_fpr, delta)}); τ keeps the FNR bound only"
        )
        return Threshold(tau_fnr, tau_fnr, None, False, fnr_text, warnings)
    fpr_text = f"FPR ≤ {max_fpr:g} with probability ≥ {1 - delta:g} (Neyman–Pearson, m = {m})"
    if tau_fpr < tau_fnr:
        # midway (in logits) between the two: both bounds hold anywhere in (τ_FPR, τ_FNR], and traffic is
        # never exactly the calibration sets, so the middle leaves slack on both sides; strictly above τ_FPR
        # so the negative scoring exactly τ_FPR stays unflagged, as NP assumes
        tau = max(float(np.nextafter(tau_fpr, 1.0)), _logit_midpoint(tau_fpr, tau_fnr))
        return Threshold(tau, tau_fnr, tau_fpr, True, f"{fnr_text}; {fpr_text}", warnings)
    fpr_at = rate(p_negative, tau_fnr, flagged=True)
    if fpr_at <= max_fpr:
        # the budget is met on these negatives, but too narrowly for m of them to vouch for it: say so, or a
        # user reads "cannot both hold" next to an FPR under the budget as a contradiction
        why = (
            f"held-out FPR is {fpr_at:.3f}, within the budget {max_fpr:g}, but {m} held-out negatives cannot"
            f" guarantee FPR ≤ {max_fpr:g} (with probability {1 - delta:g}) below τ = {tau_fpr:.4g}"
        )
        advice = "Add retain prompts (some are held out as these negatives)"
    else:
        why = f"held-out FPR is {fpr_at:.3f} (budget {max_fpr:g})"
        advice = "Add forget prompts that differ from the retain ones"
    warnings.append(
        f"the FNR bound and the FPR budget cannot both hold for these prompts: at the τ = {tau_fnr:.4g} that keeps"
        f" FNR ≤ {alpha:g}, {why}; τ keeps the FNR bound. {advice}, or raise --alpha."
    )
    return Threshold(tau_fnr, tau_fnr, tau_fpr, False, fnr_text, warnings)


def _logit_midpoint(a: float, b: float) -> float:
    lo, hi = (min(max(x, 1e-6), 1 - 1e-6) for x in (a, b))
    z = 0.5 * (math.log(lo / (1 - lo)) + math.log(hi / (1 - hi)))
    return float(min(b, 1.0 / (1.0 + math.exp(-z))))


def rate(p: np.ndarray, tau: float, flagged: bool) -> float:
    """Share of ``p`` that is flagged (flagged=True) or not flagged (flagged=False) at τ."""
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return float("nan")
    hit = p >= tau
    return float(hit.mean() if flagged else (~hit).mean())


def auroc(p_pos: np.ndarray, p_neg: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(p_pos)), np.zeros(len(p_neg))]
    return float(roc_auc_score(y, np.r_[p_pos, p_neg]))


def report(scores: dict[str, np.ndarray], tau: float) -> dict:
    """FNR on every forget_* set, FPR on every other set, AUROC of forget_test vs retain_test, counts."""
    out: dict = {"threshold": tau, "n": {k: int(len(v)) for k, v in scores.items()}}
    for name, p in scores.items():
        key = f"fnr_{name}" if name.startswith("forget") else f"fpr_{name}"
        out[key] = rate(p, tau, flagged=not name.startswith("forget"))
    if "forget_test" in scores and "retain_test" in scores:
        out["auroc"] = auroc(scores["forget_test"], scores["retain_test"])
    return out


def plot(scores: dict[str, np.ndarray], tau: float, path: Path, title: str) -> None:
    """Histograms of p_forget by set, with τ marked; log-scaled counts so the tails show."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 41)
    for name, p in scores.items():
        if len(p):
            ax.hist(p, bins=bins, histtype="step", linewidth=1.6, label=f"{name} (n={len(p)})")
    ax.axvline(tau, color="black", linestyle="--", label=f"τ = {tau:.4f}")
    ax.set(yscale="log", xlabel="p_forget", ylabel="prompts", title=title)
    ax.legend(fontsize=8)
    save_figure(fig, path)
