"""`eco bench classifier`: what a prompt classifier costs and how well it gates.

- training time for ~1,000 prompts (500 chemistry forget, 500 geography retain; augmentation triples that)
  for both classifier kinds, and the per-prompt scoring latency;
- FNR / FPR on held-out prompts, plain and wrapped in jailbreak frames that training never saw, and FPR
  on the general set (TOFU world facts + real authors), all at the calibrated τ (conformal α = 0.05);
- gate latency with 100 targets vs 1 target: 99 extra targets reuse the trained classifier's encoder with
  perturbed weights (same cost as distinct targets on one backbone); single prompts, the two arms timed
  back to back on each prompt in alternating order, so machine drift hits both alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from eco_unlearn.console import track
from eco_unlearn.core.encoder import decide
from eco_unlearn.evaluation.domains import domain_prompts
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.embedding_classifier import EmbeddingClassifier
from eco_unlearn.gate.targets import Target


def _median_latency(fn, prompts: list[str]) -> float:
    times = []
    for p in prompts:
        t0 = time.perf_counter()
        fn([p])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(
    kinds: tuple[str, ...] = ("embedding", "finetune"),
    n_per_class: int = 500,
    repeats: int = 3,
    out: Path | None = None,
) -> dict:
    chem_train, chem_test = domain_prompts("chemistry", per_item=6, seed=0)
    geo_train, geo_test = domain_prompts("geography", per_item=3, seed=0)
    forget, retain = chem_train[:n_per_class], geo_train[:n_per_class]
    probe = chem_test[:40] + geo_test[:40]
    result: dict = {
        "command": f"eco bench classifier --kinds {','.join(kinds)} --n-per-class {n_per_class} --repeats {repeats}",
        "n_prompts": len(forget) + len(retain),
        "kinds": {},
    }
    trained: dict[str, Target] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            t0 = time.perf_counter()
            target, rep = create_target(f"bench-{kind}", forget, retain, Path(tmp) / kind, classifier=kind)
            total = time.perf_counter() - t0
            latency = _median_latency(target.gate.p_forget, probe)
            result["kinds"][kind] = {
                "train_seconds": rep["train_seconds"],
                "create_seconds_total": total,
                "n_train_after_augmentation": rep["n_train"],
                "latency_ms_per_prompt": 1000 * latency,
                **{k: rep[k] for k in rep if k.startswith(("fnr_", "fpr_")) or k in ("auroc", "threshold")},
            }
            trained[kind] = target

    if "embedding" in trained:
        base = trained["embedding"]
        rng = np.random.default_rng(0)
        many = [base] + [
            Target(
                base.manifest.model_copy(update={"name": f"t{i}"}),
                EmbeddingClassifier(
                    base.gate.encoder, base.gate.coef + rng.normal(0, 0.1, base.gate.coef.shape), base.gate.intercept
                ),
            )
            for i in range(99)
        ]
        prompts = probe * 2
        arms = {"1_target": lambda p: decide([p], [base]), "100_targets": lambda p: decide([p], many)}
        times: dict[str, list[float]] = {k: [] for k in arms}
        for r in track(range(repeats), "1 vs 100 targets"):
            for i, p in enumerate(prompts):  # the two arms back to back per prompt, alternating which goes first
                for name in list(arms)[:: 1 if (i + r) % 2 == 0 else -1]:
                    t0 = time.perf_counter()
                    arms[name](p)
                    times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        result["targets_latency_ms"] = {k: 1000 * v for k, v in med.items()}
        result["targets_latency_ratio_100_vs_1"] = med["100_targets"] / med["1_target"]
    if out:
        atomic_write_json(out, result)
    return result
