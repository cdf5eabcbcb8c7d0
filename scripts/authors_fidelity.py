"""What forget quality can a distribution-level fit reach? Per-question fidelity in recorded authors runs.

Forget quality is the p-value of a two-sample KS test between a method's truth ratios on the forget questions
and the retain model's on the *same* questions. Two models that never saw the authors score the same
questions alike (the noise floor, `eco bench authors --floor`: 0.96-1.00), because their per-question
values move together. A method that matches the retain model's *distribution* but not its per-question
values is, to the KS test, an independent sample of the same distribution, and then the p-value is uniform
on (0, 1): its median over seeds is 0.5, whatever the fit does.

This script reads recorded `eco bench authors` results (no model is run) and reports, per author set and
split, the Spearman correlation between each row's per-question log truth ratios and the retain model's,
next to its forget quality; the same p-value under independence, simulated at the split's size; and a KS
test of whether a row's forget qualities over every set and split look uniform.

    .venv/bin/python scripts/authors_fidelity.py benchmarks/results/authors.json \
        benchmarks/results/authors-seed1.json benchmarks/results/authors-seed2.json \
        --out benchmarks/results/authors-fidelity.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

from eco_unlearn.fileio import atomic_write_json

ROWS = ("original", "eco_zero_out", "eco_sign_flip", "eco_rand_noise")


def null_p_values(n: int, draws: int = 2000, seed: int = 0) -> np.ndarray:
    """KS p-values of two independent samples of one continuous distribution, n questions each."""
    rng = np.random.default_rng(seed)
    return np.array([stats.ks_2samp(rng.normal(size=n), rng.normal(size=n)).pvalue for _ in range(draws)])


def fidelity(paths: list[Path]) -> dict:
    out: dict = {"runs": {}, "null": {}, "uniform": {}}
    quality: dict[str, list[float]] = {r: [] for r in ROWS}
    for path in paths:
        result = json.loads(path.read_text())
        run = out["runs"][path.name] = {}
        for split, s in result["splits"].items():
            methods = s["methods"]
            retain = np.log(methods["retain"]["sets"]["forget"]["ratios"])
            run[split] = {}
            for row in ROWS:
                mine = np.log(methods[row]["sets"]["forget"]["ratios"])
                rho = float(stats.spearmanr(mine, retain).statistic)
                run[split][row] = {"spearman_vs_retain": rho, "forget_quality": methods[row]["forget_quality"]}
                quality[row].append(methods[row]["forget_quality"])
            n = len(retain)
            if str(n) not in out["null"]:
                p = null_p_values(n)
                out["null"][str(n)] = {"median": float(np.median(p)), "share_at_least_0.5": float(np.mean(p >= 0.5))}
    for row, q in quality.items():
        out["uniform"][row] = {"n": len(q), "median": float(np.median(q)),
                               "ks_vs_uniform_p": float(stats.kstest(q, "uniform").pvalue)}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="results.json files of `eco bench authors`")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = ap.parse_args()
    out = fidelity(args.results)
    for name, run in out["runs"].items():
        for split, rows in run.items():
            cells = [f"{r} ρ {v['spearman_vs_retain']:+.2f} FQ {v['forget_quality']:.3g}" for r, v in rows.items()]
            print(f"{name} {split}: " + " | ".join(cells))
    for n, v in out["null"].items():
        print(f"independent samples of {n}: median p {v['median']:.2f}, share ≥ 0.5 {v['share_at_least_0.5']:.2f}")
    for row, v in out["uniform"].items():
        print(f"{row}: median FQ {v['median']:.3g} over {v['n']}; KS vs uniform p = {v['ks_vs_uniform_p']:.3g}")
    if args.out:
        atomic_write_json(args.out, {"command": "scripts/authors_fidelity.py " + " ".join(map(str, args.results))}
                          | out)  # fmt: skip


if __name__ == "__main__":
    main()
