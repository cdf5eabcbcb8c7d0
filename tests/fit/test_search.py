import json
import math
from dataclasses import dataclass

import pytest

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.domains import domain_mcq
from eco_unlearn.fit.objectives import MCQItem, MCQObjective
from eco_unlearn.fit.search import (
    DataOverlapError,
    FitConfig,
    check_disjoint,
    evaluate,
    fit_bundle,
    fit_sigma,
    grid_search,
    refuse_fit_overlap,
)
from eco_unlearn.gate.targets import Target


@dataclass
class CurveObjective:
    """A known test function of σ (read from the target the fitter hands over): the metric falls from 0.9
    to 0.1 around σ = center, rounded so that it is exactly flat far from the transition."""

    center: float = 2.0
    name: str = "curve"
    calls: int = 0

    def metric(self, eco: ECOModel, seed: int) -> float:
        self.calls += 1
        sigma = eco.targets[0].corruption.strength
        return round(0.1 + 0.8 / (1 + (sigma / self.center) ** 3), 2)

    def surrogate(self) -> float:
        return 0.25

    def penalty(self, eco, seed):
        return 0.0

    def cost(self) -> int:
        return 10

    def keys(self) -> list[str]:
        return ["k"]


def _target(dims=None, strength=1e-3):
    return Target.create("t", corruption={"name": "rand_noise_first_n", "strength": strength, "dims": dims})


def test_bracketing_finds_the_crossing_in_few_evaluations(tiny_eco):
    obj = CurveObjective(center=3.0)
    r = fit_sigma(tiny_eco(), _target(), obj, FitConfig(sigma_min=1e-3, sigma_max=1e3, tol=0.02, seeds=1))
    expected = 3.0 * (0.8 / 0.15 - 1) ** (1 / 3)  # where 0.1 + 0.8 / (1 + (σ/3)^3) = 0.25
    assert r.objective <= 0.02 and r.stopped == "tolerance"
    assert abs(math.log(r.sigma / expected)) < 0.5
    assert r.evaluations <= 10 and r.forward_passes == 10 * r.evaluations


def test_a_flat_start_does_not_stall(tiny_eco):
    """Start deep in the flat region without bracketing: the probe widens until it sees the slope."""
    obj = CurveObjective()
    r = fit_sigma(
        tiny_eco(), _target(), obj, FitConfig(seeds=1, tol=0.02, max_iters=30), start_sigma=1e-4, bracket=False
    )
    flat = r.trajectory[0]["objective"]
    assert flat == pytest.approx(0.65)
    assert r.objective < 0.1 and r.sigma > 0.5  # left the plateau, moved by orders of magnitude


def test_budget_is_respected(tiny_eco):
    r = fit_sigma(tiny_eco(), _target(), CurveObjective(), FitConfig(seeds=2, budget=100, tol=0.0))
    assert r.forward_passes <= 100 and r.stopped == "budget"


def test_vector_variant_moves_dims(tiny_eco):
    cfg = FitConfig(seeds=1, fit_dims=True, tol=-1.0, max_iters=4)  # tol < 0: never satisfied, run all steps
    r = fit_sigma(tiny_eco(), _target(dims=8), CurveObjective(), cfg, start_sigma=2.0, bracket=False)
    assert len({t["dims"] for t in r.trajectory}) > 1 and 1 <= r.dims <= 64


def test_grid_search_evaluates_every_point(tiny_eco):
    g = grid_search(tiny_eco(), _target(), CurveObjective(), 7, FitConfig(sigma_min=1e-2, sigma_max=1e2, seeds=1))
    assert g.evaluations == 7 and g.objective == min(t["objective"] for t in g.trajectory)


def test_fit_on_a_real_tiny_model_is_reproducible(tiny_eco):
    items = [MCQItem(m.prompt, list(m.options), m.answer) for m in domain_mcq("chemistry", 12, seed=3)]
    runs = [
        fit_sigma(tiny_eco(), _target(), MCQObjective(items), FitConfig(seeds=2, max_iters=3, seed=4)) for _ in range(2)
    ]
    assert runs[0].trajectory == runs[1].trajectory and runs[0].sigma == runs[1].sigma


