import math

import numpy as np
import pytest

from eco_unlearn.gate.calibration import auroc, conformal_threshold, plot, rate, report


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
