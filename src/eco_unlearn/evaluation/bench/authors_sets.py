"""`eco bench authors --combine`: one table and one picture over several author sets.

Forget quality is a KS p-value over 48–96 questions: a method that reproduces the retain model's distribution
but not its per-question values scores a uniform draw, so one author set says little (README, *Author sets*).
Each ``eco bench authors --seed N`` run is another set of authors with its own fine-tuned models; this reads
their ``results.json`` files and reports, per split and method, the median and range over the sets of forget
quality and model utility, and how many sets reach the goal. Nothing is re-run: it is arithmetic on recorded
figures, so a set run later is added by naming its file.
"""

from __future__ import annotations

import html
import json
import statistics
from pathlib import Path

from eco_unlearn.evaluation.bench.authors_report import MARKERS, row_family
from eco_unlearn.fileio import html_page, png_base64, pyplot, write_report

GOAL = 0.5
"""Issue 15's goal: median forget quality over the author sets at least 0.5 at every split."""


def read_results(paths: list[Path]) -> list[dict]:
    """The ``results.json`` of each ``eco bench authors`` run, checked at the boundary: a missing or foreign
    file is named in a ValueError, before anything is combined."""
    results = []
    for path in paths:
        try:
            r = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file (an `eco bench authors` results.json)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a JSON results file ({e})") from None
        if not isinstance(r, dict) or r.get("benchmark") not in ("authors", "tofu") or not r.get("splits"):
            raise ValueError(f"{path}: not the results of `eco bench authors` (or `eco bench tofu`)")
        results.append(r | {"source": str(path)})
    return results


def _spread(values: list[float]) -> dict:
    return {"values": values, "median": statistics.median(values), "min": min(values), "max": max(values)}


def combine(results: list[dict]) -> dict:
    """Per split and method: forget quality and model utility over the sets (median, range, each set's value)
    and how many sets reach :data:`GOAL`. Only the splits and methods every set has are combined (a set run
    without baselines leaves them out; the dropped ones are listed)."""
    if len(results) < 2:
        raise ValueError("combining needs at least two author sets' results")
    splits = [s for s in results[0]["splits"] if all(s in r["splits"] for r in results)]
    if not splits:
        raise ValueError("the results share no split: " + "; ".join(f"{r['source']}: {', '.join(r['splits'])}"
                                                                     for r in results))  # fmt: skip
    sets = [{"source": r["source"], "seed": r.get("seed"), "command": r.get("command", ""),
             "fit": _fit_label(r.get("fit", {}))} for r in results]  # fmt: skip
    out: dict = {"benchmark": "authors-sets", "goal": GOAL, "sets": sets, "splits": {}, "dropped": {}}
    for split in splits:
        per_set = [r["splits"][split]["methods"] for r in results]
        every = [m for m in per_set[0] if all(m in methods for methods in per_set)]
        dropped = sorted({m for methods in per_set for m in methods} - set(every))
        if dropped:
            out["dropped"][split] = dropped
        out["splits"][split] = {
            m: {
                "forget_quality": _spread([methods[m]["forget_quality"] for methods in per_set]),
                "model_utility": _spread([methods[m]["model_utility"] for methods in per_set]),
                "sets_at_goal": sum(methods[m]["forget_quality"] >= GOAL for methods in per_set),
            }
            | _fluency([methods[m] for methods in per_set], [methods.get("retain") for methods in per_set])
            for m in every
        }
    methods = set.intersection(*(set(v) for v in out["splits"].values()))
    out["meets_goal"] = {m: all(out["splits"][s][m]["forget_quality"]["median"] >= GOAL for s in splits)
                         for m in sorted(methods)}  # fmt: skip
    return out


def _fluency(rows: list[dict], retain: list[dict | None]) -> dict:
    """The forget answers' fluency over the sets, when every set recorded it for this row and the retain
    model: text perplexity as a ratio to the retain model's on the same questions (what issue 15's fluency
    goal compares), and the share of repeated words."""
    if not all("fluency" in r for r in rows) or not all(x and "fluency" in x for x in retain):
        return {}
    ratio = [r["fluency"]["text_perplexity"] / x["fluency"]["text_perplexity"] for r, x in zip(rows, retain)]
    return {"fluency": {"text_perplexity_ratio": _spread(ratio),
                        "repetition": _spread([r["fluency"]["repetition"] for r in rows])}}  # fmt: skip


def _fit_label(fit: dict) -> str:
    if not fit.get("chosen"):
        return ""
    k = f" k={fit['dims']}" if fit.get("dims") else ""
    return f"{fit['chosen']}{k} on {fit.get('selection', '?')} tokens"


