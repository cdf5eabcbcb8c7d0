"""`eco bench fluency`: what a flagged chat question gets back under each corruption setting.

A model that never saw the data answers fluently and wrongly, or says it does not know; gibberish is both
a poor experience and a tell that unlearning fired. Per setting, flagged chat questions (the held-out
questions of the ``austen`` and ``hazard`` removal requests, so nothing here trains a gate) are answered
with greedy decoding, and scored against the *clean* model's answers to the same questions:

- **perplexity ratio**: the answers' text perplexity under the clean model (``fluency.py``: the answer
  read alone, so a fluent wrong answer is not penalised), over the clean answers'; 1 is as fluent as the
  model's own answers, gibberish is ≫ 1;
- **repetition**: share of repeated words per answer;
- **leak** (``austen`` only): share of answers that name something from *Pride and Prejudice* the question
  did not (a character, place, the title or the author): the knowledge the target should hide.

The settings are the old default of ``eco target create`` (noise σ = 100 on the first dimension of every
token but the last, chat template included), the same on the user's text only, and corruptions of the
target's entity tokens (the names ``eco target create`` extracts): zero-out, sign-flip, noise at a few
embedding standard deviations, and substitution by other name-like words. The gate is "always" (every
prompt flagged) to isolate the corruption.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import numpy as np

from eco_unlearn.console import track
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.fluency import FLUENCY_GOAL, fluency
from eco_unlearn.evaluation.requests import PRIDE, austen_request, hazard_request
from eco_unlearn.fileio import html_page, png_base64, pyplot, write_report
from eco_unlearn.gate.entity_evidence import evidence_entities
from eco_unlearn.gate.targets import Target

_PP_WORDS = {w.lower() for name in PRIDE for w in name.split() if w[0].isupper() and w not in {"Mr", "Mrs", "Lady"}}
LEAK = re.compile(r"\b(" + "|".join(sorted(_PP_WORDS | {"pride", "prejudice", "austen"})) + r")\b", re.I)


def settings(std: float) -> dict[str, dict]:
    """Corruption settings by name; σ for entity noise in units of the embedding table's std."""
    return {
        "old default: all_but_last, noise σ=100 on dim 1": {
            "selection": {"mode": "all_but_last"},
            "corruption": {"name": "rand_noise_first_n", "strength": 100.0, "dims": 1},
        },
        "user_span, noise σ=100 on dim 1": {
            "selection": {"mode": "user_span"},
            "corruption": {"name": "rand_noise_first_n", "strength": 100.0, "dims": 1},
        },
        "entities, zero-out": {
            "selection": {"mode": "entities"},
            "corruption": {"name": "zero_out_first_n", "dims": None},
        },
        "entities, sign-flip": {
            "selection": {"mode": "entities"},
            "corruption": {"name": "flip_sign_first_n", "dims": None},
        },
        "entities, noise σ=3 std": {
            "selection": {"mode": "entities"},
            "corruption": {"name": "rand_noise_first_n", "strength": 3 * std, "dims": None},
        },
        "entities, substitute": {
            "selection": {"mode": "entities"},
            "corruption": {"name": "substitute"},
        },
    }


def leaked(prompt: str, answer: str) -> bool:
    """The answer names something from Pride and Prejudice that the prompt did not."""
    asked = {m.lower() for m in LEAK.findall(prompt)}
    return any(m.lower() not in asked for m in LEAK.findall(answer))


