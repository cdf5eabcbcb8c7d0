"""What forget quality can a distribution-level fit reach? Per-question fidelity in recorded authors runs.

Forget quality is the p-value of a two-sample KS test between a method's truth ratios on the forget questions
and the retain model's on the *same* questions. Two models that never saw the authors score the same
questions alike (the noise floor, `eco bench authors --floor`: 0.96-1.00), because their per-question
values move together. A method that matches the retain model's *distribution* but not its per-question
values is, to the KS test, an independent sample of the same distribution, and then the p-value is uniform
on (0, 1): its median over seeds is 0.5, whatever the fit does.

This script reads recorded `eco bench authors` results and reports, per author set and split, the Spearman
correlation between each row's per-question log truth ratios and the retain model's, next to its forget
quality; the same p-value under independence, simulated at the split's size; and a KS test of whether a
row's forget qualities over every set and split look uniform.

With ``--reference`` it also asks whether that fidelity can be seen *without* the retain model. Each
recorded fit candidate is applied to the fit's reference questions (authors the target never saw) as if
they were flagged, and its log truth ratios there are correlated with the clean target's on the same
questions (``rho_ref``). On never-seen authors the target has nothing to forget, so a corruption that only
removes knowledge leaves their per-question values in place, and one that scrambles the answer's language
moves them. This loads each set's cached fine-tuned target (``eco bench authors --seed N`` made it) and
reads no retain model.

    .venv/bin/python scripts/authors_fidelity.py 0:benchmarks/results/authors.json \
        1:benchmarks/results/authors-seed1.json 2:benchmarks/results/authors-seed2.json \
        --reference --out benchmarks/results/authors-fidelity.json
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


def never_seen(seed: int):
    """An author set's cached target, its fit's never-seen reference questions and the clean target's log
    truth ratios on them (nothing is fine-tuned again; no retain model is read)."""
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.evaluation.bench.authors import fit_inputs, prepare
    from eco_unlearn.fit.distribution import log_truth_ratios

    prep = prepare(seed=seed)
    target = ECOModel.from_pretrained(str(prep.target_ckpt))
    _, reference = fit_inputs(prep.splits, prep.fit_qa)
    return prep, target, reference, log_truth_ratios(ECOModel(target.model, target.tokenizer), reference)


def corrupted(target, selection: str, name: str, strength: float, dims: int | None):
    """The target under one fit candidate, with the fit's gate (every prompt flagged)."""
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.evaluation.bench.authors import fit_base_target

    t = fit_base_target().with_selection(mode=selection).with_corruption(name=name, strength=strength, dims=dims)
    return ECOModel(target.model, target.tokenizer, [t], seed=target.seed)


def reference_fidelity(seed: int, result: dict) -> dict[str, dict]:
    """``rho_ref`` of every recorded fit candidate (module docstring), keyed by its row."""
    from eco_unlearn.evaluation.bench.authors import eco_row
    from eco_unlearn.fit.distribution import log_truth_ratios

    _, target, reference, clean = never_seen(seed)
    out = {}
    for c in result["fit"]["candidates"]:
        mine = log_truth_ratios(corrupted(target, c["selection"], c["name"], c["strength"], c["dims"]), reference)
        out[eco_row(c)] = {"rho_ref": float(stats.spearmanr(mine, clean).statistic), "fit_objective": c["objective"],
                           "passed_check": c["check"]["ok"]}  # fmt: skip
    return out


def fidelity(runs: list[tuple[int, Path]], reference: bool = False) -> dict:
    out: dict = {"runs": {}, "null": {}, "uniform": {}}
    quality: dict[str, list[float]] = {r: [] for r in ROWS}
    for seed, path in runs:
        result = json.loads(path.read_text())
        run = out["runs"][path.name] = {"seed": seed}
        if reference:
            run["reference"] = reference_fidelity(seed, result)
        for split, s in result["splits"].items():
            methods = s["methods"]
            retain = np.log(methods["retain"]["sets"]["forget"]["ratios"])
            run[split] = {}
            for row in [*ROWS, *(r for r in run.get("reference", {}) if r not in ROWS)]:
                mine = np.log(methods[row]["sets"]["forget"]["ratios"])
                rho = float(stats.spearmanr(mine, retain).statistic)
                run[split][row] = {"spearman_vs_retain": rho, "forget_quality": methods[row]["forget_quality"]}
                if row in quality:
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
    ap.add_argument("runs", nargs="+", help="SEED:RESULTS.json of an `eco bench authors --seed SEED` run")
    ap.add_argument("--reference", action="store_true", help="also score each fit candidate on never-seen authors")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = ap.parse_args()
    runs = [(int(seed), Path(path)) for seed, path in (r.split(":", 1) for r in args.runs)]
    out = fidelity(runs, args.reference)
    for name, run in out["runs"].items():
        for row, v in run.get("reference", {}).items():
            print(f"{name} {row}: rho_ref {v['rho_ref']:+.2f} (fit objective {v['fit_objective']:.3f})")
        for split, rows in ((k, v) for k, v in run.items() if k.startswith("forget")):
            cells = [f"{r} ρ {v['spearman_vs_retain']:+.2f} FQ {v['forget_quality']:.3g}" for r, v in rows.items()]
            print(f"{name} {split}: " + " | ".join(cells))
    for n, v in out["null"].items():
        print(f"independent samples of {n}: median p {v['median']:.2f}, share ≥ 0.5 {v['share_at_least_0.5']:.2f}")
    for row, v in out["uniform"].items():
        print(f"{row}: median FQ {v['median']:.3g} over {v['n']}; KS vs uniform p = {v['ks_vs_uniform_p']:.3g}")
    if args.out:
        command = "scripts/authors_fidelity.py " + " ".join(args.runs) + (" --reference" if args.reference else "")
        atomic_write_json(args.out, {"command": command} | out)


if __name__ == "__main__":
    main()
