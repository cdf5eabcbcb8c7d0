import pytest

from eco_unlearn.fit.distribution import DistributionObjective, log_truth_ratios
from eco_unlearn.fit.family import fit_corruption
from eco_unlearn.fit.objectives import LikelihoodObjective, QAItem
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


def test_the_token_selection_is_searched_and_recovered(tiny_eco):
    """The reference is zero-out top-16 on the proper nouns only: searched under both selections, the fit
    must name that selection, and keep one candidate per (family, selection)."""
    nouns = Target.create("t", selection={"mode": "proper_nouns"}, corruption={"name": "zero_out_top_k", "dims": 16})
    reference = log_truth_ratios(tiny_eco([nouns]), ITEMS)
    obj = DistributionObjective(ITEMS, reference.tolist(), "wasserstein")
    r = fit_corruption(tiny_eco(), _target(), obj, ["zero_out_top_k", "flip_sign_top_k"], FitConfig(seeds=1),
                       grid=7, refine=0, selections=["all_but_last", "proper_nouns"])  # fmt: skip
    assert (r.name, r.selection, r.dims, r.objective) == ("zero_out_top_k", "proper_nouns", 16, 0.0)
    assert [(c["name"], c["selection"]) for c in r.candidates] == [
        ("zero_out_top_k", "all_but_last"), ("flip_sign_top_k", "all_but_last"),
        ("zero_out_top_k", "proper_nouns"), ("flip_sign_top_k", "proper_nouns"),
    ]  # fmt: skip
    assert "(proper_nouns tokens) has the lowest" in r.reason
    with pytest.raises(ValueError, match="unknown selection mode 'nouns'"):
        fit_corruption(tiny_eco(), _target(), obj, ["zero_out_top_k"], selections=["nouns"])


def test_a_candidate_that_fails_the_check_is_not_chosen(tiny_eco):
    """The check sees each candidate's fitted target; the best objective that fails it loses to the next."""
    reference = log_truth_ratios(tiny_eco([_target(name="zero_out_top_k", dims=16)]), ITEMS)
    obj = DistributionObjective(ITEMS, reference.tolist(), "wasserstein")
    seen = []

    def no_zero_out(t: Target) -> dict:
        seen.append((t.corruption.name, t.selection.mode, t.corruption.dims))
        return {"ok": t.corruption.name != "zero_out_top_k"}

    families = ["zero_out_top_k", "flip_sign_top_k"]
    r = fit_corruption(tiny_eco(), _target(), obj, families, FitConfig(seeds=1), grid=7, refine=0,
                       admissible=no_zero_out)  # fmt: skip
    assert r.name == "flip_sign_top_k" and r.objective > 0.0
    assert seen[0] == ("zero_out_top_k", "all_but_last", 16)  # the fitted point is what is checked
    assert [c["check"]["ok"] for c in r.candidates] == [False, True]
    assert "among the candidates that pass the check" in r.reason and "(fails the check)" in r.reason
    r = fit_corruption(tiny_eco(), _target(), obj, families, FitConfig(seeds=1), grid=7, refine=0,
                       admissible=lambda t: {"ok": False})  # fmt: skip
    assert r.name == "zero_out_top_k" and "no candidate passes the check" in r.reason


def test_a_failing_candidate_backs_off_to_its_best_weaker_point_that_passes(tiny_eco):
    """zero_out_top_k fits k = 16 (the reference made by it) but the check passes only k < 16: the candidate
    backs off to the weaker point with the lowest objective, and the record keeps the point it left. With
    ``backoff=0`` nothing weaker is checked."""
    reference = log_truth_ratios(tiny_eco([_target(name="zero_out_top_k", dims=16)]), ITEMS)
    obj = DistributionObjective(ITEMS, reference.tolist(), "wasserstein")
    seen = []

    def small_k(t: Target) -> dict:
        seen.append(t.corruption.dims)
        return {"ok": t.corruption.dims < 16}

    r = fit_corruption(tiny_eco(), _target(), obj, ["zero_out_top_k"], FitConfig(seeds=1), grid=7, refine=0,
                       admissible=small_k)  # fmt: skip
    c = r.candidates[0]
    weaker = [p for p in r.trajectory if p["dims"] < 16]
    assert seen[0] == 16 and len(seen) == 2 == c["checks"]
    assert r.dims == c["dims"] == seen[1] < 16
    assert r.objective == c["objective"] == min(p["objective"] for p in weaker) > 0.0
    assert c["backed_off_from"]["dims"] == 16 and c["backed_off_from"]["objective"] == 0.0
    assert c["check"]["ok"] and not c["backed_off_from"]["check"]["ok"]
    assert "(backed off from k=16, which fails the check) has the lowest" in r.reason
    seen.clear()
    r = fit_corruption(tiny_eco(), _target(), obj, ["zero_out_top_k"], FitConfig(seeds=1), grid=7, refine=0,
                       admissible=small_k, backoff=0)  # fmt: skip
    assert seen == [16] and "backed_off_from" not in r.candidates[0] and "no candidate passes" in r.reason


def test_candidates_within_the_lowests_bootstrap_interval_are_tied_and_the_preferred_family_wins_them(tiny_eco):
    """zero_out_top_k k = 16 made the reference (objective 0), but eight fit items cannot tell it from
    flip-sign: the lowest's 90 % bootstrap interval reaches past flip-sign's objective, so flip-sign, the
    preferred family, wins the tie. Without a preference the lowest wins, and the record says who was tied."""
    reference = log_truth_ratios(tiny_eco([_target(name="zero_out_top_k", dims=16)]), ITEMS)
    obj = DistributionObjective(ITEMS, reference.tolist(), "ks")
    families = ["zero_out_top_k", "flip_sign_top_k"]
    r = fit_corruption(tiny_eco(), _target(), obj, families, FitConfig(seeds=1), grid=7, refine=0, ties=0.9,
                       prefer=["flip_sign_top_k"])  # fmt: skip
    zero, flip = r.candidates
    assert zero["objective"] == 0.0 < flip["objective"] <= zero["bootstrap"][1]
    assert zero["tied"] and flip["tied"] and r.name == "flip_sign_top_k" and r.objective == flip["objective"]
    assert "is tied with the lowest distribution objective" in r.reason
    assert "flip_sign_top_k is preferred among ties" in r.reason
    assert r.forward_passes == (r.evaluations + 2) * obj.cost()  # one bootstrapped evaluation per candidate
    r = fit_corruption(tiny_eco(), _target(), obj, families, FitConfig(seeds=1), grid=7, refine=0, ties=0.9)
    assert r.name == "zero_out_top_k" and "tied with the lowest (zero_out_top_k k=16, 0.0000)" in r.reason
    with pytest.raises(ValueError, match="ties needs a coverage"):
        fit_corruption(tiny_eco(), _target(), obj, families, ties=1.5)
    with pytest.raises(ValueError, match="the likelihood objective"):
        fit_corruption(tiny_eco(), _target(), LikelihoodObjective(ITEMS), families, ties=0.9)
    with pytest.raises(ValueError, match="needs ties and names only searched families"):
        fit_corruption(tiny_eco(), _target(), obj, families, ties=0.9, prefer=["rand_noise_first_n"])
