"""`eco bench authors --floor`: the protocol's noise floor, what a perfect method could score.

Forget quality compares a method's truth ratios on the forget questions with the retain model's (a KS
p-value); the fluency goal compares its answers' perplexity and repetition with the retain model's. But the
retain model is one draw of "a model that never saw the forget authors": fine-tuned again on the same
data with another training seed (only the order of the examples differs), it is just as ignorant and
still differs. This module scores that second model against the first, per split, as a method would be
scored. Its forget quality and fluency ratios are what the protocol can resolve at this sample size: a
method at the floor cannot be told apart from never having seen the data, and a goal the floor itself
misses is below what the protocol measures. Nothing here reads or chooses anything for ECO.
"""

from __future__ import annotations

import html
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.bench.authors import pairs, prepare
from eco_unlearn.evaluation.finetune import finetune, qa_prompt
from eco_unlearn.evaluation.fluency import fluency, fluency_vs
from eco_unlearn.evaluation.tofu import evaluate_set, forget_quality
from eco_unlearn.fileio import html_page, write_report

FLOOR_SEED = 1000
"""Added to the fine-tuning seed of the second never-trained model: same data and recipe, another order."""


def run(out_dir: Path = Path("runs/bench/authors-floor"), **prepare_kw) -> dict:
    """Per split: the retain recipe fine-tuned twice (the cached retain model and one with another training
    seed), the second scored against the first on the forget questions; ``prepare_kw`` as in
    :func:`eco_unlearn.evaluation.bench.authors.run`."""
    t_start = time.perf_counter()
    prep = prepare(**prepare_kw)
    other_cfg = replace(prep.finetune_cfg, seed=prep.finetune_cfg.seed + FLOOR_SEED)
    scorer = ECOModel.from_pretrained(str(prep.target_ckpt))  # the clean target scores fluency, as in the bench
    result: dict = {
        "benchmark": "authors-floor",
        "command": prep.command.replace("eco bench authors", "eco bench authors --floor", 1),
        "base": prep.base,
        "seed": prepare_kw.get("seed", 0),
        "other_seed": other_cfg.seed,
        "splits": {},
    }
    for k in prep.splits.forget_sizes:
        split = prep.splits.split_name(k)
        retain_pairs = pairs(prep.splits.retain(k))
        other_ckpt = finetune(prep.base, retain_pairs, prep.cache, f"authors-retain{k}", other_cfg)
        items = prep.forget_items(k)
        first, second = (
            evaluate_set(ECOModel.from_pretrained(str(c)), items, options_normalised=False,
                         max_new_tokens=prep.gen_tokens)
            for c in (prep.retain_ckpts[k], other_ckpt)
        )  # fmt: skip
        prompts = [qa_prompt(it.question) for it in items]
        fl_first, fl_second = (fluency(scorer, prompts, s.answers) for s in (first, second))
        result["splits"][split] = {
            "forget_questions": len(items),
            "checkpoints": {"retain": str(prep.retain_ckpts[k]), "retain_other_seed": str(other_ckpt)},
            "forget_quality": forget_quality(second.ratios, first.ratios),
            "fluency": {"retain": fl_first, "retain_other_seed": fl_second}
            | fluency_vs(fl_second, fl_first, keys=("text_perplexity", "repetition")),  # as the authors report reads
            "examples": {"retain": first.answers[:3], "retain_other_seed": second.answers[:3]},
        }
    fq = [s["forget_quality"] for s in result["splits"].values()]
    result["forget_quality"] = {"median": float(np.median(fq)), "min": min(fq), "max": max(fq)}
    result["seconds"] = time.perf_counter() - t_start
    write_report(out_dir, result, report_html(result))
    return result


def report_html(result: dict) -> str:
    rows = "".join(
        f"<tr><td>{name}</td><td>{s['forget_questions']}</td><td>{s['forget_quality']:.3g}</td>"
        f"<td>{s['fluency']['text_perplexity_ratio']:.2f}</td><td>{s['fluency']['repetition_ratio']:.2f}</td>"
        f"<td>{s['fluency']['retain']['repetition']:.4f} / {s['fluency']['retain_other_seed']['repetition']:.4f}</td>"
        f"<td>{html.escape(s['examples']['retain'][0])}<br>{html.escape(s['examples']['retain_other_seed'][0])}</td></tr>"
        for name, s in result["splits"].items()
    )
    fq = result["forget_quality"]
    return html_page(
        "eco-unlearn: authors noise floor",
        f"""<h1>The authors protocol's noise floor</h1>
<p>Command: <code>{html.escape(result["command"])}</code>. The retain recipe fine-tuned again with training seed
{result["other_seed"]} (same data, another order): a second model that never saw the forget authors, scored
against the first as a method is. Forget quality median {fq["median"]:.3g} [{fq["min"]:.3g}, {fq["max"]:.3g}].
A method at these figures cannot be told apart from never having seen the data by this protocol.</p>
<table><tr><th>split</th><th>forget questions</th><th>forget quality</th><th>text perplexity ratio</th>
<th>repetition ratio</th><th>repetition (first / second)</th><th>an answer (first / second)</th></tr>
{rows}</table>""",
        width=1100,
    )