def test_overlap_is_refused():
    with pytest.raises(DataOverlapError, match="1 prompt"):
        check_disjoint(["a", "b"], ["b", "c"])
    check_disjoint(["a"], ["b"])


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, tokenizer):
    from conftest import make_tiny

    d = tmp_path_factory.mktemp("tiny")
    make_tiny("llama", tokenizer).save_pretrained(d)
    tokenizer.save_pretrained(d)
    return d


def test_fit_bundle_updates_the_manifest_and_plots(tmp_path, tiny_dir):
    items = [MCQItem(m.prompt, list(m.options), m.answer) for m in domain_mcq("chemistry", 16, seed=3)]
    _target().save(tmp_path / "t")
    rec = fit_bundle(
        tmp_path / "t",
        MCQObjective(items[:8]),
        model=str(tiny_dir),
        cfg=FitConfig(seeds=1, max_iters=2),
        eval_objective=MCQObjective(items[8:]),
    )
    back = Target.load(tmp_path / "t")
    assert back.corruption.strength == pytest.approx(rec["after"]["sigma"])
    assert back.manifest.fit["trajectory"] and set(rec["eval"]) == {"before", "after"}
    assert (tmp_path / "t" / "fit.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "t" / "target.json").read_text())["fit"]["fit_data"]["items"] == 8
    with pytest.raises(DataOverlapError):
        refuse_fit_overlap(tmp_path / "t", [items[0].prompt.lower()])
    refuse_fit_overlap(tmp_path / "t", [items[9].prompt.lower()])
    with pytest.raises(DataOverlapError):
        fit_bundle(
            tmp_path / "t", MCQObjective(items[:8]), model=str(tiny_dir), eval_objective=MCQObjective(items[4:12])
        )


def test_fit_bundle_refuses_a_corruption_without_sigma_unless_families_are_searched(tmp_path):
    items = [MCQItem(m.prompt, list(m.options), m.answer) for m in domain_mcq("chemistry", 8, seed=5)]
    Target.create("t", corruption={"name": "flip_sign_first_n", "dims": None}).save(tmp_path / "t")
    with pytest.raises(ValueError, match="flip_sign_first_n, which has no σ to fit: pass --families"):
        fit_bundle(tmp_path / "t", MCQObjective(items), model=str(tmp_path / "not-loaded"))


def test_smollm2_fit_reaches_chance_on_fit_and_heldout(smol):
    """The paper's claim in miniature: σ learned without gradients brings forget accuracy to chance."""
    items = [MCQItem(m.prompt, list(m.options), m.answer) for m in domain_mcq("chemistry", 80, seed=5)]
    fit_obj, eval_obj = MCQObjective(items[:40]), MCQObjective(items[40:])
    eco = ECOModel(*smol)
    assert MCQObjective.accuracy(eco, fit_obj.items) > 0.7  # the model knows the symbols
    target = _target(dims=None, strength=1.0)
    r = fit_sigma(eco, target, fit_obj, FitConfig(seeds=2, tol=0.02))
    assert abs(r.metric - 0.25) <= 0.05
    held = evaluate(eco, target.with_corruption(strength=r.sigma), eval_obj, seeds=2)
    assert abs(held["metric"] - 0.25) <= 0.05


@dataclass
class SaturatingObjective(CurveObjective):
    """Falls from 0.9 to exactly chance (0.25) and stays there: every large σ is within tolerance."""

    def metric(self, eco: ECOModel, seed: int) -> float:
        sigma = eco.targets[0].corruption.strength
        return round(0.25 + 0.65 / (1 + (sigma / self.center) ** 4), 2)


def test_the_least_corruption_within_tolerance_is_preferred(tiny_eco):
    cfg = FitConfig(sigma_min=1e-3, sigma_max=1e4, tol=0.02, seeds=1, prefer_small=True)
    small = fit_sigma(tiny_eco(), _target(), SaturatingObjective(center=1.0), cfg)
    assert small.objective <= 0.02 and 1.0 < small.sigma < 10.0  # the σ_max end (1e4) also qualifies
    big = fit_sigma(
        tiny_eco(), _target(), SaturatingObjective(center=1.0), FitConfig(**{**cfg.__dict__, "prefer_small": False})
    )
    assert big.sigma == pytest.approx(1e4)
