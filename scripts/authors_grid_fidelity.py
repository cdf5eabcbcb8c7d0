"""Along the fit's grid: the fit objective, fidelity on never-seen authors, and forget quality (diagnostic).

For one author set, every grid point the recorded `eco bench authors` fit scored for zero-out and sign-flip on
``answer_facts`` tokens is applied again (the cached fine-tuned target; nothing is fine-tuned) to:

- the fit's reference questions (authors the target never saw): ``rho_ref``, the Spearman correlation of the
  corrupted target's log truth ratios with the clean target's there (no retain model involved);
- the forget40 questions (forget20 and forget30 are its first 48 and 72): forget quality and per-question
  Spearman correlation against the retain model's recorded ratios. This reads evaluation data; it is a
  diagnostic of what the fit could use, and chooses nothing.

    for s in 0 1 2; do .venv/bin/python scripts/authors_grid_fidelity.py $s; done
    # → benchmarks/results/authors-grid-fidelity-seed{0,1,2}.json, about 10 min each
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from authors_fidelity import corrupted, never_seen  # scripts/ is on the path when a script runs
from scipy import stats

from eco_unlearn.evaluation.bench.authors import eval_truth
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.fit.distribution import log_truth_ratios

RESULTS = {0: "authors.json", 1: "authors-seed1.json", 2: "authors-seed2.json"}
FAMILIES = ("zero_out_top_k", "flip_sign_top_k")


def grid_fidelity(seed: int, results: Path) -> dict:
    recorded = json.loads(results.read_text())
    prep, target, reference, clean_ref = never_seen(seed)
    sizes = {prep.splits.split_name(k): len(prep.forget_items(k)) for k in prep.splits.forget_sizes}
    largest = [eval_truth(it) for it in prep.forget_items(max(prep.splits.forget_sizes))]
    retain = {s: recorded["splits"][s]["methods"]["retain"]["sets"]["forget"]["ratios"] for s in sizes}
    points = [p for p in recorded["fit"]["trajectory"]
              if p["selection"] == "answer_facts" and p["kind"] == "grid" and p["family"] in FAMILIES]  # fmt: skip
    rows = []
    for p in points:
        eco = corrupted(target, "answer_facts", p["family"], p["sigma"], p["dims"])
        mine = log_truth_ratios(eco, largest)
        row = {"family": p["family"], "dims": p["dims"], "fit_objective": p["objective"],
               "rho_ref": float(stats.spearmanr(log_truth_ratios(eco, reference), clean_ref).statistic)}  # fmt: skip
        for split, n in sizes.items():  # nested splits: the first n questions of the largest
            row[f"{split}_quality"] = float(stats.ks_2samp(np.exp(mine[:n]), retain[split]).pvalue)
            row[f"{split}_rho_retain"] = float(stats.spearmanr(mine[:n], np.log(retain[split])).statistic)
        rows.append(row)
        print(json.dumps(row), flush=True)
    med = [float(np.median([r[f"{s}_quality"] for s in sizes])) for r in rows]
    summary = {
        "spearman_fit_objective_vs_median_quality": float(stats.spearmanr([r["fit_objective"] for r in rows], med)[0]),
        "spearman_rho_ref_vs_median_quality": float(stats.spearmanr([r["rho_ref"] for r in rows], med)[0]),
    }
    return {"seed": seed, "results": str(results), "points": rows, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seed", type=int, choices=sorted(RESULTS))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    results = Path("benchmarks/results") / RESULTS[args.seed]
    out = grid_fidelity(args.seed, results)
    atomic_write_json(args.out or Path(f"benchmarks/results/authors-grid-fidelity-seed{args.seed}.json"),
                      {"command": f"scripts/authors_grid_fidelity.py {args.seed}"} | out)  # fmt: skip
    print(out["summary"])


if __name__ == "__main__":
    main()
