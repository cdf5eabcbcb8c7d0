"""`eco bench cost`: what setting up each method costs as the forget corpus grows and as the model grows.

A removal request arrives as a body of text (here: chunks of *Pride and Prejudice*, the copyright task).

- **ECO's setup** is the gate (classifier on at most 200 sampled windows of that text vs other Austen
  novels, cross-conformal calibration, verbatim n-gram index of the whole text) plus the corruption fit
  (the copyright bench's family search: a fixed budget of forward passes on a fixed sample of the text).
  Only the verbatim index reads the whole corpus, by hashing; the served LLM never does.
- **A baseline** (GA, GD, KL, NPO, NPO-RT) trains the served model on the whole corpus for 5 epochs
  (``UnlearnConfig``), every token through a forward and a backward pass.

Two axes, one run each: the **corpus** (``scales`` × ``unit_chunks`` chunks on one model) and the **model**
(135M → 270M → 0.5B at the smallest corpus). Every arm runs in a fresh process, one at a time, so its wall
time and peak resident memory (sampled from /proc, model included) are its own and no arm inherits another's
allocator state. Costs are measured on the base checkpoint: an unlearning run costs the same whatever the
model memorised (fixed epochs, fixed fit budget).

The 7B / 70B rows are extrapolated, not measured: a line through each method's measured seconds and peak
memory against parameters (compute and memory are linear in parameters for both), times the corpus axis's
measured growth; the gate's time does not depend on the served model and is carried over as measured.
"""

from __future__ import annotations

import multiprocessing
import random
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eco_unlearn.console import err, track
from eco_unlearn.core.models import load_tokenizer
from eco_unlearn.fileio import atomic_write_json, html_page, png_base64, pyplot, write_report
from eco_unlearn.fit.objectives import TextItem

ECO = "eco"
PAPER_SIZES = {"7B": 7e9, "70B": 70e9}
TARGET_RATIO = 10.0
"""The issue's goal: ECO's setup at least this much cheaper than the cheapest baseline at the largest corpus."""


@dataclass(frozen=True)
class Corpus:
    """One point of the corpus axis: what every method at that point is given."""

    forget: list[str]
    """The forget text (chunks): the baselines train on all of it; the gate indexes all of it."""
    retain: list[str]
    """Retain text for the baselines that use it (fixed size: a retain batch per step whatever the corpus)."""
    gate_forget: list[str]
    """Windows of the forget text (``Plan.window_tokens``; at most ``Plan.gate_windows``, sampled): the
    classifier's forget class."""
    gate_retain: list[str]
    fit_items: list[TextItem]
    """A fixed sample of the forget text (its first chunks): the corruption fit's items at every scale."""
    heldout: list[TextItem]
    """Forget-domain text outside every corpus: the fit's never-saw-it surrogate."""
    tokens: int


@dataclass(frozen=True)
class Plan:
    chunk_tokens: int = 192
    prompt_tokens: int = 64
    gold_tokens: int = 64
    unit_chunks: int = 5
    """Chunks of Pride and Prejudice in one unit: 4 units are the copyright bench's forget corpus (20 chunks)."""
    n_fit: int = 4
    n_gate_retain: int = 200
    window_tokens: int = 32
    """The classifier's forget class: windows of this many tokens cut from the forget corpus."""
    gate_windows: int = 200
    """At most this many windows, sampled, train the classifier (``eco bench copyright`` samples 200, and
    ``eco target create`` takes a prompt file of the user's size); the verbatim index takes the whole text."""
    grid: int = 7
    refine: int = 4
    lr: float = 2e-4


