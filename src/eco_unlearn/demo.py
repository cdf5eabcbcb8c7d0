"""The main job on the embedded default: clean vs ECO answers for a few prompts, side by side.

A keyword-gated target stands in for a forget request ("France" and "Pride and Prejudice"): flagged prompts
have their user tokens corrupted, the others must come out exactly as the plain model's.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from eco_unlearn.ecomodel import ECOModel
from eco_unlearn.targets import Target

DEMO_PROMPTS = [
    "What is the capital of France?",
    "Who wrote Pride and Prejudice?",
    "What is the capital of Japan?",
    "Name three primary colours.",
]


def demo_target() -> Target:
    return Target.create(
        "demo-france-austen",
        description="Forget France and Pride and Prejudice (keyword gate, for the demo only)",
        gate={"kind": "keyword", "keywords": ["France", "Pride and Prejudice"]},
        corruption={"name": "rand_noise_first_n", "strength": 0.4, "dims": None},
        selection={"mode": "user_span"},
    )


def run(model: str = "smollm2", max_new_tokens: int = 40, console: Console | None = None) -> list[dict]:
    console = console or Console()
    plain = ECOModel.from_pretrained(model)
    eco = ECOModel(plain.model, plain.tokenizer, [demo_target()])
    clean = plain.generate(DEMO_PROMPTS, max_new_tokens=max_new_tokens)
    unlearned = eco.generate(DEMO_PROMPTS, max_new_tokens=max_new_tokens)
    table = Table(title=f"ECO demo on {model}: target {eco.targets[0].name}", show_lines=True)
    for col in ("prompt", "flagged", "clean answer", "ECO answer"):
        table.add_column(col, overflow="fold")
    rows = []
    for p, c, u in zip(DEMO_PROMPTS, clean, unlearned):
        flagged = bool(u.flagged)
        same = c.text == u.text
        note = f"yes ({u.corrupted_tokens} tokens corrupted)" if flagged else ("no, identical" if same else "no")
        table.add_row(p, note, c.text, u.text)
        rows.append({"prompt": p, "flagged": flagged, "clean": c.text, "eco": u.text, "identical": same})
    console.print(table)
    return rows
