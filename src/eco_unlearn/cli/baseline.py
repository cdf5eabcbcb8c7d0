"""`eco baseline …`: the weight-editing unlearning baselines run on their own."""

from __future__ import annotations

from typing import Annotated

import typer

from eco_unlearn.cli.common import DeviceOpt, DtypeOpt, fail, out, place

app = typer.Typer(help="Weight-editing unlearning baselines (GA, GD, KL, NPO, NPO-RT).", no_args_is_help=True)


@app.command("run")
def baseline_run(
    method: Annotated[str, typer.Argument(help="ga, gd, kl, npo or npo_rt.")],
    task: Annotated[str, typer.Option(help="Benchmark task (authors).")] = "authors",
    split: Annotated[str, typer.Option(help="Forget split, e.g. forget20.")] = "forget20",
    epochs: Annotated[int, typer.Option(help="Unlearning epochs (TOFU: 5).")] = 5,
    lr: Annotated[float, typer.Option(help="Learning rate (TOFU's: its fine-tuning rate, here 1e-4).")] = 1e-4,
    quick: Annotated[bool, typer.Option(help="The tiny random model of --quick benchmarks.")] = False,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Unlearn one split with one baseline; print forget quality, model utility and the cost."""
    place(device, dtype)
    from eco_unlearn.evaluation.baselines import METHODS, UnlearnConfig
    from eco_unlearn.evaluation.bench.authors import run_baseline

    if task != "authors":
        raise fail(f"baselines run on the authors task for now, not {task!r}")
    if method not in METHODS:
        raise fail(f"unknown baseline {method!r}; choose one of {', '.join(METHODS)}")
    try:
        r = run_baseline(method, split, quick=quick, unlearn_cfg=UnlearnConfig(epochs=epochs, lr=lr))
    except ValueError as e:
        raise fail(str(e)) from None
    c = r["cost"]
    out.print(
        f"{method} on {split}: forget quality {r['forget_quality']:.3g}, model utility {r['model_utility']:.3f}, "
        f"forget ROUGE-L {r['forget_rouge_l']:.3f}\ncost: {c['seconds']:.1f} s, {c['forward_passes']} forward and "
        f"{c['backward_passes']} backward passes, peak RSS {c['peak_rss_mb']:.0f} MB\ncheckpoint: {r['checkpoint']}"
    )