def corpora(scales: tuple[int, ...], plan: Plan, seed: int = 0) -> dict[int, Corpus]:
    """The forget corpus at each scale: the first ``scale × unit_chunks`` chunks of Pride and Prejudice (each
    corpus contains the smaller ones); retain text, gate retain windows, fit items and the held-out surrogate
    are the same at every scale."""
    from eco_unlearn.evaluation.bench.copyright import split_item, token_chunks
    from eco_unlearn.evaluation.corpora import austen, chapters

    tok = load_tokenizer("smollm2")  # one tokenizer cuts the text for every model: the same corpus on each
    pp, pers, emma = (chapters(austen(b)) for b in ("prideprejudice", "persuasion", "emma"))
    chunks = token_chunks(tok, pp, plan.chunk_tokens)
    most = max(scales) * plan.unit_chunks
    if most + plan.n_fit > len(chunks):
        raise ValueError(f"the book has {len(chunks)} chunks of {plan.chunk_tokens} tokens; the largest corpus "
                         f"needs {most} and the held-out surrogate {plan.n_fit} more")  # fmt: skip
    if plan.n_fit > min(scales) * plan.unit_chunks:
        raise ValueError("the smallest corpus must hold the fit sample (n_fit chunks)")
    item = lambda c: split_item(tok, c, plan.prompt_tokens, plan.gold_tokens)  # noqa: E731
    heldout = [item(c) for c in chunks[-plan.n_fit :]]
    rng = random.Random(seed)
    half = plan.n_gate_retain // 2
    w = plan.window_tokens
    gate_retain = rng.sample(token_chunks(tok, pers, w), half) + rng.sample(token_chunks(tok, emma, w), half)
    retain = token_chunks(tok, pers, plan.chunk_tokens)[: plan.unit_chunks * min(scales)]
    out = {}
    for s in scales:
        forget = chunks[: s * plan.unit_chunks]
        windows = token_chunks(tok, forget, w)
        windows = random.Random(seed).sample(windows, min(len(windows), plan.gate_windows))
        out[s] = Corpus(forget, retain, windows, gate_retain,
                        [item(c) for c in forget[: plan.n_fit]], heldout, len(forget) * plan.chunk_tokens)  # fmt: skip
    return out


def _measure(method: str, model: str, corpus: Corpus, plan: Plan, workdir: str) -> dict:
    """One arm, in its own process: ECO's setup or one baseline's unlearning run, with its cost."""
    if method == ECO:
        return _eco_setup(model, corpus, plan, Path(workdir))
    from eco_unlearn.evaluation.baselines import UnlearnConfig, unlearn, unlearn_record

    ckpt = unlearn(method, model, corpus.forget, corpus.retain, Path(workdir) / "unlearned", UnlearnConfig(lr=plan.lr))
    cost = unlearn_record(ckpt)["cost"]
    shutil.rmtree(ckpt)  # measured afresh every run; a checkpoint of a cost run is of no further use
    return cost


