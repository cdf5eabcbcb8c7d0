"""Choosing the corruption *family* and its parameter, not only σ (zeroth-order, budgeted, reproducible).

The paper's best TOFU rows do not use random noise: they zero out or flip each token's top-k embedding
dimensions with a tuned k. Which family reproduces a never-trained model best is an empirical question per
model and task, so :func:`fit_corruption` answers it with the same currency as the σ fit: objective
evaluations, each a batch of LLM forward passes with no gradient.

Per family, one parameter is searched on a log scale:
- families that read σ (``rand_noise_*``): σ over [0.1, 1e3] × the embedding table's std, every dimension
  (or the target's dims);
- families that read only k (``zero_out_top_k``, ``flip_sign_top_k``, …): k over d, d/2, …, d/64.
The search is a coarse log-grid (every point evaluated with the same noise seeds: common random numbers),
then golden-section refinement between the best point's grid neighbours. A grid, not a gradient step,
because distribution distances such as KS are step functions of the parameter. The family with the lowest
objective wins; every candidate and the reason for the choice are returned for the bundle's record.

``selections`` (opt-in) makes *which tokens* a search axis too: each family is searched under each token
selection mode (e.g. the names only vs every token), and a candidate is a (family, selection) pair. What
a selection costs outside the objective (whole-prompt corruption derails generation) is weighed by
``admissible``, an optional check of each candidate's fitted point (say, that its generations stay fluent and
on topic): the lowest objective among the candidates that pass it wins, and every candidate's check is
recorded. A candidate whose best point fails the check *backs off*: its weaker evaluated points (smaller σ
or k), lowest objective first, are checked in turn (at most ``backoff`` of them) and the first that passes
stands for it. The strongest corruption is rarely the only fluent one, and without a back-off a fit whose
candidates all fail just short of the check would have to serve the lowest objective, derailing or not.

``ties`` (opt-in) admits that a sample objective cannot rank candidates closer than its own sampling noise.
Each candidate that passes the check is re-scored at its fitted point under bootstrap resamples of the fit
items and of the reference (``objective.bootstrap``, the same resamples for every candidate). The candidates
whose objective is no higher than the upper end of the lowest one's ``ties`` interval (0.9: its 95th
percentile) are tied with it, and among them the first family in ``prefer`` wins, then the lowest objective.
For a KS distance the bootstrap distribution sits above the point estimate (resampling only adds noise), so
the upper end is the bound that matters. The rule encodes prior knowledge (e.g. the paper's best family on
a protocol) only where the data cannot decide.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from eco_unlearn.console import track
from eco_unlearn.core.corruptions import get_corruption
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.selection import check_modes
from eco_unlearn.fileio import pyplot
from eco_unlearn.fit.evaluator import Evaluator, FitConfig
from eco_unlearn.fit.objectives import Objective
from eco_unlearn.gate.targets import Target

DEFAULT_FAMILIES: tuple[str, ...] = ("rand_noise_first_n", "zero_out_top_k", "flip_sign_top_k")
_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass
class FamilyFit:
    name: str
    selection: str
    """The token selection mode the chosen candidate was searched under."""
    strength: float
    dims: int | None
    objective: float
    metric: float
    evaluations: int
    forward_passes: int
    seconds: float
    reason: str
    candidates: list[dict] = field(default_factory=list)
    """Per family (and selection, when several were searched): its best parameter and objective."""
    trajectory: list[dict] = field(default_factory=list)


def fit_corruption(
    eco: ECOModel,
    target: Target,
    objective: Objective,
    families: Sequence[str] = DEFAULT_FAMILIES,
    cfg: FitConfig | None = None,
    *,
    grid: int = 7,
    refine: int = 4,
    selections: Sequence[str] | None = None,
    admissible: Callable[[Target], dict] | None = None,
    backoff: int = 3,
    ties: float | None = None,
    prefer: Sequence[str] = (),
) -> FamilyFit:
    """Search each family's parameter (grid, then golden section) and keep the family with the lowest objective.

    ``cfg.budget`` (LLM forward passes) is split evenly between the candidates; ``cfg.seeds`` noise draws per
    evaluation, the same draws at every point. ``selections``: token selection modes to search each family
    under (default: the target's own only). ``admissible(target)`` returns a dict with a boolean ``"ok"``
    (and whatever it measured) for a candidate's fitted target; a candidate that fails it backs off to a
    weaker point that passes (``backoff`` checks at most, see the module docstring); candidates that still
    fail are not chosen unless all fail, which the reason then says. ``ties``: the bootstrap interval's
    coverage within which candidates count as tied, ``prefer`` the families that win a tie, in order (see the
    module docstring; needs an objective with ``bootstrap``).
    """
    if not families:
        raise ValueError("give at least one corruption family")
    for name in families:
        get_corruption(name)  # a clear error for an unknown name, before any forward pass
    if ties is not None and not (0 < ties < 1 and hasattr(objective, "bootstrap")):
        raise ValueError(f"ties needs a coverage in (0, 1) and an objective with a bootstrap; got {ties} and "
                         f"the {objective.name} objective")  # fmt: skip
    if prefer and (ties is None or not set(prefer) <= set(families)):
        raise ValueError(f"prefer ({', '.join(prefer)}) needs ties and names only searched families "
                         f"({', '.join(families)})")  # fmt: skip
    selections = list(selections or [target.selection.mode])
    check_modes(selections)
    cfg = cfg or FitConfig()
    t0 = time.perf_counter()
    table = eco.model.get_input_embeddings().weight
    std, d_model = float(table.detach().float().std()), int(table.shape[1])
    share = None if cfg.budget is None else cfg.budget // (len(families) * len(selections))
    candidates, trajectory, evaluations, passes = [], [], 0, 0
    for mode, name in [(m, f) for m in selections for f in families]:
        c = get_corruption(name)
        t = target.with_selection(mode=mode).with_corruption(
            name=name, strength=target.corruption.strength, dims=target.corruption.dims
        )
        label = name if len(selections) == 1 else f"{name} ({mode} tokens)"  # as _label names it
        fcfg = replace(cfg, budget=share, fit_dims=not c.uses_strength)
        F = Evaluator(eco, t, objective, fcfg, d_model)
        if not (c.uses_strength or c.uses_dims):  # nothing to search (e.g. substitute): one evaluation
            F(np.array([math.log(max(t.corruption.strength, 1e-12))]), "fixed")
            lo = hi = None
        elif c.uses_strength:
            lo, hi = math.log(cfg.sigma_min or 0.1 * std), math.log(cfg.sigma_max or 1e3 * std)

            def point(v: float) -> np.ndarray:
                return np.array([v])
        else:
            lo, hi = math.log(max(1, d_model // 64)), math.log(d_model)

            def point(v: float) -> np.ndarray:
                return np.array([0.0, v])

        if lo is not None:
            _minimise_log(F, point, lo, hi, grid, refine, label)
        top = min(F.trajectory, key=lambda r: r["objective"])  # the first point at the lowest objective
        candidates.append({"name": name, "selection": mode,
                           "strength": top["sigma"] if c.uses_strength else t.corruption.strength,
                           "dims": top["dims"], "objective": top["objective"], "metric": top["metric"],
                           "evaluations": len(F.cache)})  # fmt: skip
        trajectory += [{"family": name, "selection": mode, **r} for r in F.trajectory]
        evaluations, passes = evaluations + len(F.cache), passes + F.forward_passes
        if admissible is not None:
            _check(candidates[-1], F.trajectory, t, admissible, backoff)
    passed = [r for r in candidates if admissible is None or r["check"]["ok"]]
    best = lowest = min(passed or candidates, key=lambda r: r["objective"])
    tie = ""
    if ties is not None and len(passed) > 1:
        best, tie = break_ties(eco, target, objective, passed, cfg, ties, prefer, selections)
        passes += objective.cost() * cfg.seeds * len(passed)  # one bootstrapped evaluation per candidate
    others = "; ".join(f"{_label(r, selections)}: {r['objective']:.4f}{_failed(r)}" for r in candidates
                       if r is not best)  # fmt: skip
    among = "" if admissible is None else " among the candidates that pass the check" if passed else (
        ", though no candidate passes the check")  # fmt: skip
    backed = _failed(best) if passed else ""  # a passing candidate may have backed off to get there
    verdict = "has the lowest" if best is lowest else "is tied with the lowest"
    reason = (f"{_label(best, selections)}{backed} {verdict} {objective.name} objective{among}, "
              f"{best['objective']:.4f}" + (f" (others: {others})" if others else "") + tie)  # fmt: skip
    return FamilyFit(best["name"], best["selection"], best["strength"], best["dims"], best["objective"],
                     best["metric"], evaluations, passes, time.perf_counter() - t0, reason, candidates,
                     trajectory)  # fmt: skip


def break_ties(eco: ECOModel, target: Target, objective: Objective, passed: list[dict], cfg: FitConfig,
                ties: float, prefer: Sequence[str], selections: Sequence[str]) -> tuple[dict, str]:  # fmt: skip
    """Bootstrap each passing candidate's objective at its point (recorded as ``bootstrap``, the ``ties``
    interval), mark those no higher than the lowest one's upper end as ``tied`` and return the winner of
    the tie (first ``prefer`` family, then the lowest objective) with the reason's clause."""
    for r in track(passed, "fit: bootstrap each candidate's objective"):
        t = target.with_selection(mode=r["selection"]).with_corruption(name=r["name"], strength=r["strength"],
                                                                       dims=r["dims"])  # fmt: skip
        eco_t = ECOModel(eco.model, eco.tokenizer, [t], seed=eco.seed)
        boot = objective.bootstrap(eco_t, cfg.noise_seeds(), seed=cfg.seed)
        r["bootstrap"] = [float(np.quantile(boot, (1 - ties) / 2)), float(np.quantile(boot, (1 + ties) / 2))]
    lowest = min(passed, key=lambda r: r["objective"])
    for r in passed:  # the lowest ties with itself even if its point lay above its own interval
        r["tied"] = r is lowest or r["objective"] <= lowest["bootstrap"][1]
    rank = {name: i for i, name in enumerate(prefer)}
    best = min((r for r in passed if r["tied"]), key=lambda r: (rank.get(r["name"], len(rank)), r["objective"]))
    names = ", ".join(_label(r, selections) for r in passed if r["tied"] and r is not lowest) or "none"
    lo, hi = lowest["bootstrap"]
    tie = (f"; tied with the lowest ({_label(lowest, selections)}, {lowest['objective']:.4f}), whose {ties:.0%} "
           f"bootstrap interval is [{lo:.4f}, {hi:.4f}]: {names}")  # fmt: skip
    return best, tie + (f"; {best['name']} is preferred among ties" if best is not lowest else "")


