"""`eco bench fit`: the σ search against a dense 20-point log-grid, side by side, on SmolLM2.

Forget data: chemistry cloze items (fit) and disjoint held-out items of the same domain (eval). For each
corruption variant, the fitter runs to its tolerance; the grid evaluates all its points over the same
σ range with the same seeds. Reported: evaluations, forward passes and wall time of both; the grid's best
objective; how many grid points an ascending sweep needs before it first reaches the fitter's objective
(the most favourable reading for the grid); held-out accuracy at both σ; and a trajectory plot.
"""

from __future__ import annotations

from pathlib import Path

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.domains import domain_mcq
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.fit.objectives import MCQItem, MCQObjective
from eco_unlearn.fit.search import FitConfig, evaluate, fit_sigma, grid_search, plot_trajectory
from eco_unlearn.gate.targets import Target

VARIANTS = {"noise_all_dims": None, "noise_first_dim": 1}


def run(
    model: str = "smollm2", n_items: int = 40, seeds: int = 2, grid_points: int = 20, out: Path | None = None
) -> dict:
    items = [MCQItem(m.prompt, list(m.options), m.answer) for m in domain_mcq("chemistry", 2 * n_items, seed=5)]
    fit_obj, eval_obj = MCQObjective(items[:n_items]), MCQObjective(items[n_items:])
    eco = ECOModel.from_pretrained(model)
    cfg = FitConfig(seeds=seeds)
    result: dict = {
        "command": f"eco bench fit --model {model} --n-items {n_items} --seeds {seeds} --grid-points {grid_points}",
        "clean_accuracy": {
            "fit": MCQObjective.accuracy(eco, fit_obj.items),
            "eval": MCQObjective.accuracy(eco, eval_obj.items),
        },
        "surrogate": fit_obj.surrogate(),
        "variants": {},
    }
    for name, dims in VARIANTS.items():
        target = Target.create("chem", corruption={"name": "rand_noise_first_n", "strength": 1.0, "dims": dims})
        zo = fit_sigma(eco, target, fit_obj, cfg)
        grid = grid_search(eco, target, fit_obj, grid_points, cfg)
        sweep = next((i + 1 for i, t in enumerate(grid.trajectory) if t["objective"] <= zo.objective), None)
        if out:
            plot_trajectory(zo, out.parent / f"fit_{name}.png", f"σ fit, {name} (bracketing + ZO)")
        result["variants"][name] = {
            "fit": {
                k: getattr(zo, k)
                for k in ("sigma", "objective", "metric", "evaluations", "forward_passes", "seconds", "stopped")
            },
            "grid": {
                k: getattr(grid, k)
                for k in ("sigma", "objective", "metric", "evaluations", "forward_passes", "seconds")
            },
            "grid_points_to_reach_fit_objective_ascending": sweep,
            "evaluations_ratio_fit_vs_grid": zo.evaluations / grid.evaluations,
            "seconds_ratio_fit_vs_grid": zo.seconds / grid.seconds,
            "heldout": {
                "fit_sigma": evaluate(eco, target.with_corruption(strength=zo.sigma), eval_obj, seeds),
                "grid_sigma": evaluate(eco, target.with_corruption(strength=grid.sigma), eval_obj, seeds),
            },
        }
    if out:
        atomic_write_json(out, result)
    return result