def _eco_setup(model: str, corpus: Corpus, plan: Plan, workdir: Path) -> dict:
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.evaluation.baselines.common import PeakRSS
    from eco_unlearn.fit.family import fit_corruption
    from eco_unlearn.fit.objectives import SimilarityObjective
    from eco_unlearn.fit.search import FitConfig
    from eco_unlearn.gate.create import create_target

    eco = ECOModel.from_pretrained(model)
    params = sum(p.numel() for p in eco.model.parameters())
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        gate, _ = create_target(
            "cost",
            corpus.gate_forget,
            corpus.gate_retain,
            workdir / "target",
            alpha=0.05,
            forget_text=corpus.forget,
            selection={"mode": "all_but_last"},
            overwrite=True,
        )
        t1 = time.perf_counter()
        objective = SimilarityObjective(corpus.fit_items, corpus.heldout, max_new_tokens=plan.gold_tokens // 2)
        fit = fit_corruption(eco, gate.with_corruption(name="rand_noise_first_n", dims=None), objective,
                             cfg=FitConfig(seeds=1), grid=plan.grid, refine=plan.refine)  # fmt: skip
        t2 = time.perf_counter()
    return {"seconds": t2 - t0, "gate_seconds": t1 - t0, "fit_seconds": t2 - t1, "forward_passes": fit.forward_passes,
            "backward_passes": 0, "gate_prompts": len(corpus.gate_forget) + len(corpus.gate_retain),
            "peak_rss_mb": mem.peak / 2**20, "params": params}  # fmt: skip


def measure_arms(arms: list[tuple[str, str, Corpus]], plan: Plan, partial: Path | None = None) -> list[dict]:
    """Each ``(method, model, corpus)`` in a fresh spawned process, one after the other (2 cores: never two);
    the costs so far are rewritten to ``partial`` after every arm, so a long run stopped midway keeps them."""
    ctx = multiprocessing.get_context("spawn")
    out = []
    with tempfile.TemporaryDirectory(prefix="eco-cost-") as tmp:
        for method, model, corpus in track(arms, "cost arms (one process each)"):
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                try:
                    out.append(pool.submit(_measure, method, model, corpus, plan, tmp).result())
                except BrokenProcessPool:  # killed (out of memory, most likely): a finding, not a crash
                    out.append({"error": "the process died (out of memory?)"})
                except (RuntimeError, ValueError, OSError) as e:
                    out.append({"error": f"{type(e).__name__}: {e}"})
            done = out[-1]
            err.print(f"{method} on {Path(model).name}, {len(corpus.forget)} chunks: "
                      + (f"{done['seconds']:.1f} s" if "seconds" in done else done["error"]))  # fmt: skip
            if partial is not None:
                atomic_write_json(partial, [{"method": m, "model": mo, "forget_chunks": len(c.forget), **cost}
                                            for (m, mo, c), cost in zip(arms, out)])  # fmt: skip
    return out


def ok(rows: list[dict]) -> list[dict]:
    """The arms that finished (an arm that died has only an ``error``)."""
    return [r for r in rows if "error" not in r]


def _row(method: str, model: str, scale: int, corpus: Corpus, cost: dict) -> dict:
    return {"method": method, "model": model, "scale": scale, "forget_chunks": len(corpus.forget),
            "forget_tokens": corpus.tokens, **cost}  # fmt: skip


def run_corpus_axis(model: str, scales: tuple[int, ...], baselines: tuple[str, ...], once: tuple[str, ...],
                    plan: Plan, partial: Path | None = None) -> list[dict]:  # fmt: skip
    """ECO and ``baselines`` at every scale; ``once`` (the dearer baselines) at the smallest scale only."""
    cs = corpora(scales, plan)
    arms = [(m, model, s) for s in scales for m in (ECO, *baselines)] + [(m, model, min(scales)) for m in once]
    costs = measure_arms([(m, mo, cs[s]) for m, mo, s in arms], plan, partial)
    return [_row(m, mo, s, cs[s], c) for (m, mo, s), c in zip(arms, costs)]


def run_model_axis(
    models: tuple[str, ...], scale: int, baselines: tuple[str, ...], plan: Plan, partial: Path | None = None
) -> list[dict]:
    """ECO and ``baselines`` on every model, on the corpus at ``scale``."""
    corpus = corpora((scale,), plan)[scale]
    arms = [(m, mo) for mo in models for m in (ECO, *baselines)]
    costs = measure_arms([(m, mo, corpus) for m, mo in arms], plan, partial)
    rows = [_row(m, mo, scale, corpus, c) for (m, mo), c in zip(arms, costs)]
    params = {r["model"]: r["params"] for r in ok(rows) if r["method"] == ECO}
    for r in rows:
        r["params"] = params.get(r["model"], 0)
    return rows


def ratios(rows: list[dict], key: str) -> list[dict]:
    """At each point of the axis (``key``: scale or model), the cheapest baseline's seconds over ECO's."""
    out = []
    for point in dict.fromkeys(r[key] for r in rows):
        here = [r for r in ok(rows) if r[key] == point]
        eco = next((r for r in here if r["method"] == ECO), None)
        base = [r for r in here if r["method"] != ECO]
        if eco is None or not base:
            continue
        cheapest = min(base, key=lambda r: r["seconds"])
        out.append({key: point, "eco_seconds": eco["seconds"], "cheapest": cheapest["method"],
                    "cheapest_seconds": cheapest["seconds"], "ratio": cheapest["seconds"] / eco["seconds"],
                    "eco_peak_rss_mb": eco["peak_rss_mb"],
                    "cheapest_peak_rss_mb": cheapest["peak_rss_mb"]})  # fmt: skip
    return out


def crossover(ratio_rows: list[dict], key: str, at: float) -> float | None:
    """Where the ratio reaches ``at``, interpolated log-linearly between measured points (None if never)."""
    for a, b in zip(ratio_rows, ratio_rows[1:]):
        if a["ratio"] < at <= b["ratio"]:
            x0, x1, y0, y1 = np.log(a[key]), np.log(b[key]), np.log(a["ratio"]), np.log(b["ratio"])
            return float(np.exp(x0 + (np.log(at) - y0) * (x1 - x0) / (y1 - y0)))
    if ratio_rows and ratio_rows[0]["ratio"] >= at:
        return float(ratio_rows[0][key])
    return None


def _line(xs: list[float], ys: list[float]):
    """Least-squares line through the measured points (through the origin from a single point)."""
    if len(set(xs)) < 2:
        slope, icpt = ys[0] / xs[0], 0.0
    else:
        slope, icpt = np.polyfit(xs, ys, 1)
    return lambda n: float(icpt + slope * n)


def extrapolate(model_rows: list[dict], corpus_rows: list[dict] | None) -> list[dict]:
    """Seconds and memory at 7B / 70B: a line through the model axis's points per method (seconds for a
    baseline, the fit's seconds for ECO, peak memory for both), at the model axis's corpus; at the largest
    corpus, times the corpus axis's measured growth (the gate's growth for ECO, whose fit does not grow)."""
    model_rows = ok(model_rows)
    growth: dict[str, float] = {}  # largest corpus over smallest: seconds (baselines), gate seconds (ECO)
    if corpus_rows:
        lo, hi = min(r["scale"] for r in corpus_rows), max(r["scale"] for r in corpus_rows)
        for m in {r["method"] for r in corpus_rows}:
            field = "gate_seconds" if m == ECO else "seconds"
            ends = {r["scale"]: r[field] for r in ok(corpus_rows) if r["method"] == m}
            if lo in ends and hi in ends:
                growth[m] = ends[hi] / ends[lo]
    out = []
    for m in dict.fromkeys(r["method"] for r in model_rows):
        mine = [r for r in model_rows if r["method"] == m]
        xs = [r["params"] for r in mine]
        memory = _line(xs, [r["peak_rss_mb"] / 1024 for r in mine])
        g = growth.get(m, float("nan"))
        seconds = _line(xs, [r["fit_seconds" if m == ECO else "seconds"] for r in mine])
        gate = float(np.mean([r["gate_seconds"] for r in mine])) if m == ECO else 0.0
        for label, n in PAPER_SIZES.items():
            if m == ECO:  # the gate does not depend on the served model (its mean is carried over), the fit does
                small, big = gate + seconds(n), gate * g + seconds(n)
            else:
                small = seconds(n)
                big = small * g
            out.append({"size": label, "method": m, "seconds_smallest_corpus": small,
                        "seconds_largest_corpus": big, "peak_rss_gb": memory(n)})  # fmt: skip
    return out


def _plot(rows: list[dict], key: str, title: str, xlabel: str) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for m in methods:
        pts = sorted((r[key], r["seconds"], r["peak_rss_mb"] / 1024) for r in ok(rows) if r["method"] == m)
        x = [p[0] for p in pts]
        style = dict(marker="o", linewidth=2.5 if m == ECO else 1.2, label=m)
        axes[0].plot(x, [p[1] for p in pts], **style)
        axes[1].plot(x, [p[2] for p in pts], **style)
    rr = ratios(rows, key)
    axes[2].plot([r[key] for r in rr], [r["ratio"] for r in rr], marker="o", color="black")
    axes[2].axhline(TARGET_RATIO, color="red", linestyle="--", linewidth=1, label=f"goal {TARGET_RATIO:g}×")
    axes[2].axhline(1.0, color="grey", linestyle=":", linewidth=1, label="break-even")
    for ax, ylabel in zip(axes, ("setup wall time (s)", "peak resident memory (GB)", "cheapest baseline / ECO")):
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return png_base64(fig)


def run(
    axis: str,
    *,
    models: tuple[str, ...],
    scales: tuple[int, ...] = (1, 4, 16, 64),
    baselines: tuple[str, ...] = ("ga",),
    once: tuple[str, ...] = ("npo", "gd", "kl", "npo_rt"),
    plan: Plan = Plan(),
    out_dir: Path = Path("runs/bench/cost"),
    command: str = "",
    other_axis: dict | None = None,
) -> dict:
    """One axis in one run. ``other_axis``: the other axis's committed results, for the 7B/70B extrapolation
    (the model axis gives seconds per parameter, the corpus axis the growth with corpus)."""
    if axis not in ("corpus", "model"):
        raise ValueError(f"axis must be 'corpus' or 'model', got {axis!r}")
    if not models:
        raise ValueError("give at least one model")
    if not scales or min(scales) < 1:
        raise ValueError("scales must be positive integers")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / "partial.json"
    if axis == "corpus":
        rows = run_corpus_axis(models[0], tuple(sorted(set(scales))), baselines, once, plan, partial)
        key, xlabel = "scale", f"forget corpus (× {plan.unit_chunks} chunks of {plan.chunk_tokens} tokens)"
    else:
        rows = run_model_axis(models, min(scales), baselines, plan, partial)
        key, xlabel = "params", "parameters"
    rr = ratios(rows, key)
    result = {
        "benchmark": "cost",
        "axis": axis,
        "command": command,
        "plan": plan.__dict__,
        "rows": rows,
        "ratios": rr,
        "crossover": {"break_even": crossover(rr, key, 1.0), f"{TARGET_RATIO:g}x": crossover(rr, key, TARGET_RATIO)},
        "seconds": time.perf_counter() - t0,
    }
    if axis == "corpus":
        eco = [r["seconds"] for r in ok(rows) if r["method"] == ECO]
        result["eco_growth"] = eco[-1] / eco[0] if len(eco) > 1 else None
        result["goal_10x_at_largest_corpus"] = bool(rr and rr[-1]["ratio"] >= TARGET_RATIO)
    model_rows = rows if axis == "model" else (other_axis or {}).get("rows")
    corpus_rows = rows if axis == "corpus" else (other_axis or {}).get("rows")
    if model_rows:
        result["extrapolated"] = extrapolate(model_rows, corpus_rows)
    write_report(out_dir, result, report_html(result, key, xlabel))
    partial.unlink(missing_ok=True)  # results.json holds every arm now
    return result


def report_html(result: dict, key: str, xlabel: str) -> str:
    head = (
        "method",
        "model",
        "scale",
        "forget tokens",
        "seconds",
        "forward (sequences)",
        "backward (steps)",
        "peak RSS (GB)",
    )

    def cells(r: dict) -> str:
        if "error" in r:
            return f"<td colspan=4>{r['error']}</td>"
        return (f"<td>{r['seconds']:.1f}</td><td>{r['forward_passes']}</td><td>{r['backward_passes']}</td>"
                f"<td>{r['peak_rss_mb'] / 1024:.2f}</td>")  # fmt: skip

    rows = "".join(
        f"<tr><td>{r['method']}</td><td>{r['model']}</td><td>{r['scale']}×</td><td>{r['forget_tokens']}</td>"
        f"{cells(r)}</tr>"
        for r in result["rows"]
    )
    ratio_rows = "".join(
        f"<tr><td>{r[key]:,}</td><td>{r['eco_seconds']:.1f}</td><td>{r['cheapest']}</td>"
        f"<td>{r['cheapest_seconds']:.1f}</td><td>{r['ratio']:.2f}×</td></tr>"
        for r in result["ratios"]
    )
    extra = "".join(
        f"<tr><td>{e['size']}</td><td>{e['method']}</td><td>{e['seconds_smallest_corpus']:.0f}</td>"
        f"<td>{e['seconds_largest_corpus']:.0f}</td><td>{e['peak_rss_gb']:.0f}</td></tr>"
        for e in result.get("extrapolated", [])
    )
    extra_html = (
        "<h2>Extrapolated (not measured) to the paper's sizes</h2><p>A line through the measured models' "
        "seconds and peak memory (model included) against parameters, same CPU and precision (float32); the "
        "growth to the largest corpus from the corpus axis's measured curve.</p>"
        "<table><tr><th>size</th><th>method</th><th>s, smallest corpus</th>"
        f"<th>s, largest corpus</th><th>peak GB</th></tr>{extra}</table>"
        if extra
        else ""
    )
    return html_page(
        f"eco-unlearn: cost ({result['axis']})",
        f"""<h1>Setup cost along the {result["axis"]} axis</h1>
<p>ECO: gate + corruption fit; a baseline: its unlearning run (5 epochs). One fresh process per arm.
Command: <code>{result["command"]}</code>. Crossovers (cheapest baseline / ECO): {result["crossover"]}.</p>
<img alt="cost curves" src="data:image/png;base64,{_plot(result["rows"], key, result["axis"] + " axis", xlabel)}"
 style="max-width:100%">
<h2>Cheapest baseline vs ECO</h2><table><tr><th>{key}</th><th>ECO s</th><th>cheapest</th><th>its s</th>
<th>ratio</th></tr>{ratio_rows}</table>
<h2>Every arm</h2><table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{rows}</table>
{extra_html}""",
        width=1100,
    )


__all__ = ["Plan", "corpora", "crossover", "extrapolate", "ok", "ratios", "run"]
