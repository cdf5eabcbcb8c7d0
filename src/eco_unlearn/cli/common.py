"""What every command module shares: the console, the error exit, and option parsers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

out = Console()

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Embedded name (smollm2, gemma3-270m) or local path.")]


def fail(message: str) -> typer.Exit:
    """Print a red one-line error and return the exit (status 2) for the caller to raise."""
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


def baselines_option(spec: str) -> tuple[str, ...]:
    """``--baselines``: a comma-separated list of methods, or ``all``."""
    from eco_unlearn.evaluation.baselines import METHODS

    chosen = tuple(METHODS) if spec == "all" else tuple(b for b in spec.split(",") if b)
    unknown = [b for b in chosen if b not in METHODS]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    return chosen