def _spread_png(combined: dict) -> str:
    """One panel per split: each method at its median forget quality (log) and model utility over the sets,
    bars spanning the range on both axes; the goal as a dashed line. Oracle-gate rows are left out (the
    table has them)."""
    plt = pyplot()
    splits = list(combined["splits"])
    fig, axes = plt.subplots(1, len(splits), figsize=(4.6 * len(splits), 4.4), sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, split in zip(axes[0], splits):
        rows = [(m, v) for m, v in combined["splits"][split].items() if not m.endswith("_oracle")]
        for i, (m, v) in enumerate(rows):
            fq, mu = v["forget_quality"], v["model_utility"]
            x = max(fq["median"], 1e-20)
            xerr = [[x - max(fq["min"], 1e-20)], [max(fq["max"], 1e-20) - x]]
            yerr = [[mu["median"] - mu["min"]], [mu["max"] - mu["median"]]]
            c = colors[i % len(colors)]
            ax.errorbar(x, mu["median"], xerr=xerr, yerr=yerr, color=c, linewidth=0.8, capsize=2)
            ax.scatter(x, mu["median"], marker=MARKERS.get(row_family(m), "x"), s=55, color=c, label=m, zorder=3)
        ax.axvline(GOAL, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set(title=split, xlabel="forget quality (median over sets, log; bars: range)")
    axes[0][0].set_ylabel("model utility (median; bars: range)")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return png_base64(fig)


def _strip_png(combined: dict) -> str:
    """Each set's forget quality on a linear axis, one row per method and a colour per split, the median as a
    bar: where the goal lies (0.5), a log axis squeezes exactly the region that decides it."""
    plt = pyplot()
    splits = list(combined["splits"])
    methods = [m for m in combined["meets_goal"] if not m.endswith("_oracle")]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(methods) + 1.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, split in enumerate(splits):
        offset = (j - (len(splits) - 1) / 2) * 0.22
        for i, m in enumerate(methods):
            fq = combined["splits"][split][m]["forget_quality"]
            y = i + offset
            ax.scatter(fq["values"], [y] * len(fq["values"]), s=14, color=colors[j % len(colors)],
                       label=split if i == 0 else None)  # fmt: skip
            ax.plot([fq["median"]] * 2, [y - 0.09, y + 0.09], color=colors[j % len(colors)], linewidth=2.5)
    ax.axvline(GOAL, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(methods)), methods, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlim=(-0.02, 1.02), xlabel="forget quality per author set (dots) and median (bar); dashed: the goal")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return png_base64(fig)


def _fluency_table(combined: dict) -> str:
    """The fluency section of the report: rows whose every split recorded fluency in every set."""
    splits, rows = list(combined["splits"]), []
    for m in combined["meets_goal"]:
        fl = [combined["splits"][s][m].get("fluency") for s in splits]
        if all(fl):
            cells = [f"<td>{_cell(f['text_perplexity_ratio'], '.2f')}</td><td>{_cell(f['repetition'], '.3f')}</td>"
                     for f in fl]  # fmt: skip
            rows.append(f"<tr><td>{html.escape(m)}</td>{''.join(cells)}</tr>")
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(s)}: text perplexity ÷ retain model's</th><th>repetition</th>" for s in splits)
    return f"""<h2>Fluency of the forget answers</h2><p>Median [range] over the sets: the answers' text perplexity
under the clean target as a ratio to the retain model's answers to the same questions, and the share of repeated
words (the retain row gives the retain model's own).</p>
<table><tr><th>method</th>{head}</tr>{"".join(rows)}</table>"""


def _cell(s: dict, digits: str = ".3g") -> str:
    return f"{s['median']:{digits}} [{s['min']:{digits}}, {s['max']:{digits}}]"


def report_html(combined: dict) -> str:
    n = len(combined["sets"])
    splits = list(combined["splits"])
    head = "".join(f"<th>{html.escape(s)}: forget quality</th><th>sets ≥ {GOAL}</th><th>model utility</th>"
                   for s in splits)  # fmt: skip
    rows = []
    for m in combined["meets_goal"]:
        cells = "".join(
            f"<td>{_cell(combined['splits'][s][m]['forget_quality'])}</td>"
            f"<td>{combined['splits'][s][m]['sets_at_goal']} / {n}</td>"
            f"<td>{_cell(combined['splits'][s][m]['model_utility'], '.3f')}</td>"
            for s in splits
        )
        rows.append(f"<tr><td>{html.escape(m)}</td>{cells}<td>{'yes' if combined['meets_goal'][m] else 'no'}</td></tr>")
    fluency = _fluency_table(combined)
    sets = "".join(f"<tr><td>{html.escape(str(s['seed']))}</td><td><code>{html.escape(s['command'])}</code></td>"
                   f"<td>{html.escape(s['fit'])}</td><td>{html.escape(s['source'])}</td></tr>"
                   for s in combined["sets"])  # fmt: skip
    dropped = "".join(f"<li>{html.escape(s)}: {html.escape(', '.join(ms))}</li>"
                      for s, ms in combined["dropped"].items())  # fmt: skip
    dropped = f"<p>Left out (not in every set):</p><ul>{dropped}</ul>" if dropped else ""
    return html_page(
        f"eco-unlearn: authors over {n} sets",
        f"""<h1>authors (TOFU protocol) over {n} author sets</h1>
<p>Each set is another 20 generated authors with its own fine-tuned target and retain models. Per split and method:
forget quality (KS p-value against the retain model) as the median over the sets [min, max], and how many sets reach
{GOAL}; the goal is a median of at least {GOAL} at every split. Model utility likewise (each split has its own
retain model, so the retain row's utility differs by split). Every recorded row is shown; which one each set's
fit chose is in the last table (rows that corrupt every token, <code>_all_but_last</code>, are searched by the
fit but their answers derail, and its fluency check rejects them in most sets).</p>
<img alt="forget quality per author set" src="data:image/png;base64,{_strip_png(combined)}" style="max-width:100%">
<img alt="forget quality vs model utility over author sets" src="data:image/png;base64,{_spread_png(combined)}"
style="max-width:100%">
<table><tr><th>method</th>{head}<th>goal met</th></tr>{"".join(rows)}</table>
{dropped}
{fluency}
<h2>Author sets</h2><table><tr><th>seed</th><th>command</th><th>the fit's choice</th><th>results</th></tr>{sets}
</table>""",
        width=1200,
    )


def run(paths: list[Path], out_dir: Path) -> dict:
    """Read, combine and write ``results.json`` + ``report.html`` under ``out_dir``."""
    combined = combine(read_results(paths))
    combined["command"] = "eco bench authors --combine " + ",".join(str(p) for p in paths)
    write_report(out_dir, combined, report_html(combined))
    return combined
