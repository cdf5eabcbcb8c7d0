"""The `eco bench authors` HTML report: scatter (with seed ranges), fit curves per family, tables."""

from __future__ import annotations

import html

from eco_unlearn.core.selection import SELECTION_MODES
from eco_unlearn.evaluation.bench.tradeoff import curves_png
from eco_unlearn.evaluation.tofu import UTILITY_SETS, SetScores, set_utility
from eco_unlearn.fileio import html_page, png_base64, pyplot
from eco_unlearn.fit.family import param_label, plot_families

MARKERS = {"original": "o", "retain": "*", "prompting": "s", "hidden_name": "<", "eco_rand_noise": "^",
           "eco_zero_out": "v", "eco_sign_flip": "D", "ga": "x", "gd": "+", "kl": "P", "npo": "X",
           "npo_rt": "h"}  # fmt: skip


def row_family(row: str) -> str:
    """A method row's family, without its oracle and token-selection suffixes (``eco_zero_out_all_but_last``)."""
    row = row.removesuffix("_oracle")
    return next((row.removesuffix(f"_{m}") for m in SELECTION_MODES if row.endswith(f"_{m}")), row)


def _scatter_png(result: dict) -> str:
    """Forget quality (median over noise draws, bar = range) vs model utility; oracle-gate rows hollow."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (split, r) in enumerate(result["splits"].items()):
        for m, v in r["methods"].items():
            oracle = m.endswith("_oracle")
            x, y = max(v["forget_quality"], 1e-20), v["model_utility"]
            seeds = [max(s, 1e-20) for s in v.get("forget_quality_seeds", [])]
            if len(seeds) > 1:
                ax.errorbar(x, y, xerr=[[x - min(seeds)], [max(seeds) - x]], color=colors[i % len(colors)],
                            linewidth=0.8, capsize=2)  # fmt: skip
            c, family = colors[i % len(colors)], row_family(m)
            ax.scatter(x, y, marker=MARKERS.get(family, "x"), s=60, label=f"{split} {m}",
                       facecolors="none" if oracle else c, edgecolors=c)  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="forget quality (KS p-value vs retain model, log; bar: range over noise draws)",
           ylabel="model utility", title="forget quality vs model utility (hollow: oracle gate)")  # fmt: skip
    ax.axvline(0.05, color="grey", linestyle=":", linewidth=1)
    ax.axvline(0.5, color="green", linestyle=":", linewidth=1)
    ax.legend(fontsize=5, ncol=3, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes, not over points
    fig.tight_layout()
    return png_base64(fig)


def _fit_png(fit: dict) -> str:
    """The strength trade-off on the fit authors: distribution distance against σ or k, per family."""
    return png_base64(
        plot_families(
            fit["candidates"], fit["trajectory"], fit["chosen"], f"{fit['distance']} distance", fit.get("selection")
        )
    )


def _curves(result: dict) -> str:
    """The strength trade-off (``--curves``; absent otherwise): forget quality per split, each utility set's
    figure and the model utility."""
    if "curves" not in result:
        return ""
    methods = {s: r["methods"] for s, r in result["splits"].items()}
    first = next(iter(methods.values()))["original"]
    original = {s: m["original"]["forget_quality"] for s, m in methods.items()}
    original |= {s: set_utility(SetScores(**first["sets"][s], answers=[])) for s in UTILITY_SETS}
    original["model_utility"] = first["model_utility"]
    png = curves_png(result["curves"], result["served"], original, "forget quality / utility", guide=0.5)
    return ("<h2>Strength trade-off</h2><p>Forget quality on each split with <em>every</em> forget question corrupted "
            "(as the oracle gate serves them; one noise draw, the rows' first) and, with <em>every</em> utility "
            "question corrupted, each utility set's figure (the harmonic mean of its probability, ROUGE-L and "
            "truth ratio) and the model utility (the harmonic mean of the three): what a gate false positive would "
            "cost. Served through a precise gate, utility stays the original's at any strength. Each family is "
            "drawn at the token selection the fit chose; the star is the fitted setting, dashed lines the original "
            "model's figures, dotted the forget-quality goal of 0.5.</p>"
            f'<img alt="strength trade-off" src="data:image/png;base64,{png}" style="max-width:100%">')  # fmt: skip


def _checks(candidates: list[dict]) -> str:
    """The fit's fluency check per candidate (absent in results written before it existed)."""
    rows = [c for c in candidates if "check" in c]
    if not rows:
        return ""
    cells = "".join(
        f"<tr><td>{c['name']}</td><td>{c.get('selection', '')}</td><td>{c['objective']:.4f}</td>"
        f"<td>{c['check']['topicality']:.3f} (clean {c['check']['clean_topicality']:.3f})</td>"
        f"<td>{c['check']['repetition']:.3f} (clean {c['check']['clean_repetition']:.3f})</td>"
        f"<td>{'pass' if c['check']['ok'] else 'fail'}{_backed_off(c)}</td><td>{_tie(c)}</td></tr>"
        for c in rows
    )
    return ("<p>Fluency check of each candidate's fitted point on the fit questions (answers at least half as on "
            "topic as the clean model's, repetition at most 0.1 above it); a candidate whose best point fails "
            "backs off to its best weaker point that passes:</p><table><tr><th>family</th>"
            "<th>tokens</th><th>objective</th><th>topicality</th><th>repetition</th><th>check</th>"
            "<th>90 % bootstrap interval (tied with the lowest?)</th></tr>"
            f"{cells}</table>")  # fmt: skip


