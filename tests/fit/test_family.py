import pytest

from eco_unlearn.fit.distribution import DistributionObjective, log_truth_ratios
from eco_unlearn.fit.family import fit_corruption
from eco_unlearn.fit.objectives import QAItem
from eco_unlearn.fit.search import FitConfig
from eco_unlearn.gate.targets import Target

ITEMS = [QAItem(f"Question {i} about Mara Quill?", f"Mara Quill did thing {i}.",
                [f"Mara Quill did thing {i + 1}.", f"Mara Quill did thing {i + 7}."]) for i in range(8)]  # fmt: skip


def _target(**corruption):
    return Target.create("t", selection={"mode": "all_but_last"}, corruption=corruption)


def test_search_recovers_the_family_and_k_that_produced_the_reference(tiny_eco):
    """The reference is the model under zero_out_top_k with k = 16 (a grid point for d = 64): the search must
    find that family at objective 0, and say why it chose it."""
    reference = log_truth_ratios(tiny_eco([_target(name="zero_out_top_k", dims=16)]), ITEMS)
    obj = DistributionObjective(ITEMS, reference.tolist(), "wasserstein")
    r = fit_corruption(tiny_eco(), _target(), obj, cfg=FitConfig(seeds=1), grid=7, refine=2)
    assert (r.name, r.dims, r.objective) == ("zero_out_top_k", 16, 0.0)
    assert [c["name"] for c in r.candidates] == ["rand_noise_first_n", "zero_out_top_k", "flip_sign_top_k"]
    assert all(c["objective"] > 0 for c in r.candidates if c["name"] != "zero_out_top_k")
    assert r.reason.startswith("zero_out_top_k k=16 has the lowest distribution objective")
    assert r.forward_passes == r.evaluations * obj.cost()


def test_search_respects_the_budget_and_rejects_unknown_families(tiny_eco):
    obj = DistributionObjective(ITEMS, [0.0] * 8)
    r = fit_corruption(tiny_eco(), _target(), obj, ["rand_noise_first_n"], FitConfig(seeds=1, budget=5 * obj.cost()))
    assert r.forward_passes <= 5 * obj.cost() and r.evaluations <= 5
    with pytest.raises(ValueError, match="unknown corruption"):
        fit_corruption(tiny_eco(), _target(), obj, ["blur"])


def test_a_family_without_a_parameter_is_evaluated_once_and_can_win(tiny_eco):
    """substitute has neither σ nor k: one evaluation; when the reference was made by it, it wins at 0."""
    entity = Target.create("t", selection={"mode": "entities"}, entities=["Mara Quill"],
                           corruption={"name": "substitute"})  # fmt: skip
    reference = log_truth_ratios(tiny_eco([entity]), ITEMS)
    obj = DistributionObjective(ITEMS, reference.tolist(), "wasserstein")
    r = fit_corruption(tiny_eco(), entity, obj, ["substitute", "zero_out_top_k"], FitConfig(seeds=1), grid=5)
    sub = next(c for c in r.candidates if c["name"] == "substitute")
    assert sub["evaluations"] == 1 and (r.name, r.objective) == ("substitute", 0.0)
    assert r.reason.startswith("substitute (no parameter) has the lowest")