def _check(candidate: dict, points: list[dict], t: Target, admissible: Callable[[Target], dict], backoff: int
           ) -> None:  # fmt: skip
    """Check ``candidate``'s point in place; when it fails, check its weaker evaluated ``points`` (smaller σ, or
    smaller k), lowest objective first, ``backoff`` at most: the first that passes becomes the candidate,
    which keeps the point it backed off from (``backed_off_from``) and how many checks it took."""
    uses_strength = get_corruption(candidate["name"]).uses_strength

    def strength(p: dict) -> float:
        return p["sigma"] if uses_strength else p["dims"] or 0

    def at(p: dict) -> Target:
        return t.with_corruption(strength=p["sigma"] if uses_strength else t.corruption.strength, dims=p["dims"])

    first = {"sigma": candidate["strength"], "dims": candidate["dims"]}
    candidate["check"], candidate["checks"] = admissible(at(first)), 1
    if candidate["check"]["ok"]:
        return
    weaker = {strength(p): p for p in points if strength(p) < strength(first)}  # one per distinct point
    for p in sorted(weaker.values(), key=lambda p: p["objective"])[:backoff]:
        check = admissible(at(p))
        candidate["checks"] += 1
        if check["ok"]:
            candidate["backed_off_from"] = {k: candidate[k] for k in ("strength", "dims", "objective", "metric",
                                                                      "check")}  # fmt: skip
            candidate.update(strength=p["sigma"] if uses_strength else candidate["strength"], dims=p["dims"],
                             objective=p["objective"], metric=p["metric"], check=check)  # fmt: skip
            return