def run(model: str = "smollm2", *, n_prompts: int = 24, new_tokens: int = 40, quick: bool = False,
        out_dir: Path = Path("runs/bench/fluency")) -> dict:  # fmt: skip
    t_start = time.perf_counter()
    if quick:
        from eco_unlearn.core.models import cache_dir
        from eco_unlearn.evaluation.bench.authors import quick_base

        model, n_prompts, new_tokens = quick_base(cache_dir() / "finetuned"), 4, 8
    clean = ECOModel.from_pretrained(model)
    std = float(clean.model.get_input_embeddings().weight.detach().float().std())
    requests = {r.name: r for r in (austen_request(passages=0), hazard_request())}
    result: dict = {"benchmark": "fluency", "command": "eco bench fluency" + (" --quick" if quick else ""),
                    "model": model, "new_tokens": new_tokens, "requests": {}}  # fmt: skip
    for name, req in requests.items():
        step = max(1, len(req.heldout_forget) // n_prompts)
        prompts = [p.text for p in req.heldout_forget[::step][:n_prompts]]
        entities = evidence_entities([p.text for p in req.forget], [p.text for p in req.retain])
        chat = [clean.tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                    add_generation_prompt=True) for p in prompts]  # fmt: skip
        answers = {"clean": [g.text for g in clean.generate(prompts, max_new_tokens=new_tokens, chat=True)]}
        for s, spec in track(settings(std).items(), f"fluency: {name}"):
            t = Target.create("fluency", gate={"kind": "always"}, entities=entities, **spec)
            eco = ECOModel(clean.model, clean.tokenizer, [t])
            answers[s] = [g.text for g in eco.generate(prompts, max_new_tokens=new_tokens, chat=True)]
        ref = fluency(clean, chat, answers["clean"])
        rows = {}
        for s, ans in answers.items():
            fl = fluency(clean, chat, ans)
            leak = float(np.mean([leaked(p, a) for p, a in zip(prompts, ans)])) if name == "austen" else None
            examples = [{"prompt": p, "answer": a} for p, a in list(zip(prompts, ans))[:3]]
            rows[s] = {
                **fl,
                "perplexity_ratio": fl["text_perplexity"] / ref["text_perplexity"],
                "leak": leak,
                "examples": examples,
            }
        result["requests"][name] = {"prompts": len(prompts), "entities": entities[:20], "settings": rows}
    result["seconds"] = time.perf_counter() - t_start
    write_report(out_dir, result, report_html(result))
    return result


def _png(result: dict) -> str:
    plt = pyplot()
    reqs = list(result["requests"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    names = list(next(iter(result["requests"].values()))["settings"])
    x = np.arange(len(names))
    for i, r in enumerate(reqs):
        rows = result["requests"][r]["settings"]
        axes[0].bar(x + (i - 0.5) * 0.4, [rows[n]["perplexity_ratio"] for n in names], 0.4, label=r)
    axes[0].axhline(1 + FLUENCY_GOAL, color="grey", linestyle=":", linewidth=1)
    axes[0].set(yscale="log", ylabel="answer perplexity ÷ clean answers' (log)", title="fluency (1 = the model's own)")
    austen = result["requests"].get("austen", {}).get("settings", {})
    axes[1].bar(x, [austen[n]["leak"] or 0.0 for n in names] if austen else np.zeros(len(names)), color="tab:red")
    axes[1].set(ylabel="share of answers naming Pride and Prejudice", title="leak (austen)")
    for ax in axes:
        ax.set_xticks(x, names)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return png_base64(fig)


def report_html(result: dict) -> str:
    def row(r: str, s: str, v: dict) -> str:
        leak = "" if v["leak"] is None else f"{v['leak']:.2f}"
        return (f"<tr><td>{r}</td><td>{html.escape(s)}</td><td>{v['perplexity_ratio']:.2f}</td>"
                f"<td>{v['repetition']:.3f}</td><td>{leak}</td>"
                f"<td>{html.escape(v['examples'][0]['answer'][:160])}</td></tr>")  # fmt: skip

    rows = "".join(row(r, s, v) for r, req in result["requests"].items() for s, v in req["settings"].items())
    return html_page(
        "eco-unlearn: fluency",
        f"""<h1>Fluency of answers to flagged chat questions</h1>
<p>Command: <code>{result["command"]}</code>; model <code>{html.escape(result["model"])}</code>;
{result["new_tokens"]} new tokens, greedy; every prompt flagged (gate "always").</p>
<img alt="fluency and leak" src="data:image/png;base64,{_png(result)}" style="max-width:100%">
<table><tr><th>request</th><th>setting</th><th>perplexity ÷ clean</th><th>repetition</th><th>leak</th>
<th>first answer</th></tr>{rows}</table>""",
        width=1100,
    )
