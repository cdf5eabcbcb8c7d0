import math

import numpy as np
import pytest

from eco_unlearn.gate.calibration import (
    auroc,
    choose_threshold,
    conformal_threshold,
    min_negatives,
    np_threshold,
    plot,
    rate,
    report,
)


def test_conformal_threshold_is_the_kth_largest_score():
    p = np.arange(1, 20) / 20.0  # n = 19 distinct scores 0.05 … 0.95
    # alpha = 0.1: k = ceil(20 * 0.9) = 18 → the 18th largest = the 2nd smallest = 0.10
    assert conformal_threshold(p, 0.1) == pytest.approx(0.10)
    # alpha = 0.25: k = ceil(20 * 0.75) = 15 → the 15th largest = the 5th smallest = 0.25
    assert conformal_threshold(np.random.default_rng(0).permutation(p), 0.25) == pytest.approx(0.25)


def test_conformal_needs_enough_points():
    assert conformal_threshold(np.array([0.9, 0.95, 0.99]), 0.05) == 0.0  # k = 4 > n = 3: flag everything
    with pytest.raises(ValueError, match="alpha"):
        conformal_threshold(np.array([0.5]), 1.5)
    with pytest.raises(ValueError, match="at least one"):
        conformal_threshold(np.array([]), 0.1)


@pytest.mark.parametrize("n,alpha", [(19, 0.1), (50, 0.05), (99, 0.2)])
def test_conformal_guarantee_holds_exactly_in_expectation(n, alpha):
    """For exchangeable continuous scores, P(miss) = (n - k + 1) / (n + 1) exactly, which is ≤ alpha and
    > alpha - 1/(n+1). Checked by simulation on a synthetic Beta score distribution."""
    rng = np.random.default_rng(0)
    k = math.ceil((n + 1) * (1 - alpha))
    exact = (n - k + 1) / (n + 1)
    assert alpha - 1 / (n + 1) < exact <= alpha
    trials = 20000
    cal = rng.beta(5, 1, size=(trials, n))
    new = rng.beta(5, 1, size=trials)
    taus = np.array([conformal_threshold(c, alpha) for c in cal])
    miss = float((new < taus).mean())
    assert miss == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / trials))


def test_rates_report_and_auroc():
    scores = {
        "forget_test": np.array([0.9, 0.99, 0.5]),
        "retain_test": np.array([0.1, 0.95]),
        "general": np.array([0.0]),
    }
    r = report(scores, 0.9)
    assert r["fnr_forget_test"] == pytest.approx(1 / 3) and r["fpr_retain_test"] == 0.5 and r["fpr_general"] == 0.0
    assert r["auroc"] == pytest.approx(auroc(scores["forget_test"], scores["retain_test"]))
    assert math.isnan(rate(np.array([]), 0.5, flagged=True))


def test_plot_writes_a_png(tmp_path):
    plot({"forget_test": np.array([0.9, 0.99]), "retain_test": np.array([0.1])}, 0.8, tmp_path / "c.png", "t")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


# --- Neyman–Pearson and the two-sided choice (exact math on synthetic scores) ---------------------------


def _umbrella_rank(m: int, eps: float, delta: float) -> int | None:
    """The NP order statistic by the textbook sum, written independently of scipy."""
    from math import comb

    for k in range(1, m + 1):
        violation = sum(comb(m, j) * (1 - eps) ** j * eps ** (m - j) for j in range(k, m + 1))
        if violation <= delta:
            return k
    return None


@pytest.mark.parametrize("m,eps", [(59, 0.05), (100, 0.05), (300, 0.02), (400, 0.01), (58, 0.05)])
def test_np_threshold_is_the_umbrella_order_statistic(m, eps):
    p = np.linspace(0.0, 1.0, m)[::-1].copy()  # unsorted input
    k = _umbrella_rank(m, eps, 0.05)
    tau = np_threshold(p, eps, 0.05)
    if k is None:
        assert tau is None and m < min_negatives(eps, 0.05)
    else:
        assert tau == pytest.approx(np.sort(p)[k - 1])
        assert m >= min_negatives(eps, 0.05)