def param_label(r: dict) -> str:
    """A candidate's parameter as the record and the plots name it: ``σ=…``, ``k=…`` or ``(no parameter)``."""
    c = get_corruption(r["name"])
    return f"σ={r['strength']:.4g}" if c.uses_strength else f"k={r['dims']}" if c.uses_dims else "(no parameter)"


def _failed(r: dict) -> str:
    if "backed_off_from" in r:
        return f" (backed off from {param_label(r['backed_off_from'] | {'name': r['name']})}, which fails the check)"
    return " (fails the check)" if "check" in r and not r["check"]["ok"] else ""


def _label(r: dict, selections: Sequence[str]) -> str:
    """``family param``, with the selection mode when more than one was searched."""
    return f"{r['name']} {param_label(r)}" + (f" ({r['selection']} tokens)" if len(selections) > 1 else "")


def _minimise_log(F: Evaluator, point, lo: float, hi: float, grid: int, refine: int, label: str) -> None:
    """Grid over [lo, hi], then golden section between the best grid point's neighbours (every point lands in
    ``F.trajectory``)."""
    xs = list(np.linspace(lo, hi, max(2, grid)))
    fs = []
    for x in track(xs, f"fit {label}: grid"):
        if not F.affordable() and fs:
            break
        fs.append(F(point(x), "grid")[0])
    i = int(np.argmin(fs))
    a, b = xs[max(0, i - 1)], xs[min(len(fs) - 1, i + 1)]
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc = fd = None
    for _ in range(refine):  # one new evaluation per step: golden section reuses the other interior point
        if b - a < 1e-3 or not F.affordable():
            break
        if fc is None:
            fc = F(point(c), "refine")[0]
        elif fd is None:
            fd = F(point(d), "refine")[0]
        else:
            if fc <= fd:
                b, d, fd = d, c, fc
                c = b - _GOLDEN * (b - a)
                fc = F(point(c), "refine")[0]
            else:
                a, c, fc = c, d, fd
                d = a + _GOLDEN * (b - a)
                fd = F(point(d), "refine")[0]


