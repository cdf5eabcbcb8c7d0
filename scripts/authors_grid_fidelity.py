"""Along the fit's grid: the fit objective, fidelity on never-seen authors, and forget quality (diagnostic).

For one author set, every grid point the recorded `eco bench authors` fit scored for zero-out and sign-flip on
``answer_facts`` tokens is applied again (the cached fine-tuned target; nothing is fine-tuned) to:

- the fit's reference questions (authors the target never saw): ``rho_ref``, the Spearman correlation of the
  corrupted target's log truth ratios with the clean target's there (no retain model involved);
- the forget40 questions (forget20 and forget30 are its first 48 and 72): forget quality and per-question
  Spearman correlation against the retain model's recorded ratios. This reads evaluation data; it is a
  diagnostic of what the fit could use, and chooses nothing.

``--candidate FAMILY:SELECTION[:STRENGTH[:DIMS]]`` (repeatable) scores those corruptions instead of the grid
(e.g. ``substitute:proper_nouns``: the names swapped for other name-like words, which the fit does not
search), each with its fit objective computed as the fit computes it (KS of its log truth ratios on the fit
questions against the reference).

    for s in 0 1 2; do .venv/bin/python scripts/authors_grid_fidelity.py $s; done
    # → benchmarks/results/authors-grid-fidelity-seed{0,1,2}.json, about 10 min each
    for s in 0 1 2 3; do .venv/bin/python scripts/authors_grid_fidelity.py $s --candidate substitute:proper_nouns \
        --candidate substitute:answer_facts; done   # → authors-candidates-seed{0,1,2,3}.json, about 4 min each
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from authors_fidelity import corrupted, never_seen  # scripts/ is on the path when a script runs
from scipy import stats

from eco_unlearn.evaluation.bench.authors import eval_truth, fit_inputs
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.fit.distribution import DistributionObjective, log_truth_ratios

RESULTS = {0: "authors.json", 1: "authors-seed1.json", 2: "authors-seed2.json", 3: "authors-seed3.json"}
FAMILIES = ("zero_out_top_k", "flip_sign_top_k")


def grid_fidelity(seed: int, results: Path, candidates: tuple[str, ...] = ()) -> dict:
    recorded = json.loads(results.read_text())
    prep, target, reference, clean_ref = never_seen(seed)
    sizes = {prep.splits.split_name(k): len(prep.forget_items(k)) for k in prep.splits.forget_sizes}
    largest = [eval_truth(it) for it in prep.forget_items(max(prep.splits.forget_sizes))]
    retain = {s: recorded["splits"][s]["methods"]["retain"]["sets"]["forget"]["ratios"] for s in sizes}

    def scored(eco, row: dict) -> dict:
        """``row`` with rho_ref and each split's forget quality and Spearman correlation against the retain
        model (nested splits: the first n questions of the largest)."""
        mine = log_truth_ratios(eco, largest)
        row["rho_ref"] = float(stats.spearmanr(log_truth_ratios(eco, reference), clean_ref).statistic)
        for split, n in sizes.items():
            row[f"{split}_quality"] = float(stats.ks_2samp(np.exp(mine[:n]), retain[split]).pvalue)
            row[f"{split}_rho_retain"] = float(stats.spearmanr(mine[:n], np.log(retain[split])).statistic)
        print(json.dumps(row), flush=True)
        return row

    if candidates:
        objective = DistributionObjective(fit_inputs(prep.splits, prep.fit_qa)[0], clean_ref.tolist())  # the fit's
        extra = []
        for spec in candidates:
            family, selection, strength, dims = parse_candidate(spec)
            eco = corrupted(target, selection, family, strength, dims)
            extra.append(scored(eco, {"candidate": spec, "fit_objective": objective.metric(eco, seed=0)}))
        return {"seed": seed, "results": str(results), "candidates": extra}
    points = [p for p in recorded["fit"]["trajectory"]
              if p["selection"] == "answer_facts" and p["kind"] == "grid" and p["family"] in FAMILIES]  # fmt: skip
    rows = [
        scored(corrupted(target, "answer_facts", p["family"], p["sigma"], p["dims"]),
               {"family": p["family"], "dims": p["dims"], "fit_objective": p["objective"]})
        for p in points
    ]  # fmt: skip
    med = [float(np.median([r[f"{s}_quality"] for s in sizes])) for r in rows]
    summary = {
        "spearman_fit_objective_vs_median_quality": float(stats.spearmanr([r["fit_objective"] for r in rows], med)[0]),
        "spearman_rho_ref_vs_median_quality": float(stats.spearmanr([r["rho_ref"] for r in rows], med)[0]),
    }
    return {"seed": seed, "results": str(results), "points": rows, "summary": summary}


def parse_candidate(spec: str) -> tuple[str, str, float, int | None]:
    """``FAMILY:SELECTION[:STRENGTH[:DIMS]]`` → (family, selection, strength, dims); strength 1 and every dim
    unless given (what a family without a strength, such as ``substitute``, ignores)."""
    parts = spec.split(":")
    if not 2 <= len(parts) <= 4:
        raise ValueError(f"{spec!r}: expected FAMILY:SELECTION[:STRENGTH[:DIMS]]")
    strength = float(parts[2]) if len(parts) > 2 else 1.0
    return parts[0], parts[1], strength, int(parts[3]) if len(parts) > 3 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seed", type=int, choices=sorted(RESULTS))
    ap.add_argument("--candidate", action="append", default=[],
                    help="FAMILY:SELECTION[:STRENGTH[:DIMS]] to score instead of the grid")  # fmt: skip
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    for spec in args.candidate:  # a malformed one fails before any model is loaded
        try:
            parse_candidate(spec)
        except ValueError as e:
            ap.error(str(e))
    results = Path("benchmarks/results") / RESULTS[args.seed]
    out = grid_fidelity(args.seed, results, tuple(args.candidate))
    command = f"scripts/authors_grid_fidelity.py {args.seed}" + "".join(f" --candidate {c}" for c in args.candidate)
    name = "authors-candidates" if args.candidate else "authors-grid-fidelity"
    atomic_write_json(args.out or Path(f"benchmarks/results/{name}-seed{args.seed}.json"), {"command": command} | out)
    print(out.get("summary", ""))


if __name__ == "__main__":
    main()
