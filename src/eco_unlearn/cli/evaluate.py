"""`eco eval`: lm-evaluation-harness tasks through ECO (the `eco` lm-eval model, evaluation/harness.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from eco_unlearn.cli.common import DeviceOpt, DtypeOpt, ModelOpt, fail, need_lm_eval, out, place


def eval_tasks(
    tasks: Annotated[str, typer.Option(help="Comma-separated lm-eval tasks or groups (shipped: eco_hazard).")],
    model: ModelOpt = "smollm2",
    target: Annotated[list[Path] | None, typer.Option("--target", "-t", help="Target bundle dir (repeatable).")] = None,
    include_path: Annotated[
        list[Path] | None, typer.Option(help="Directory of your own lm-eval task YAMLs (repeatable).")
    ] = None,
    gate: Annotated[
        str, typer.Option(help="What the gates read: 'context' (as eco bench) or 'prompt' (as eco serve sees it).")
    ] = "context",
    limit: Annotated[float | None, typer.Option(help="Items per task (a fraction if < 1), for a quick look.")] = None,
    num_fewshot: Annotated[int | None, typer.Option(help="Few-shot examples (task default if unset).")] = None,
    batch_size: Annotated[int, typer.Option(help="Sequences planned per gate call.")] = 8,
    log_samples: Annotated[bool, typer.Option(help="Keep every item's inputs and scores in the JSON.")] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/eval"),
    export_tasks: Annotated[
        Path | None, typer.Option(help="Only write the shipped tasks (YAML + JSONL) here for lm_eval --include_path.")
    ] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Run lm-eval tasks on a model behind forget targets; lm-eval's results JSON goes to OUT/lm_eval_results.json."""
    place(device, dtype)
    need_lm_eval()
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.harness import evaluate, write_local_tasks
    from eco_unlearn.gate.targets import BundleError

    if export_tasks is not None:
        write_local_tasks(export_tasks)
        out.print(
            f"wrote the eco_hazard task to {export_tasks}: lm_eval --include_path {export_tasks} --tasks eco_hazard"
        )
        return
    if limit is not None and limit >= 1:
        limit = int(limit)
    try:
        r = evaluate(model, target or [], [t for t in tasks.split(",") if t], out_dir, include_path=include_path or [],
                     gate=gate, limit=limit, batch_size=batch_size, log_samples=log_samples,
                     num_fewshot=num_fewshot)  # fmt: skip
    except (ValueError, ModelNotAvailable, BundleError) as e:
        raise fail(str(e)) from None
    t = Table("task", "metric", "value", title=f"lm-eval on {model}, targets: {len(target or [])}, gate: {gate}")
    for task, metrics in sorted(r["results"].items()):
        for name, value in metrics.items():
            if isinstance(value, float) and "stderr" not in name:
                t.add_row(task, name, f"{value:.4f}")
    out.print(t)
    eco = r["eco"]
    out.print(f"flagged {eco['flagged']} of {eco['scored']} scored sequences; wrote {out_dir / 'lm_eval_results.json'}")