def _tie(c: dict) -> str:
    """A passing candidate's bootstrap interval of its objective and whether it tied with the lowest."""
    if "bootstrap" not in c:
        return ""
    lo, hi = c["bootstrap"]
    return f"[{lo:.3f}, {hi:.3f}] ({'tied' if c['tied'] else 'not tied'})"


def _backed_off(c: dict) -> str:
    """What a candidate backed off from: the point whose check failed, its objective and topicality."""
    b = c.get("backed_off_from")
    if not b:
        return ""
    point = param_label(b | {"name": c["name"]})
    return f" (backed off from {point}: objective {b['objective']:.4f}, topicality {b['check']['topicality']:.3f})"


def _fq(v: dict) -> str:
    seeds = v.get("forget_quality_seeds", [])
    if len(seeds) > 1:
        return f"{v['forget_quality']:.3g} [{min(seeds):.2g}, {max(seeds):.2g}]"
    return f"{v['forget_quality']:.3g}"


def report_html(result: dict) -> str:
    rows = []
    for split, r in result["splits"].items():
        ref = r["methods"]["retain"]["fluency"]
        for m, v in r["methods"].items():
            f, rt, fl = v["sets"]["forget"], v["sets"]["retain"], v["fluency"]
            ppl = fl["text_perplexity"] / ref["text_perplexity"]
            rows.append(
                f"<tr><td>{split}</td><td>{m}</td><td>{_fq(v)}</td><td>{v['model_utility']:.3f}</td>"
                f"<td>{f['probability']:.3f}</td><td>{f['rouge_l']:.3f}</td><td>{rt['probability']:.3f}</td>"
                f"<td>{rt['rouge_l']:.3f}</td><td>{ppl:.2f}</td><td>{fl['repetition']:.3f}</td>"
                f"<td>{html.escape(v['examples'][0] if v['examples'] else '')}</td></tr>"
            )
    ft = "".join(f"<tr><td>{k}</td><td>{v['examples']}</td><td>{v['tokens']}</td><td>{v['seconds']:.0f}</td>"
                 f"<td>{v['tokens_per_s']:.0f}</td><td>{v['final_loss']:.3f}</td></tr>"
                 for k, v in result["finetune"].items())  # fmt: skip
    costs = "".join(
        f"<tr><td>{sp}</td><td>{m}</td><td>{v['cost']['seconds']:.1f}</td><td>{v['cost']['forward_passes']}</td>"
        f"<td>{v['cost']['backward_passes']}</td></tr>"
        for sp, r in result["splits"].items()
        for m, v in r["methods"].items()
        if v.get("cost")
    )
    gates = "".join(f"<tr><td>{sp}</td><td>{r['gate']['flag_rate']}</td></tr>" for sp, r in result["splits"].items())
    ratios = {sp: r.get("cost_ratio") for sp, r in result["splits"].items()}
    aims = {sp: f"{r['surrogate_forget_quality']:.3g}" for sp, r in result["splits"].items()
            if r.get("surrogate_forget_quality") is not None}  # fmt: skip
    aim = (f" The reference sample itself, against the retain model's forget truth ratios, scores forget quality "
           f"{aims}: what a corruption reproducing it exactly would score.") if aims else ""  # fmt: skip
    fit = result["fit"]
    return html_page(
        f"eco-unlearn: {result['benchmark']}",
        f"""<h1>{result["benchmark"]} (TOFU protocol)</h1>
<p>Data: {html.escape(result["data"])}; base <code>{html.escape(result["base"])}</code>.
Command: <code>{html.escape(result["command"])}</code>. Evaluation sizes: {result["n_eval"]}. Noise rows: median of
{result["noise_seeds"]} noise draws [range]. <code>_oracle</code> rows use an oracle gate (exactly the forget questions
flagged): the gap to the real-gate row is the gate's share. Rows ending <code>_all_but_last</code> corrupt every
token (question and, when scored, answer), rows ending <code>_content_words</code> every word that is not a stop word
(the names and the lower-case facts), rows ending <code>_proper_nouns</code> the names and other proper nouns of
question and answer, the others the question's names and the scored answer's content words (in generation, the
names only). <code>hidden_name</code> is
the original model asked about the forget authors under names it never saw: perfect concealment of who is asked
about, with no corruption.</p>
<img alt="forget quality vs model utility" src="data:image/png;base64,{_scatter_png(result)}" style="max-width:100%">
<table><tr><th>split</th><th>method</th><th>forget quality</th><th>model utility</th><th>forget prob</th>
<th>forget ROUGE-L</th><th>retain prob</th><th>retain ROUGE-L</th>
<th>forget answers: text perplexity ÷ retain model's</th><th>repetition</th><th>example forget answer</th></tr>
{"".join(rows)}</table>
<h2>Corruption fit</h2>
<p>{html.escape(fit["reason"])}. Distance: {fit["distance"]} between log truth ratios on the fit items
({html.escape(fit["fit_items"])}) and the clean model's on {fit["reference_items"]} questions about authors it never
saw;
{fit["evaluations"]} evaluations, {fit["forward_passes"]} forward passes, {fit["seconds"]:.0f} s. The curves are the
strength trade-off on the fit items (the star: the fitted point).{aim}</p>
<img alt="fit curves" src="data:image/png;base64,{_fit_png(fit)}" style="max-width:100%">
{_checks(fit["candidates"])}
{_curves(result)}
<h2>Gate flag rates</h2><table><tr><th>split</th><th>flagged share per set</th></tr>{gates}</table>
<h2>Fine-tuning</h2><table><tr><th>model</th><th>examples</th><th>tokens</th><th>seconds</th><th>tokens/s</th>
<th>final loss</th></tr>{ft}</table>
<h2>Setup cost</h2><table><tr><th>split</th><th>method</th><th>seconds</th><th>forward</th><th>backward</th></tr>
{costs}</table>
<p>ECO's cost is classifier training + calibration + the corruption fit; a baseline's is its unlearning run.
Cost ratios (baseline / ECO): {ratios}</p>""",
        width=1100,
    )