def test_np_threshold_holds_its_fpr_bound_over_repeated_draws():
    rng = np.random.default_rng(0)
    eps, delta, violations = 0.05, 0.05, 0
    for _ in range(400):
        tau = np_threshold(rng.uniform(size=200), eps, delta)
        violations += (1.0 - tau) > eps  # the true FPR of uniform negatives at τ is 1 − τ
    assert violations / 400 <= delta + 0.03


def test_choose_threshold_honours_both_bounds_when_it_can():
    forget = np.linspace(0.5, 1.0, 100)  # FNR α = 0.1: τ_FNR = the 91st largest = forget[9]
    negatives = np.linspace(0.0, 0.3, 300)
    t = choose_threshold(forget, negatives, alpha=0.1, max_fpr=0.02)
    assert t.feasible and t.tau_fnr == pytest.approx(forget[9]) and t.tau_fpr < t.tau <= t.tau_fnr
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert logit(t.tau) == pytest.approx((logit(t.tau_fpr) + logit(t.tau_fnr)) / 2)
    assert t.tau <= t.tau_fnr and rate(forget, t.tau, flagged=False) <= 0.1
    assert rate(negatives, t.tau, flagged=True) <= 0.02 and rate(negatives, t.tau_fpr, flagged=True) > 0.0
    assert "Neyman" in t.guarantee and "FNR ≤ 0.1" in t.guarantee and not t.warnings


def test_choose_threshold_keeps_the_fnr_bound_and_warns_when_both_cannot_hold():
    forget = np.linspace(0.2, 1.0, 100)
    negatives = np.linspace(0.0, 0.9, 300)  # overlaps the forget scores
    t = choose_threshold(forget, negatives, alpha=0.05, max_fpr=0.01)
    assert not t.feasible and t.tau == t.tau_fnr < t.tau_fpr
    assert rate(forget, t.tau, flagged=False) <= 0.05
    assert "cannot both hold" in t.warnings[0] and "Neyman" not in t.guarantee
    assert "(budget 0.01)" in t.warnings[0] and "Add forget prompts" in t.warnings[0]


def test_choose_threshold_says_when_the_budget_is_met_but_too_few_negatives_vouch_for_it():
    """At τ_FNR (forget[4], about 0.52) 2 of 300 negatives are flagged, under the 2 % budget; but NP with 300
    negatives bounds FPR ≤ 2 % only above the 299th smallest score (0.9), which would miss forget prompts."""
    forget = np.linspace(0.5, 1.0, 100)
    negatives = np.r_[np.linspace(0.0, 0.4, 298), 0.9, 0.95]
    t = choose_threshold(forget, negatives, alpha=0.05, max_fpr=0.02)
    assert not t.feasible and t.tau == t.tau_fnr == pytest.approx(forget[4]) and t.tau_fpr == 0.9
    assert rate(negatives, t.tau, flagged=True) == pytest.approx(2 / 300)
    assert "FPR is 0.007, within the budget 0.02, but 300 held-out negatives cannot guarantee" in t.warnings[0]
    assert "below τ = 0.9;" in t.warnings[0] and "Add retain prompts" in t.warnings[0]


def test_choose_threshold_with_both_bounds_at_one_tied_score_keeps_the_fnr_bound():
    """Discrete scores (a name is there or not): τ_FNR = τ_FPR = 0. NP needs τ above τ_FPR, the FNR bound τ at
    most τ_FNR: no τ does both, and the FNR bound is kept (before, τ went just above 0 and missed 3 in 4)."""
    forget = np.array([1.0] * 10 + [0.0] * 30)
    t = choose_threshold(forget, np.zeros(300), alpha=0.05, max_fpr=0.02)
    assert t.tau_fnr == t.tau_fpr == 0.0 and not t.feasible and t.tau == 0.0
    assert rate(forget, t.tau, flagged=False) == 0.0 and "cannot both hold" in t.warnings[0]


def test_choose_threshold_says_when_negatives_are_too_few_for_the_budget():
    t = choose_threshold(np.linspace(0.5, 1, 50), np.linspace(0, 0.2, 40), alpha=0.1, max_fpr=0.01)
    assert t.tau_fpr is None and "too few for an FPR bound" in t.warnings[0]
