"""`eco target create`: from forget and retain prompts to a calibrated target bundle.

1. forget prompts are split 60/20/20 into train / calibration / test, retain prompts 80/20 into train / test;
2. the classifier trains on the train splits plus augmented copies (wrappers, casing, typos) of both
   classes, "tell me about X" probes of the target's entities, and the wrappers' own sentences as
   negatives; at inference a prompt scores the max over itself and its sentences (see classifier.py);
3. τ is fixed, or split-conformal on the calibration split (plain + one augmented copy each);
4. the report measures FNR on held-out forget prompts, plain and in wrappers that training never saw, and
   FPR on held-out retain prompts (plain and wrapped) and on a general set (TOFU world facts + real authors
   questions by default);
5. the bundle (classifier, calibration.json, calibration.png, target.json) is written into a staging
   directory and moved into place only when complete.
"""

from __future__ import annotations

import json
import random
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from eco_unlearn.fileio import atomic_write_json, replace_dir
from eco_unlearn.gate.augment import augment, entity_prompts, heldout_wrapped, wrapper_fragments
from eco_unlearn.gate.backbone import DEFAULT_BACKBONE
from eco_unlearn.gate.calibration import conformal_threshold, plot, report
from eco_unlearn.gate.classifier import train_classifier
from eco_unlearn.gate.prompt_files import check_classes
from eco_unlearn.gate.targets import Target, TargetManifest, explain_validation

CALIBRATION_REPORT = "calibration.json"
CALIBRATION_PLOT = "calibration.png"


def general_prompts() -> list[str]:
    """Questions from TOFU's real world-facts and real-authors sets (shipped with the package)."""
    out = []
    for name in ("world_facts_perturbed.jsonl", "real_authors_perturbed.jsonl"):
        text = files("eco_unlearn").joinpath("data", "tofu", name).read_text(encoding="utf-8")
        out += [json.loads(line)["question"] for line in text.splitlines() if line.strip()]
    return out


def _split(items: list[str], fractions: tuple[float, ...], seed: int) -> list[list[str]]:
    items = list(items)
    random.Random(seed).shuffle(items)
    cuts, acc = [], 0.0
    for f in fractions[:-1]:
        acc += f
        cuts.append(int(round(acc * len(items))))
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:])]


def create_target(
    name: str,
    forget: list[str],
    retain: list[str],
    out: str | Path,
    *,
    general: list[str] | None = None,
    classifier: str = "embedding",
    backbone: str = DEFAULT_BACKBONE,
    alpha: float | None = 0.05,
    threshold: float | None = None,
    corruption: dict[str, Any] | None = None,
    selection: dict[str, Any] | None = None,
    entities: list[str] | None = None,
    description: str = "",
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Target, dict]:
    out = Path(out)
    if (alpha is None) == (threshold is None):
        raise ValueError("give exactly one of alpha (split-conformal) or threshold (fixed τ)")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists (use --overwrite to replace it)")
    general = general_prompts() if general is None else general
    check_classes(forget, retain, general)
    entities = list(entities or [])
    # Validate the manifest fields before spending time on training.
    try:
        manifest = TargetManifest(
            name=name,
            description=description,
            corruption=corruption or {},
            selection=selection or {},
            entities=entities,
        )
    except ValidationError as e:
        raise ValueError(explain_validation(e)) from None

    f_train, f_cal, f_test = _split(forget, (0.6, 0.2, 0.2), seed)
    r_train, r_test = _split(retain, (0.8, 0.2), seed + 1)
    train_f = f_train + augment(f_train, seed=seed) + entity_prompts(entities)
    train_r = r_train + augment(r_train, seed=seed + 1) + wrapper_fragments()
    clf, seconds = train_classifier(classifier, train_f, train_r, backbone=backbone, seed=seed)

    cal = f_cal + augment(f_cal, copies=1, seed=seed + 2)
    scores = {
        "forget_test": clf.p_forget(f_test),
        "forget_wrapped": clf.p_forget(heldout_wrapped(f_test, seed=seed)),
        "retain_test": clf.p_forget(r_test),
        "retain_wrapped": clf.p_forget(heldout_wrapped(r_test, seed=seed)),
        "general": clf.p_forget(general),
    }
    if threshold is None:
        tau = conformal_threshold(clf.p_forget(cal), alpha)
        method = {"method": "conformal", "alpha": alpha, "n_calibration": len(cal)}
    else:
        tau, method = float(threshold), {"method": "fixed"}
    rep = (
        report(scores, tau)
        | method
        | {
            "classifier": classifier,
            "backbone": backbone,
            "train_seconds": seconds,
            "n_train": {"forget": len(train_f), "retain": len(train_r)},
            "seed": seed,
        }
    )
    if tau == 0.0 and threshold is None:
        rep["warning"] = (
            f"only {len(cal)} calibration prompts: too few for alpha={alpha} "
            f"(need {int(1 / alpha)}); tau = 0 flags every prompt. Add forget prompts or raise alpha."
        )
    gate = {
        "kind": "classifier",
        "classifier": "classifier",
        "threshold": tau,
        "calibration": {k: rep[k] for k in ("method", "alpha", "n_calibration") if k in rep},
    }
    manifest = TargetManifest.model_validate(manifest.model_dump() | {"gate": gate})

    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        (staged / "classifier").mkdir()
        clf.save(staged / "classifier")
        atomic_write_json(staged / CALIBRATION_REPORT, rep)
        plot(scores, tau, staged / CALIBRATION_PLOT, f"target {name}: p_forget by set")
        Target(manifest, clf).save(staged)
        replace_dir(staged, out, overwrite=overwrite)
    except BaseException:
        import shutil

        shutil.rmtree(staged, ignore_errors=True)
        raise
    return Target(manifest, clf, out), rep


def read_report(directory: str | Path) -> dict | None:
    path = Path(directory) / CALIBRATION_REPORT
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


__all__ = ["create_target", "general_prompts", "read_report"]
