"""Apply the authors fit's tie rule to fits recorded before it existed.

`eco bench authors` breaks ties within the lowest candidate's bootstrap interval toward zero-out
(``FIT_TIES``, ``FIT_PREFER``). Author sets 0 and 1 were run before that rule; their results keep every
candidate's fitted point and the rows each candidate scores on the forget sets. This script rebuilds each
set's fit items and reference from its seed (the cached fine-tuned target, no retain model), re-scores every
candidate that passed the fluency check at its recorded point (it must reproduce the recorded objective),
runs the product's own ``fit.family.break_ties`` and reads the winner's forget quality from the recorded rows.

    .venv/bin/python scripts/authors_ties.py 0:benchmarks/results/authors.json \
        1:benchmarks/results/authors-seed1.json --out benchmarks/results/authors-ties.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.bench.authors import (
    FIT_PREFER,
    FIT_SELECTIONS,
    FIT_TIES,
    eco_row,
    fit_base_target,
    fit_inputs,
    prepare,
)
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.fit.distribution import DistributionObjective
from eco_unlearn.fit.evaluator import FitConfig
from eco_unlearn.fit.family import break_ties


def retie(seed: int, path: Path) -> dict:
    result = json.loads(path.read_text())
    fit = result["fit"]
    prep = prepare(seed=seed)
    target = ECOModel.from_pretrained(str(prep.target_ckpt))
    objective = DistributionObjective.from_unseen(target, *fit_inputs(prep.splits, prep.fit_qa))
    base = fit_base_target()
    passed = [c for c in fit["candidates"] if c["check"]["ok"]]
    for c in passed:
        t = base.with_selection(mode=c["selection"]).with_corruption(
            name=c["name"], strength=c["strength"], dims=c["dims"]
        )
        again = objective.metric(ECOModel(target.model, target.tokenizer, [t], seed=target.seed), 0)
        if abs(again - c["objective"]) > 1e-9:
            raise SystemExit(f"seed {seed}: {c['name']} ({c['selection']}) scores {again}, recorded {c['objective']}")
    cfg = FitConfig(seeds=1)  # as fit_eco's
    best, clause = break_ties(target, base, objective, passed, cfg, FIT_TIES, FIT_PREFER, FIT_SELECTIONS)
    row = eco_row(best)
    return {
        "seed": seed,
        "results": str(path),
        "recorded_choice": {"name": fit["chosen"], "selection": fit["selection"], "dims": fit["dims"]},
        "tie_choice": {
            "name": best["name"],
            "selection": best["selection"],
            "dims": best["dims"],
            "objective": best["objective"],
            "row": row,
        },
        "reason": clause.lstrip("; "),
        "candidates": [
            {k: c[k] for k in ("name", "selection", "strength", "dims", "objective", "bootstrap", "tied")}
            for c in passed
        ],
        "forget_quality": {s: v["methods"][row]["forget_quality"] for s, v in result["splits"].items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="SEED:RESULTS.json of an eco bench authors run")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    runs = [retie(int(s), Path(f)) for s, f in (r.split(":", 1) for r in args.runs)]
    atomic_write_json(args.out, {"command": "python scripts/authors_ties.py " + " ".join(args.runs), "runs": runs})
    for r in runs:
        print(r["seed"], r["recorded_choice"]["name"], "->", r["tie_choice"]["row"], r["forget_quality"])


if __name__ == "__main__":
    main()
