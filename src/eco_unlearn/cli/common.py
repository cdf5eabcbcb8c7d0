"""What every command module shares: the console, the error exit, and option parsers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

out = Console()

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Embedded name (smollm2, gemma3-270m) or local path.")]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        help="Where models load: cpu, cuda, cuda:N, mps, or auto (spread over GPUs). \\[default: $ECO_DEVICE or cpu]"
    ),
]
DtypeOpt = Annotated[
    str | None, typer.Option(help="Model precision: float32, bfloat16 or float16. \\[default: $ECO_DTYPE or float32]")
]


def need_lm_eval() -> None:
    """A clear error, before anything loads, where the optional lm-eval extra is missing."""
    import importlib.util

    if importlib.util.find_spec("lm_eval") is None:
        raise fail("lm-eval is not installed: pip install -e '.[lm-eval]'")


def place(device: str | None, dtype: str | None) -> None:
    """Check ``--device`` / ``--dtype`` and make them this process's default, so every model the command
    loads (targets, baselines, references) goes there; fine-tuning still trains in float32."""
    from eco_unlearn.core.models import DEVICE_ENV, DTYPE_ENV, DTYPES, placement

    try:
        where, torch_dtype = placement(device, dtype)
    except ValueError as e:
        raise fail(str(e)) from None
    os.environ[DEVICE_ENV] = where
    os.environ[DTYPE_ENV] = next(name for name, t in DTYPES.items() if t == torch_dtype)


def fail(message: str) -> typer.Exit:
    """Print a red one-line error and return the exit (status 2) for the caller to raise."""
    # the message is text, not markup: a file called "forget[draft].txt" or "pip install '.[lm-eval]'" is
    # printed as written (rich would take "[draft]" for a style and drop it)
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def wrote(*paths: Path) -> None:
    """Say which files a command wrote. Paths are text, not markup (a folder called "runs[old]" is printed
    as written)."""
    out.print("wrote " + " and ".join(escape(str(p)) for p in paths))


def parse_dims(value: str | None) -> int | None:
    """'all' (or empty) means every embedding dimension."""
    if value is None or value.lower() in ("all", ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"dims must be an integer or 'all', got {value!r}") from None


def baselines_option(spec: str) -> tuple[str, ...]:
    """``--baselines``: a comma-separated list of methods, or ``all``."""
    from eco_unlearn.evaluation.baselines import METHODS

    chosen = tuple(METHODS) if spec == "all" else tuple(b for b in spec.split(",") if b)
    unknown = [b for b in chosen if b not in METHODS]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    return chosen