def plot_families(
    candidates: list[dict],
    trajectory: list[dict],
    chosen: str,
    ylabel: str = "objective",
    chosen_selection: str | None = None,
):
    """One panel per candidate (family, and selection when several were searched): the objective against σ
    or k over every evaluated point (the strength trade-off on the fit data), the best point starred and the
    chosen candidate named. Three panels a row."""
    plt = pyplot()
    several = len({x.get("selection") for x in candidates}) > 1
    cols, rows = min(3, len(candidates)), math.ceil(len(candidates) / 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(candidates) :]:
        ax.set_visible(False)
    for ax, c in zip(axes.flat, candidates):
        spec = get_corruption(c["name"])
        sigma, free = spec.uses_strength, not (spec.uses_strength or spec.uses_dims)
        pts = sorted((1.0 if free else t["sigma"] if sigma else t["dims"], t["objective"])
                     for t in trajectory if t["family"] == c["name"]
                     and t.get("selection") == c.get("selection"))  # fmt: skip
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ".-", alpha=0.7)
        best = 1.0 if free else c["strength"] if sigma else c["dims"]
        is_chosen = c["name"] == chosen and chosen_selection in (None, c.get("selection"))
        label = ("chosen: " if is_chosen else "best: ") + param_label(c)
        ax.scatter([best], [c["objective"]], marker="*", s=180, color="black", label=label)
        xlabel = "(no parameter)" if free else "σ" if sigma else "k (top-k dims)"
        title = c["name"] + (f"\n{c['selection']} tokens" if several else "")
        ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
