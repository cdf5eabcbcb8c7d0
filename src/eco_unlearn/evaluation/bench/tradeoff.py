"""The strength trade-off: what each corruption family does to forget and retain prompts as σ or k grows.

The paper leaves the strength open. A fit picks one point; this draws the whole curve per family, with the
served point marked, so a reader sees how far that point is from the cliff. Every prompt is corrupted along
the curve (a gate that flags everything): the forget line is what the corruption removes, and the retain and
general lines are what a *false positive* of the gate would cost at that strength. With a precise gate the
served retain and general figures stay the original's at any strength (unflagged prompts run unchanged), so
the curves show the price of a gate error, not of the corruption as served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from eco_unlearn.console import track
from eco_unlearn.core.corruptions import get_corruption
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.fileio import png_base64, pyplot
from eco_unlearn.gate.targets import AlwaysGate, Target

SIGMAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4)
"""σ along a noise family's curve, in embedding standard deviations (a fitted σ is added)."""
SHARES = (1 / 64, 1 / 16, 1 / 4, 1.0)
"""k along a top-k or first-n family's curve, as a share of the embedding dimensions (d/64 … d)."""


def family_points(name: str, hidden: int, *, dims: int | None = None, served: Sequence[float] = ()) -> list[dict]:
    """The corruption settings along ``name``'s curve: σ over :data:`SIGMAS` at ``dims`` for a family with a
    strength, k over :data:`SHARES` of ``hidden`` dims otherwise; the ``served`` σ or k is added."""
    spec = get_corruption(name)
    if spec.uses_strength:
        return [{"name": name, "strength": s, "dims": dims} for s in sorted({*SIGMAS, *served})]
    if spec.uses_dims:
        ks = {max(1, round(hidden * f)) for f in SHARES} | {int(k) for k in served}
        return [{"name": name, "dims": k} for k in sorted(ks)]
    return [{"name": name}]


def points_around(served: Mapping[str, dict], hidden: int) -> dict[str, list[dict]]:
    """Each row's curve (:func:`family_points`) through its served setting (``name``, ``strength``,
    ``dims``; dims None: every one of ``hidden``)."""
    out = {}
    for row, s in served.items():
        if get_corruption(s["name"]).uses_strength:
            out[row] = family_points(s["name"], hidden, dims=s.get("dims"), served=[s["strength"]])
        else:
            out[row] = family_points(s["name"], hidden, served=[s.get("dims") or hidden])
    return out


Score = Callable[[ECOModel, Any, int], float]
"""``score(eco, items, seed)``: one figure of one set under one corruption setting."""


def strength_curves(
    plain: ECOModel,
    target: Target,
    sets: Mapping[str, Any],
    score: Score | Mapping[str, Score],
    points: Mapping[str, list[dict]],
    seeds: int = 1,
) -> dict[str, list[dict]]:
    """Per family, one row per point of ``points[family]``: the corruption settings and ``score(eco, items,
    seed)`` on every set of ``sets`` with every prompt corrupted, averaged over ``seeds`` noise draws for a
    family with a strength (the seeds a bench's own rows use, so a curve point at the served setting equals
    that row wherever the gate flags the whole set).

    ``score`` may be one scorer per set (a set's items are then whatever its scorer reads, such as several
    utility sets at once), and a point may carry a token ``selection`` mode besides its corruption."""
    always = Target(target.manifest, AlwaysGate())
    flat = [(family, p) for family, ps in points.items() for p in ps]
    out: dict[str, list[dict]] = {family: [] for family in points}
    for family, setting in track(flat, "strength trade-off"):
        corruption = {k: v for k, v in setting.items() if k != "selection"}
        t = always.with_corruption(**corruption)
        t = t.with_selection(mode=setting["selection"]) if "selection" in setting else t
        eco = ECOModel(plain.model, plain.tokenizer, [t])
        n = seeds if get_corruption(setting["name"]).uses_strength else 1
        row = {k: v for k, v in setting.items() if k != "name"}
        for s, items in sets.items():
            scorer = score[s] if isinstance(score, Mapping) else score
            row[s] = float(np.mean([scorer(eco, items, seed) for seed in range(n)]))
        out[family].append(row)
    return out


def curves_png(curves: dict[str, list[dict]], served: Mapping[str, dict], original: Mapping[str, float],
               ylabel: str, title: str = "", guide: float | None = None) -> str:  # fmt: skip
    """One panel per family: each set's score against σ or k (log axis), the original model's scores dashed
    in the same colours, ``guide`` (chance, or a goal) dotted, and the served setting starred on every line."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.8), squeeze=False, layout="constrained")
    for ax, (family, rows) in zip(axes[0], curves.items()):
        key = "strength" if "strength" in rows[0] else "dims"
        x = [r[key] for r in rows]
        at = served.get(family, {}).get(key)
        for i, s in enumerate(original):
            color = f"C{i}"
            ax.plot(x, [r[s] for r in rows], ".-", color=color, label=f"{s} (every prompt corrupted)")
            ax.axhline(original[s], color=color, linestyle="--", linewidth=0.8)
            hit = [r[s] for r in rows if r[key] == at]
            if hit:
                ax.scatter([at], hit[:1], marker="*", s=150, color=color, edgecolor="black", zorder=3)
        if guide is not None:
            ax.axhline(guide, color="black", linestyle=":", linewidth=1)
        ax.set(xscale="log", xlabel="σ (embedding stds)" if key == "strength" else "k (dims)", ylabel=ylabel,
               title=f"{title}{family}", ylim=(0, 1.05))  # fmt: skip
    # one legend under the panels: inside them it hides the lines that lie low (forget quality near zero)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=7, frameon=False)
    return png_base64(fig)


__all__ = ["SHARES", "SIGMAS", "Score", "curves_png", "family_points", "points_around", "strength_curves"]
