"""`eco target create`: from forget and retain prompts to a calibrated target bundle.

1. retain prompts are split 80/20 into train / held-out; the built-in background set (ordinary prompts,
   see background.py) minus anything close to a forget prompt is split 70/30 the same way;
2. the classifier trains on forget prompts against retain and background prompts, each class with
   augmented copies (wrappers, casing, typos), "tell me about X" probes of the target's entities, and the
   wrappers' own sentences as negatives; retain prompts weigh more than background ones; every text is
   normalised first (normalise.py) and a prompt scores the max over itself and its sentences. With
   ``entity_evidence`` (default) the gate also flags prompts naming the target's entities (given, or the
   names that mark the forget prompts and no negative uses; entity_evidence.py);
3. τ: with ``folds`` ≥ 2 (default 5, embedding kind) every forget prompt gets an out-of-fold score from a
   classifier that did not train on it, and the conformal FNR bound is computed on all of them; the
   Neyman–Pearson FPR budget (``max_fpr``) is computed on held-out retain and background prompts; see
   calibration.py for how τ is chosen when both cannot hold. ``folds=0`` holds out 20 % of the forget
   prompts instead (split conformal), and ``threshold`` fixes τ;
4. the report measures FNR on the out-of-fold (or held-out) forget prompts, plain and in wrappers training
   never saw, and FPR on held-out retain prompts (plain and wrapped), held-out background prompts, and a
   general set that nothing trains or calibrates on (TOFU world facts + real authors questions by default);
5. the bundle (classifier, calibration.json, calibration.png, target.json) is written into a staging
   directory and moved into place only when complete.

Steps 1-4 run on one classifier backbone. The default, ``auto`` (or ``$ECO_GATE_BACKBONE``), runs them on
MiniLM and, when the gate they settle on reads the classifier, again on ``minilm+e5`` so that the topic is
also recognised in other languages (backbone.auto_backbone); a names-only gate keeps MiniLM.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from eco_unlearn.console import track
from eco_unlearn.fileio import atomic_write_json, replace_dir
from eco_unlearn.gate.augment import augment, entity_prompts, heldout_wrapped, wrapper_fragments
from eco_unlearn.gate.backbone import (
    AUTO_BACKBONE,
    DEFAULT_BACKBONE,
    auto_backbone,
    create_backbone,
    get_encoder,
    resolve_backbone,
)
from eco_unlearn.gate.background import background_prompts, far_from
from eco_unlearn.gate.calibration import Threshold, choose_threshold, plot, rate, report
from eco_unlearn.gate.classifier import train_classifier
from eco_unlearn.gate.entity_evidence import EntityEvidence, EvidenceGate, combine_parts, evidence_entities
from eco_unlearn.gate.namesakes import namesake_negatives
from eco_unlearn.gate.normalise import normalise
from eco_unlearn.gate.prompt_files import check_classes
from eco_unlearn.gate.targets import Target, TargetManifest, explain_validation
from eco_unlearn.gate.truecase import read_names, truecase
from eco_unlearn.gate.verbatim import VerbatimIndex

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
    backbone: str | None = None,
    alpha: float | None = 0.05,
    threshold: float | None = None,
    max_fpr: float | None = 0.02,
    folds: int | None = None,
    background: bool = True,
    entity_evidence: bool = True,
    forget_text: list[str] | None = None,
    corruption: dict[str, Any] | None = None,
    selection: dict[str, Any] | None = None,
    entities: list[str] | None = None,
    description: str = "",
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Target, dict]:
    out = Path(out)
    backbone = create_backbone(backbone)
    if (alpha is None) == (threshold is None):
        raise ValueError("give exactly one of alpha (conformal) or threshold (fixed τ)")
    if max_fpr is not None and not 0.0 < max_fpr < 1.0:
        raise ValueError(f"max_fpr must be in (0, 1), got {max_fpr}")
    folds = (5 if classifier == "embedding" else 0) if folds is None else folds
    if folds == 1 or folds < 0:
        raise ValueError(f"folds must be 0 (split conformal) or at least 2, got {folds}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists (use --overwrite to replace it)")
    if classifier == "finetune" and backbone != AUTO_BACKBONE:
        resolve_backbone(backbone)  # a backbone that cannot be fine-tuned is refused before any work
    general = general_prompts() if general is None else general
    check_classes(forget, retain, general)
    entities = list(entities or [])
    given_entities = bool(entities)
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

    read_back: list[str] = []
    if entity_evidence and not entities and lower_case(forget):
        read_back = names_in_lower_case(forget, retain + (_background(forget) if background else []))
        forget = truecase(forget, read_back)  # entity evidence reads the names as in any request
    verbatim = VerbatimIndex.from_texts(forget_text) if forget_text else None
    options = dict(classifier=classifier, alpha=alpha, threshold=threshold, max_fpr=max_fpr, folds=folds,
                   background=background, entity_evidence=entity_evidence, verbatim=verbatim, entities=entities,
                   seed=seed)  # fmt: skip
    if backbone == AUTO_BACKBONE:
        built = _calibrate(forget, retain, general, backbone=DEFAULT_BACKBONE, **options)
        chosen, why = auto_backbone(built.rep["mode"], classifier)
        if chosen != DEFAULT_BACKBONE:
            built = _calibrate(forget, retain, general, backbone=chosen, **options)
        built.rep["backbone_choice"] = f"auto: {why}"
    else:
        built = _calibrate(forget, retain, general, backbone=backbone, **options)
    gate, rep, scores = built.gate, built.rep, built.scores
    tau = rep["threshold"]  # report() records the calibrated τ
    mode, entities = rep["mode"], gate.evidence.entities
    if read_back:
        rep["names_read_back"] = read_back
    elif entity_evidence and not entities and lower_case(forget):
        rep["warning"] = " ".join(filter(None, [rep.get("warning"), LOWER_CASE_WARNING]))
    if entity_evidence and entities and not given_entities and mode != "entities" and not rep.get("feasible", True):
        unnamed = [f for f, hit in zip(forget, gate.evidence.score(forget)) if not hit]
        if unnamed:
            rep["unnamed_forget"] = len(unnamed)
            rep["warning"] = " ".join(filter(None, [rep.get("warning"), unnamed_warning(unnamed, len(forget))]))
    gate_spec = {
        "kind": "classifier",
        "classifier": "classifier",
        "mode": mode,
        "verbatim": verbatim is not None,
        "threshold": tau,
        "calibration": {k: rep[k] for k in ("method", "alpha", "max_fpr", "n_calibration", "guarantee") if k in rep},
    }
    manifest = TargetManifest.model_validate(manifest.model_dump() | {"gate": gate_spec, "entities": entities})

    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        (staged / "classifier").mkdir()
        gate.classifier.save(staged / "classifier")
        if verbatim is not None:
            verbatim.save(staged)
        atomic_write_json(staged / CALIBRATION_REPORT, rep)
        plot(scores, tau, staged / CALIBRATION_PLOT, f"target {name}: p_forget by set")
        Target(manifest, gate).save(staged)
        replace_dir(staged, out, overwrite=overwrite)
    except BaseException:
        import shutil

        shutil.rmtree(staged, ignore_errors=True)
        raise
    plain_classifier = mode == "classifier" and verbatim is None
    return Target(manifest, gate.classifier if plain_classifier else gate, out), rep


LOWER_CASE_WARNING = (
    "no names were found: the forget prompts are written in lower case, and the language model read none of "
    "their phrases as a name. A target about named people or things is far more precise with its names (a "
    "topic classifier cannot tell one author from another): write them capitalised, or list them with "
    "--entities FILE."
)


def unnamed_warning(unnamed: list[str], n: int) -> str:
    """What to do when the gate cannot meet both bounds and names could: some forget prompts name nothing the
    gate found. A name is found when two forget prompts and no retain or background prompt write it, so a
    request that names many characters once each ("What is Dobby?", "Who is Lord Voldemort?") leaves them to the
    topic classifier, which tells a franchise from its neighbours far less well than its names do."""
    shown = "; ".join(f'"{p}"' for p in unnamed[:3])
    return (
        f"{len(unnamed)} of {n} forget prompts name none of the names found (a name is found when at least two "
        f"forget prompts and no retain or background prompt write it), e.g. {shown}. If the target is named "
        "people, characters, places or titles, list them, one per line, with --entities FILE: the gate can then "
        "decide by names."
    )


def names_in_lower_case(forget: list[str], negatives: list[str]) -> list[str]:
    """The names of lower-case forget prompts, read back by the embedded language model (truecase.py); none
    when it cannot be loaded (the caller then warns)."""
    from eco_unlearn.core.models import ModelNotAvailable, load_model

    try:
        model, tok = load_model()
    except ModelNotAvailable:
        return []
    return read_names(forget, negatives, model, tok)


def lower_case(prompts: list[str], share: float = 0.8) -> bool:
    """Whether most prompts have no capital letter at all: names cannot be found in them."""
    return sum(not any(c.isupper() for c in p) for p in prompts) >= share * len(prompts)


@dataclass
class _Calibrated:
    """A trained and calibrated gate before it is written: what ``create_target`` compares and saves."""

    gate: EvidenceGate
    rep: dict
    scores: dict[str, np.ndarray]


def _calibrate(
    forget: list[str],
    retain: list[str],
    general: list[str],
    *,
    classifier: str,
    backbone: str,
    alpha: float | None,
    threshold: float | None,
    max_fpr: float | None,
    folds: int,
    background: bool,
    entity_evidence: bool,
    verbatim: VerbatimIndex | None,
    entities: list[str],
    seed: int,
) -> _Calibrated:
    """Steps 1-4 of the module docstring on one backbone."""
    r_train, r_test = _split(retain, (0.8, 0.2), seed + 1)
    bg = _background(forget) if background else []
    bg_train, bg_test = _split(bg, (0.7, 0.3), seed + 3)
    negatives = r_train + augment(r_train, seed=seed + 1) + wrapper_fragments()

    def train(f: list[str]) -> tuple[EvidenceGate, float]:
        positives = f + augment(f, seed=seed) + entity_prompts(entities)
        found = entities or evidence_entities(f, r_train + bg_train)
        # the same questions about namesakes ("Marie Kraus" for "Marie Curie") are out of scope: namesakes.py
        namesakes = namesake_negatives(f, found, seed=seed)
        clf, seconds = train_classifier(
            classifier, positives, negatives + namesakes, background=bg_train, backbone=backbone, seed=seed
        )
        return EvidenceGate(clf, EntityEvidence(found if entity_evidence else []), verbatim=verbatim), seconds

    if folds and threshold is None:
        held, held_wrapped = _out_of_fold(forget, folds, seed, train)
        f_fit = forget
        bound = f"{folds}-fold cross-conformal; exact for the fold classifiers, approximate for the refit one"
    else:
        f_fit, f_test = _split(forget, (0.8, 0.2), seed)
        held, held_wrapped = None, heldout_wrapped(f_test, seed=seed)
        bound = "split-conformal"
    gate, seconds = train(f_fit)
    entities = gate.evidence.entities
    if held is None:
        held, held_wrapped = gate.parts(f_test), gate.parts(held_wrapped)
    parts = {
        "forget_test": held,
        "forget_wrapped": held_wrapped,
        "retain_test": gate.parts(r_test),
        "retain_wrapped": gate.parts(heldout_wrapped(r_test, seed=seed)),
        "background": gate.parts(bg_test),
        "general": gate.parts(general),
    }
    modes = ("entities", "classifier", "max") if entities else ("classifier",)
    if threshold is None:
        # wrapped neighbours (training's wrapper family, not the held-out one) are calibration negatives too
        wrapped_retain = gate.parts(augment(r_test, copies=1, seed=seed + 4))
        negative = {
            m: combine_parts(np.r_[parts["retain_test"], wrapped_retain, parts["background"]], m) for m in modes
        }
        mode, chosen, errors = _choose_mode(held, negative, modes, alpha=alpha, max_fpr=max_fpr, bound=bound)
        tau = chosen.tau
        method = {
            "method": "cross-conformal" if folds else "conformal",
            "alpha": alpha,
            "max_fpr": max_fpr,
            "n_calibration": len(held),
            "n_negative_calibration": len(negative[mode]),
            "tau_fnr": chosen.tau_fnr,
            "tau_fpr": chosen.tau_fpr,
            "feasible": chosen.feasible,
            "guarantee": chosen.guarantee,
            "modes": errors,
        }
        if chosen.warnings:
            method["warning"] = " ".join(chosen.warnings)
    else:
        mode = "max" if entities else "classifier"
        tau, method = float(threshold), {"method": "fixed", "guarantee": "none (fixed τ)"}
    gate = EvidenceGate(gate.classifier, gate.evidence, mode, verbatim)
    scores = {k: combine_parts(v, mode) for k, v in parts.items()}
    rep = (
        report(scores, tau)
        | method
        | {
            "classifier": classifier,
            "backbone": backbone,
            "folds": folds,
            "mode": mode,
            "entities": entities[:50],
            "train_seconds": seconds,
            "n_train": {"forget": len(f_fit), "retain": len(r_train), "background": len(bg_train)},
            "seed": seed,
        }
    )
    return _Calibrated(gate, rep, scores)


def _choose_mode(held: np.ndarray, negative: dict[str, np.ndarray], modes: tuple[str, ...], *, alpha: float,
                 max_fpr: float | None, bound: str) -> tuple[str, Threshold, dict]:  # fmt: skip
    """Neyman–Pearson model selection over gate modes: each mode's τ from its out-of-fold forget scores and
    calibration negatives; the mode that misses the fewest forget prompts within the FPR budget wins; ties go
    to fewer false positives, then to the simpler gate (names alone before the classifier before both).

    When no mode meets both bounds, each one's τ keeps the FNR bound (``choose_threshold``), so they are
    compared on false positives alone: counting their misses would prefer a names-only gate whose τ = 0
    flags every prompt (no miss, every innocent prompt corrupted) to a classifier that misses one in fifty."""
    options = {
        m: choose_threshold(combine_parts(held, m), negative[m], alpha=alpha, max_fpr=max_fpr, fnr_bound=bound)
        for m in modes
    }
    errors = {
        m: {
            "fnr_out_of_fold": rate(combine_parts(held, m), t.tau, flagged=False),
            "fpr_negative_calibration": rate(negative[m], t.tau, flagged=True),
            "feasible": t.feasible,
            "threshold": t.tau,
        }
        for m, t in options.items()
    }

    def rank(m: str) -> tuple:
        e = errors[m]
        misses = e["fnr_out_of_fold"] if e["feasible"] else 0.0  # infeasible: τ keeps the FNR bound anyway
        return not e["feasible"], misses, e["fpr_negative_calibration"], modes.index(m)

    mode = min(modes, key=rank)
    return mode, options[mode], errors


def _background(forget: list[str]) -> list[str]:
    """The built-in background set minus prompts close to a forget prompt (those may be in scope).

    Closeness is measured by the default sentence encoder whatever the classifier's backbone: ``far_from``'s
    0.7 is a sentence-embedding cosine, and other models' cosines have other scales (a causal LM's mean
    hidden states sit so close together that nearly every background prompt would look close and be
    dropped, leaving the classifier and the FPR calibration without ordinary negatives)."""
    bg = list(background_prompts())
    encoder = get_encoder(DEFAULT_BACKBONE)
    plain = lambda texts: [normalise(t) for t in texts]  # noqa: E731  (names kept: they decide what is in scope)
    keep = far_from(encoder.embed_cached(plain(bg)), encoder.embed_cached(plain(forget)))
    return [b for b, k in zip(bg, keep) if k]


def _out_of_fold(forget: list[str], folds: int, seed: int, train) -> tuple[np.ndarray, np.ndarray]:
    """Gate parts (classifier p, entity score, verbatim score) of every forget prompt, plain and in a
    held-out wrapper, from a gate that never saw it (its names are extracted from the other folds only)."""
    order = np.random.default_rng(seed).permutation(len(forget))
    plain, wrapped = np.zeros((len(forget), 3)), np.zeros((len(forget), 3))
    for k in track(range(folds), "cross-conformal folds"):
        out_idx = order[k::folds]
        fold_out = set(out_idx.tolist())
        gate, _ = train([forget[i] for i in order if i not in fold_out])
        held = [forget[i] for i in out_idx]
        plain[out_idx] = gate.parts(held)
        wrapped[out_idx] = gate.parts(heldout_wrapped(held, seed=seed + k))
    return plain, wrapped


def read_report(directory: str | Path) -> dict | None:
    path = Path(directory) / CALIBRATION_REPORT
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


__all__ = ["create_target", "general_prompts", "read_report"]
