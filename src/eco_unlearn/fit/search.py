"""Fitting the corruption strength σ by zeroth-order optimisation (no gradients, no weight updates).

f(x) = |mean over noise seeds of v_f(σ) − v̂_r| (+ penalty), with x = log σ, or x = (log σ, log dims) for the
vector variant. Every evaluation uses the same noise seeds (common random numbers: σ+μ and σ−μ see the
same standard-normal draws), so differences between evaluations come from σ, not from the noise.

The search, step by step:
1. **bracketing**: corruption moves the metric from its clean value toward (and past) the surrogate as σ
   grows, so a bracket on log σ is narrowed by false position on metric − surrogate over [σ_min, σ_max]
   (each new point kept inside the middle 80% of the bracket); a flat region (σ too small to matter, or
   saturated) cannot trap it, because the ends are fixed by the sign of metric − surrogate;
2. **two-point ZO**: probe f(x ± μ·u) along a direction u (±1 for the scalar case, a random unit vector for
   the vector case) and estimate the directional derivative;
3. **step-size control**: try x − η·sign(g)·u; accept the best of {probes, trial} if it improves f and grow
   η, else halve η; when both probes are equal (flat), double μ instead, so the probe widens until it sees
   the slope;
4. **stop** at f ≤ tol, when η falls below ``min_step``, or when the budget of LLM forward passes is spent.
On a monotone metric the bracket usually reaches the tolerance alone; the ZO steps matter when noise or a
non-monotone metric (e.g. accuracy dipping below chance, then recovering) leaves it short.
5. **least corruption** (opt-in ``prefer_small``): saturating noise often sits at chance too, so once a
   point is within tolerance, bisection can look for the smallest σ that still is, down to a bracket of 4μ.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from eco_unlearn.console import track
from eco_unlearn.core.corruptions import get_corruption
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.fileio import pyplot, save_figure
from eco_unlearn.fit.evaluator import Evaluator, FitConfig, FitResult
from eco_unlearn.fit.family import fit_corruption, plot_families
from eco_unlearn.fit.objectives import Objective
from eco_unlearn.gate.targets import Target


class DataOverlapError(ValueError):
    """Fit data and evaluation data share prompts."""


def check_disjoint(fit_keys: list[str], eval_keys: list[str]) -> None:
    both = sorted(set(fit_keys) & set(eval_keys))
    if both:
        shown = "; ".join(repr(k) for k in both[:3])
        raise DataOverlapError(f"{len(both)} prompt(s) are in both the fit and the evaluation data: {shown}")


def fit_sigma(
    eco: ECOModel,
    target: Target,
    objective: Objective,
    cfg: FitConfig | None = None,
    start_sigma: float | None = None,
    bracket: bool = True,
) -> FitResult:
    """Fit ``target``'s σ (and dims with ``cfg.fit_dims``) on ``eco``'s model; returns the best point seen."""
    cfg = cfg or FitConfig()
    t0 = time.perf_counter()
    table = eco.model.get_input_embeddings().weight
    std, d_model = float(table.detach().float().std()), table.shape[1]
    lo = math.log(cfg.sigma_min or 1e-1 * std)
    hi = math.log(cfg.sigma_max or 1e4 * std)
    if not lo < hi:
        raise ValueError("sigma_min must be below sigma_max")
    F = Evaluator(eco, target, objective, cfg, d_model)
    dims0 = target.corruption.dims or d_model
    rng = np.random.default_rng(cfg.seed)
    best: list = [math.inf, None]  # (f, x)

    def f_at(x: np.ndarray, kind: str) -> tuple[float, float]:
        f, v = F(x, kind)
        if f < best[0]:
            best[:] = [f, x]
        return f, v

    def point(log_sigma: float) -> np.ndarray:
        return np.array([log_sigma, math.log(dims0)] if cfg.fit_dims else [log_sigma])

    mu = cfg.mu
    if bracket:
        # Corruption moves the metric from the clean value toward (and past) the surrogate as σ grows, so
        # bisect log σ on the sign of metric − surrogate. Flat ends cannot stall it: only the sign is read.
        a, b = lo, hi
        va = f_at(point(a), "bracket")[1] - objective.surrogate()
        vb = f_at(point(b), "bracket")[1] - objective.surrogate()
        while va * vb < 0 and b - a > cfg.min_step and best[0] > cfg.tol and F.affordable():
            # false position in log σ, kept inside the middle 80% so a skewed curve still halves the bracket
            m = a + (b - a) * min(0.9, max(0.1, va / (va - vb)))
            vm = f_at(point(m), "bracket")[1] - objective.surrogate()
            a, va, b, vb = (m, vm, b, vb) if vm * va > 0 else (a, va, m, vm)
    else:
        f_at(point(math.log(start_sigma or max(target.corruption.strength, 1e-12))), "start")

    x, fx = best[1], best[0]
    eta, stopped = cfg.step, "max_iters"
    for _ in track(range(cfg.max_iters), "σ fit: zeroth-order steps"):
        if fx <= cfg.tol:
            stopped = "tolerance"
            break
        if eta < cfg.min_step:
            stopped = "converged"
            break
        if not F.affordable():
            stopped = "budget"
            break
        u = np.ones(1) if len(x) == 1 else (lambda z: z / np.linalg.norm(z))(rng.normal(size=len(x)))
        fp, fm = f_at(x + mu * u, "probe")[0], f_at(x - mu * u, "probe")[0]
        if fp == fm:  # flat along u: widen the probe until it sees the slope
            mu *= 2
        else:
            g = (fp - fm) / (2 * mu)
            if F.affordable():
                f_at(x - eta * np.sign(g) * u, "step")
            eta = eta * 1.5 if best[0] < fx else eta / 2
            mu = min(mu, max(eta, cfg.min_step))
        x, fx = best[1], best[0]
    else:
        stopped = "tolerance" if fx <= cfg.tol else "max_iters"

    if cfg.prefer_small and fx <= cfg.tol and F.affordable():
        x, fx = _shrink(F, objective, cfg, x, fx)

    sigma, dims = F.params(x)
    value = next(t["metric"] for t in F.trajectory if t["sigma"] == sigma and t["dims"] == dims)
    return FitResult(
        sigma,
        dims,
        fx,
        value,
        objective.surrogate(),
        len(F.cache),
        F.forward_passes,
        time.perf_counter() - t0,
        stopped,
        F.trajectory,
    )


def _shrink(F: Evaluator, objective: Objective, cfg: FitConfig, x: np.ndarray, fx: float):
    """Least corruption that still meets the tolerance: bisect log σ between the largest evaluated σ below
    the best one that is still on the clean side (metric − surrogate with the clean sign) and the best."""
    clean_sign = np.sign(F.trajectory[0]["metric"] - objective.surrogate()) if F.trajectory else 1.0
    below = [
        t
        for t in F.trajectory
        if t["sigma"] < math.exp(x[0])
        and t["objective"] > cfg.tol
        and np.sign(t["metric"] - objective.surrogate()) == clean_sign
    ]
    if not below:
        return x, fx
    a = math.log(max(t["sigma"] for t in below))
    while x[0] - a > 4 * cfg.mu and F.affordable():
        m = x.copy()
        m[0] = (a + x[0]) / 2
        f, _ = F(m, "shrink")
        if f <= cfg.tol:
            x, fx = m, f
        else:
            a = m[0]
    return x, fx


def grid_search(
    eco: ECOModel, target: Target, objective: Objective, points: int = 20, cfg: FitConfig | None = None
) -> FitResult:
    """The dense log-grid baseline over the same range: every point evaluated, the best kept."""
    cfg = cfg or FitConfig()
    t0 = time.perf_counter()
    table = eco.model.get_input_embeddings().weight
    std = float(table.detach().float().std())
    F = Evaluator(eco, target, objective, cfg, table.shape[1])
    xs = np.linspace(math.log(cfg.sigma_min or 1e-1 * std), math.log(cfg.sigma_max or 1e4 * std), points)
    fs = [F(np.array([x]), "grid")[0] for x in track(xs, "σ grid search")]
    i = int(np.argmin(fs))
    sigma, dims = F.params(np.array([xs[i]]))
    return FitResult(
        sigma,
        dims,
        fs[i],
        F.trajectory[i]["metric"],
        objective.surrogate(),
        len(F.cache),
        F.forward_passes,
        time.perf_counter() - t0,
        "grid",
        F.trajectory,
    )


def _hash(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def evaluate(eco: ECOModel, target: Target, objective: Objective, seeds: int = 3, seed: int = 0) -> dict:
    """Objective and metric of ``target`` at its current settings (same seeds as the fit)."""
    cfg = FitConfig(seeds=seeds, seed=seed)
    F = Evaluator(eco, target, objective, cfg, eco.hidden_size)
    c = target.corruption
    f, value = F(np.array([math.log(max(c.strength, 1e-300))]), "eval")
    return {"objective": f, "metric": value, "surrogate": objective.surrogate()}


def plot_trajectory(result: FitResult, path, title: str) -> None:
    plt = pyplot()

    tr = result.trajectory
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    kinds = (("bracket", "s"), ("grid", "s"), ("probe", "."), ("step", "o"), ("start", "^"), ("shrink", "v"))
    for kind, marker in kinds:
        pts = [t for t in tr if t["kind"] == kind]
        if pts:
            a.scatter([t["sigma"] for t in pts], [t["objective"] for t in pts], marker=marker, label=kind)
    a.scatter([result.sigma], [result.objective], marker="*", s=200, color="black", label=f"fit σ = {result.sigma:.4g}")
    a.set(xscale="log", xlabel="σ", ylabel="objective |metric − surrogate|", title=title)
    a.legend(fontsize=8)
    best = np.minimum.accumulate([t["objective"] for t in tr])
    b.plot(range(1, len(tr) + 1), [t["objective"] for t in tr], ".", alpha=0.5, label="evaluated")
    b.plot(range(1, len(tr) + 1), best, "-", label="best so far")
    b.set(xlabel="evaluation", ylabel="objective", title=f"{result.forward_passes} forward passes, {result.stopped}")
    b.legend(fontsize=8)
    save_figure(fig, path)


def fit_bundle(
    directory,
    objective: Objective,
    *,
    model: str = "smollm2",
    cfg: FitConfig | None = None,
    eval_objective: Objective | None = None,
    bracket: bool = True,
    families: list[str] | None = None,
    selections: list[str] | None = None,
    admissible: Callable[[ECOModel], Callable[[Target], dict]] | None = None,
    ties: float | None = None,
    prefer: list[str] | None = None,
) -> dict:
    """Fit a bundle's σ in place: refuses fit/eval overlap, records before/after, trajectory and plot.

    With ``families`` the corruption family is searched too (``family.fit_corruption``: σ or k per family,
    the lowest objective wins); the record then says which families were tried and why one was chosen.
    ``selections`` (token selection modes) widen that search and ``admissible`` constrains it: given the
    loaded model, it returns the check each candidate must pass (``fit_corruption``'s ``admissible``; e.g.
    ``lambda eco: evaluation.fluency.fluent_check(eco, prompts)``); ``ties`` and ``prefer`` break ties within
    the objective's bootstrap interval (``fit_corruption``); all of them need ``families``."""
    from pathlib import Path

    cfg = cfg or FitConfig()
    directory = Path(directory)
    target = Target.load(directory)
    if (selections or admissible or ties is not None or prefer) and not families:
        raise ValueError("searching token selections, checking candidates or breaking ties needs a family search "
                         "(--families)")  # fmt: skip
    if not families and not get_corruption(target.corruption.name).uses_strength:
        raise ValueError(
            f"target {target.name!r} uses {target.corruption.name}, which has no σ to fit: pass --families "
            "default to choose a family and its σ or k, or create it with a noise corruption"
        )
    if eval_objective is not None:
        check_disjoint(objective.keys(), eval_objective.keys())
    eco = ECOModel.from_pretrained(model)
    before = evaluate(eco, target, objective, cfg.seeds, cfg.seed)
    eval_before = evaluate(eco, target, eval_objective, cfg.seeds, cfg.seed) if eval_objective else None
    family = None
    if families:
        family = fit_corruption(eco, target, objective, families, cfg, selections=selections,
                                admissible=admissible(eco) if admissible else None, ties=ties,
                                prefer=prefer or ())  # fmt: skip
        result = FitResult(family.strength, family.dims, family.objective, family.metric, objective.surrogate(),
                           family.evaluations, family.forward_passes, family.seconds, "family search",
                           family.trajectory)  # fmt: skip
        fitted = target.with_selection(mode=family.selection).with_corruption(
            name=family.name, strength=family.strength, dims=family.dims
        )
    else:
        result = fit_sigma(eco, target, objective, cfg, bracket=bracket)
        fitted = target.with_corruption(strength=result.sigma, dims=result.dims)
    record = {
        "objective": objective.name,
        "model": model,
        "surrogate": result.surrogate,
        "before": {
            "corruption": target.corruption.name,
            "selection": target.selection.mode,
            "sigma": target.corruption.strength,
            "dims": target.corruption.dims,
            **before,
        },
        "after": {
            "corruption": fitted.corruption.name,
            "selection": fitted.selection.mode,
            "sigma": result.sigma,
            "dims": result.dims,
            "objective": result.objective,
            "metric": result.metric,
        },  # fmt: skip
        "evaluations": result.evaluations,
        "forward_passes": result.forward_passes,
        "seconds": result.seconds,
        "stopped": result.stopped,
        "config": asdict(cfg),
        "fit_data": {"items": len(objective.keys()), "sha256_16": [_hash(k) for k in objective.keys()]},
        "trajectory": result.trajectory,
    }
    if family is not None:
        record["family"] = {"chosen": family.name, "selection": family.selection, "reason": family.reason,
                            "candidates": family.candidates}  # fmt: skip
    if eval_objective is not None:
        record["eval"] = {"before": eval_before, "after": evaluate(eco, fitted, eval_objective, cfg.seeds, cfg.seed)}
    if family is not None:
        fig = plot_families(family.candidates, family.trajectory, family.name, f"{objective.name} objective",
                            chosen_selection=family.selection)  # fmt: skip
        save_figure(fig, directory / "fit.png")
    else:
        plot_trajectory(result, directory / "fit.png", f"target {target.name}: {objective.name} objective")
    fitted.manifest = fitted.manifest.model_copy(update={"fit": record})
    fitted.save(directory)  # the manifest is the commit point
    return record


def refuse_fit_overlap(directory, eval_keys: list[str]) -> None:
    """For evaluation code: refuse data that the bundle's σ was fitted on."""
    from eco_unlearn.gate.targets import read_manifest

    fit = read_manifest(directory).fit or {}
    fitted = set(fit.get("fit_data", {}).get("sha256_16", []))
    both = [k for k in eval_keys if _hash(k) in fitted]
    if both:
        raise DataOverlapError(f"{len(both)} evaluation prompt(s) were used to fit σ: {both[0]!r} …")
