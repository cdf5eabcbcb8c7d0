"""The `eco` command line: one module per command group, assembled here.

``eco`` (the console script) and ``python -m eco_unlearn.cli`` both run :data:`app`.
"""

from __future__ import annotations

import typer

from eco_unlearn.cli import baseline, bench, evaluate, serve, target, top

app = typer.Typer(help="eco-unlearn: unlearning at the prompt (Embedding-COrrupted prompts).", no_args_is_help=True)
for command in (top.generate, top.info, serve.serve, top.demo):
    app.command()(command)
app.command("eval")(evaluate.eval_tasks)
app.add_typer(bench.app, name="bench")
app.add_typer(target.app, name="target")
app.add_typer(baseline.app, name="baseline")

__all__ = ["app"]
