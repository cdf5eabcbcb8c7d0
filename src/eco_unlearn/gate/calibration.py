"""Threshold calibration for a prompt classifier, and the report that goes with it.

Split-conformal (the reference code has only a fixed τ): with nonconformity s_i = 1 − p_i on n held-out
forget prompts and k = ⌈(n+1)(1−α)⌉, flagging p ≥ τ with τ = the k-th largest p_i gives, for a new forget
prompt exchangeable with the calibration set, P(not flagged) ≤ α (and ≥ α − 1/(n+1) without ties).
This bounds the false-negative rate; the false-positive rate is then measured, not promised.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from eco_unlearn.fileio import save_figure


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 41)
    for name, p in scores.items():
        if len(p):
            ax.hist(p, bins=bins, histtype="step", linewidth=1.6, label=f"{name} (n={len(p)})")
    ax.axvline(tau, color="black", linestyle="--", label=f"τ = {tau:.4f}")
    ax.set(yscale="log", xlabel="p_forget", ylabel="prompts", title=title)
    ax.legend(fontsize=8)
    save_figure(fig, path)
