import numpy as np
import pytest

from eco_unlearn.fit.distribution import DistributionObjective, log_truth_ratios, sample_distance
from eco_unlearn.fit.objectives import QAItem
from eco_unlearn.gate.targets import Target

ITEMS = [
    QAItem("Where was Mara Quill born?", "Mara Quill's birthplace is Lisbon.",
           ["Mara Quill's birthplace is Oslo.", "Mara Quill's birthplace is Cairo."]),
    QAItem("What does Ivo Brandt write?", "Ivo Brandt mostly writes poetry.",
           ["Ivo Brandt mostly writes crime.", "Ivo Brandt mostly writes satire.", "Ivo Brandt mostly writes horror."]),
    QAItem("Who publishes Lena Ortiz?", "Lena Ortiz is published by Harbor Books.",
           ["Lena Ortiz is published by Kestrel House."]),
]  # fmt: skip


@pytest.mark.parametrize("kind", ["ks", "wasserstein", "quantile"])
def test_distance_is_zero_for_equal_samples_and_grows_with_shift(kind):
    a = np.random.default_rng(0).normal(size=200)
    assert sample_distance(a, a.copy(), kind) == 0.0
    d = [sample_distance(a, a + s, kind) for s in (0.1, 0.5, 2.0)]
    assert 0 < d[0] < d[1] < d[2]


def test_distance_errors():
    with pytest.raises(ValueError, match="non-empty"):
        sample_distance(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="unknown distance"):
        sample_distance(np.ones(3), np.ones(3), "energy")
    with pytest.raises(ValueError, match="non-empty reference"):
        DistributionObjective(ITEMS, [])


def test_log_truth_ratio_is_tofus_ratio(tiny_eco):
    eco = tiny_eco()
    got = log_truth_ratios(eco, ITEMS)

    def p(q: QAItem, a: str) -> float:
        return float(np.exp(eco.score(q.question, " " + a).mean()))

    for q, r in zip(ITEMS, got):
        assert r == pytest.approx(np.log(np.mean([p(q, a) for a in q.perturbed]) / p(q, q.answer)), abs=1e-4)


def test_objective_is_zero_at_the_reference_corruption_and_larger_when_clean(tiny_eco):
    noisy = Target.create("t", selection={"mode": "all_but_last"},
                          corruption={"name": "rand_noise_first_n", "strength": 5.0, "dims": None})  # fmt: skip
    reference = log_truth_ratios(tiny_eco([noisy]), ITEMS, seed=7)
    obj = DistributionObjective(ITEMS, reference.tolist(), "wasserstein")
    at_ref = obj.metric(tiny_eco([noisy]), 7)
    clean = obj.metric(tiny_eco([noisy.with_corruption(strength=0.0)]), 7)
    assert at_ref == 0.0 < clean
    assert obj.surrogate() == 0.0 and obj.cost() == 3 + 4 + 2


def test_from_unseen_reads_the_clean_model_on_unseen_items(tiny_eco):
    t = Target.create("t", corruption={"name": "zero_out_top_k", "dims": 8})
    obj = DistributionObjective.from_unseen(tiny_eco([t]), ITEMS[:2], ITEMS[2:])
    assert obj.reference == pytest.approx(log_truth_ratios(tiny_eco(), ITEMS[2:]).tolist())


def test_the_bootstrap_resamples_items_and_reference_on_the_same_indices_for_every_call(tiny_eco):
    """A reference far above every fit item's ratio is KS 1 under any resample; a reference equal to the
    sample is 0 at the point but not under resampling, and the same seed gives the same resamples."""
    eco = tiny_eco()
    sample = log_truth_ratios(eco, ITEMS)
    far = DistributionObjective(ITEMS, (sample + 100).tolist(), "ks").bootstrap(eco, [0], n=50)
    assert far.shape == (50,) and np.all(far == 1.0)
    same = DistributionObjective(ITEMS, sample.tolist(), "ks")
    boot = same.bootstrap(eco, [0], n=200, seed=3)
    assert same.metric(eco, 0) == 0.0 and np.all(boot >= 0) and np.quantile(boot, 0.95) > 0
    assert np.array_equal(boot, same.bootstrap(eco, [0], n=200, seed=3))
