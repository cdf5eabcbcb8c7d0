"""`eco bench harness`: lm-eval through ECO, in process and against the gateway, against our own scoring.

On the items of ``eco bench hazard`` (the shipped lm-eval task ``eco_hazard``), without a target and with
the hazard bench's chemistry target (created as that bench creates it, sign-flip on every dimension: its
``eco_sign_flip`` row), three ways of scoring the same items are compared in one run:

- **bench**: ``ECOModel.choose_batch`` as ``eco bench hazard`` scores a question, the option's summed
  log-prob (``sum``, what lm-eval's ``acc`` uses) and its mean per token (``mean``, the bench's figure);
- **lm-eval in process**: ``simple_evaluate`` with the ``eco`` model (``evaluation/harness.py``), the
  gates reading the context (``gate=context``, as the bench) and the whole prompt (``gate=prompt``);
- **lm-eval against the gateway**: lm-eval's own ``local-completions`` model sending token ids with
  ``echo``/``logprobs`` to ``eco serve`` (hf backend, a real uvicorn server) holding the same target.

Goals: in-process accuracy within 0.01 of the bench's (same items, summed log-probs), with and without
the target; the gateway's per-item log-likelihoods within 1e-3 of in-process ``gate=prompt`` (what the
gateway can see), and its accuracy equal.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import resolve_model
from eco_unlearn.evaluation.bench.hazard import eval_sets, gate_prompts
from eco_unlearn.evaluation.harness import ECOHarnessLM, write_local_tasks
from eco_unlearn.fileio import html_page, write_report
from eco_unlearn.fit.objectives import MCQObjective
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.targets import Target
from eco_unlearn.server import ServerConfig, TargetRegistry, create_app
from eco_unlearn.server.hf import HFBackend
from eco_unlearn.server.runner import serve_in_thread

GOALS = {"bench_vs_harness_acc": 0.01, "gateway_vs_harness_loglik": 1e-3}
TASKS = {"forget": "eco_hazard_forget", "retain": "eco_hazard_retain", "general": "eco_hazard_general"}


def hazard_target(directory: Path, gate_questions: int = 4) -> Target:
    """The chemistry target of ``eco bench hazard``, with its sign-flip corruption, saved as a bundle."""
    forget_q, retain_q = gate_prompts(gate_questions)
    target, _ = create_target("hazard-chemistry", forget_q, retain_q, directory, alpha=0.05,
                              selection={"mode": "all_but_last"}, overwrite=True)  # fmt: skip
    flipped = target.with_corruption(name="flip_sign_first_n", dims=None)
    flipped.save(directory)
    return flipped


def _lm_eval(lm, tasks_dir: Path, limit: int | None, **model_args) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    return simple_evaluate(model=lm, model_args=model_args or None, tasks=["eco_hazard"], limit=limit,
                           task_manager=TaskManager(include_path=str(tasks_dir)), log_samples=True,
                           bootstrap_iters=0)  # fmt: skip


def _accuracy(results: dict) -> dict[str, float]:
    return {k: float(results["results"][task]["acc,none"]) for k, task in TASKS.items()}


def _logliks(results: dict) -> np.ndarray:
    """Every (item, option) log-likelihood, in a fixed order."""
    out = []
    for task in TASKS.values():
        for sample in sorted(results["samples"][task], key=lambda s: s["doc_id"]):
            out += [float(r[0]) for r in sample["filtered_resps"]]
    return np.array(out)


def _bench(eco: ECOModel, sets: dict, reduction: str) -> dict[str, float]:
    return {k: MCQObjective.accuracy(eco, v, reduction=reduction) for k, v in sets.items()}


def run(model: str = "smollm2", *, quick: bool = False, out_dir: Path = Path("runs/bench/harness")) -> dict:
    """``quick``: 10 items per set on the tiny random model of the --quick benches, the gate created from one
    question per element (mechanics, not figures)."""
    out_dir = Path(out_dir)
    limit = 10 if quick else None
    if quick:
        from eco_unlearn.core.models import cache_dir
        from eco_unlearn.evaluation.bench.authors import quick_base

        model = quick_base(cache_dir() / "finetuned")
    sets = {k: v[:limit] for k, v in eval_sets().items()}
    tasks_dir = write_local_tasks(out_dir / "tasks")
    target = hazard_target(out_dir / "target", gate_questions=1 if quick else 4)
    plain = ECOModel.from_pretrained(model)
    with_target = ECOModel(plain.model, plain.tokenizer, [target])
    arms: dict[str, dict] = {"clean": {}, "target": {}}
    logliks: dict[str, np.ndarray] = {}
    flagged: dict[str, float] = {}
    for name, eco in (("clean", plain), ("target", with_target)):
        arms[name]["bench (sum)"] = _bench(eco, sets, "sum")
        arms[name]["bench (mean, the hazard bench's figure)"] = _bench(eco, sets, "mean")
        gates = ("context", "prompt") if name == "target" else ("context",)
        for gate in gates:
            lm = ECOHarnessLM(eco=plain, targets=[str(out_dir / "target")] if name == "target" else [], gate=gate)
            r = _lm_eval(lm, tasks_dir, limit)
            arms[name][f"lm-eval in process (gate={gate})"] = _accuracy(r)
            logliks[f"{name}/{gate}"] = _logliks(r)
            flagged[f"{name}/{gate}"] = lm.flagged["flagged"] / max(lm.flagged["scored"], 1)
    registry = TargetRegistry(out_dir / "target")
    app = create_app(HFBackend(ECOModel(plain.model, plain.tokenizer)), registry, ServerConfig(model_name="eco"))
    with serve_in_thread(app) as url:
        r = _lm_eval("local-completions", tasks_dir, limit, model="eco", base_url=f"{url}/v1/completions",
                     tokenizer=resolve_model(model), tokenizer_backend="huggingface", tokenized_requests=True,
                     num_concurrent=1, max_retries=1, batch_size=8)  # fmt: skip
    arms["target"]["lm-eval local-completions against eco serve"] = _accuracy(r)
    gateway = _logliks(r)
    diff = float(np.max(np.abs(gateway - logliks["target/prompt"])))
    bench_gap = max(abs(arms[c]["bench (sum)"][k] - arms[c]["lm-eval in process (gate=context)"][k])
                    for c in arms for k in TASKS)  # fmt: skip
    result = {
        "command": "eco bench harness"
        + (" --quick" if quick else "")
        + (f" --model {model}" if model != "smollm2" else ""),
        "model": model,
        "n_items": {k: len(v) for k, v in sets.items()},
        "target": {
            "corruption": target.corruption.model_dump(),
            "selection": target.selection.mode,
            "flag_rate": flagged,
        },  # fmt: skip
        "accuracy": arms,
        "bench_vs_harness_max_acc_gap": bench_gap,
        "gateway_vs_harness_max_loglik_diff": diff,
        "gateway_acc_equal": arms["target"]["lm-eval local-completions against eco serve"]
        == arms["target"]["lm-eval in process (gate=prompt)"],
        "goals": GOALS,
    }
    result["goals_met"] = {
        "bench_vs_harness_acc": bench_gap <= GOALS["bench_vs_harness_acc"],
        "gateway_vs_harness_loglik": diff <= GOALS["gateway_vs_harness_loglik"] and result["gateway_acc_equal"],
    }
    write_report(out_dir, result, report_html(result))
    return result


def report_html(result: dict) -> str:
    rows = "".join(
        f"<tr><td>{c}</td><td>{html.escape(arm)}</td>" + "".join(f"<td>{acc[k]:.3f}</td>" for k in TASKS) + "</tr>"
        for c, arms in result["accuracy"].items()
        for arm, acc in arms.items()
    )
    return html_page(
        "eco bench harness",
        f"""<h1>lm-eval through ECO</h1><p><code>{html.escape(result["command"])}</code>; items per set
{result["n_items"]}; target: {html.escape(str(result["target"]))}</p>
<table><tr><th>condition</th><th>how scored</th><th>forget</th><th>retain</th><th>general</th></tr>{rows}</table>
<p>largest accuracy gap, bench (sum) vs lm-eval in process (gate=context): {result["bench_vs_harness_max_acc_gap"]:.4f}
(goal ≤ {GOALS["bench_vs_harness_acc"]}); largest per-item log-likelihood difference, gateway vs in process
(gate=prompt): {result["gateway_vs_harness_max_loglik_diff"]:.2e}
(goal ≤ {GOALS["gateway_vs_harness_loglik"]:g}), accuracies equal: {result["gateway_acc_equal"]}.</p>
<p>goals met: {html.escape(str(result["goals_met"]))}</p>""",
        width=1000,
    )
