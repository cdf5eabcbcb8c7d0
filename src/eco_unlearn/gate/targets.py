"""Forget targets and their on-disk bundle.

A target says *when* a prompt is in scope (its gate: always, keywords, or a trained prompt classifier with a
calibrated threshold) and *how* it is corrupted (corruption, σ, dims, token selection, entity strings).

A bundle is a directory holding ``target.json`` (the manifest, validated with pydantic on load) and, for a
classifier gate, the classifier's files. The manifest is written last and atomically, so it is the commit
point: a bundle either loads completely or fails with a :class:`BundleError` that says what is wrong.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from eco_unlearn._version import __version__
from eco_unlearn.core.target import CorruptionSpec, Gate, SelectionSpec, Strict
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.errors import BundleError

MANIFEST = "target.json"
FORMAT_VERSION = 1


class GateSpec(Strict):
    kind: Literal["always", "keyword", "classifier"] = "always"
    keywords: list[str] = Field(default_factory=list)
    classifier: str | None = None
    """Sub-directory of the bundle holding the classifier (kind = classifier)."""
    mode: Literal["classifier", "entities", "max"] = "classifier"
    """Classifier gates: the topic classifier alone, the target's entity names alone, or the max of both
    (entity_evidence.py); ``eco target create`` picks it from out-of-fold scores."""
    verbatim: bool = False
    """Classifier gates: the bundle holds a verbatim index of a forget text (verbatim.py); quotations of it
    are flagged in every mode."""
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """τ: a prompt is flagged when p_forget >= τ."""
    calibration: dict[str, Any] | None = None


class TargetManifest(Strict):
    format_version: int = FORMAT_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    corruption: CorruptionSpec = Field(default_factory=CorruptionSpec)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    entities: list[str] = Field(default_factory=list)
    gate: GateSpec = Field(default_factory=GateSpec)
    mandatory: bool = False
    """Serving: clients cannot switch a mandatory target off."""
    fit: dict[str, Any] | None = None
    """Record of the σ fit (objective, trajectory), written by ``eco target fit``."""
    eco_version: str = __version__
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


class AlwaysGate:
    def p_forget(self, texts: list[str]) -> np.ndarray:
        return np.ones(len(texts))


class KeywordGate:
    """p_forget = 1 when any keyword occurs (case-insensitive substring). For tests and quick demos."""

    def __init__(self, keywords: list[str]):
        self.keywords = [k.lower() for k in keywords if k.strip()]

    def p_forget(self, texts: list[str]) -> np.ndarray:
        return np.array([float(any(k in t.lower() for k in self.keywords)) for t in texts])


class Target:
    """A loaded forget target: manifest + gate."""

    def __init__(self, manifest: TargetManifest, gate: Gate | None = None, path: Path | None = None):
        self.manifest = manifest
        self.path = path
        self.gate = gate if gate is not None else _default_gate(manifest)

    @classmethod
    def create(cls, name: str, **fields: Any) -> Target:
        """Build a target in memory, e.g. ``Target.create("x", corruption={"name": "zero_out_first_n"})``."""
        try:
            return cls(TargetManifest(name=name, **fields))
        except ValidationError as e:
            raise ValueError(explain_validation(e)) from None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def corruption(self) -> CorruptionSpec:
        return self.manifest.corruption

    @property
    def selection(self) -> SelectionSpec:
        return self.manifest.selection

    @property
    def threshold(self) -> float:
        return self.manifest.gate.threshold

    @property
    def entities(self) -> list[str]:
        return self.manifest.entities

    def p_forget(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.gate.p_forget(list(texts)), dtype=float)

    def with_corruption(self, **changes: Any) -> Target:
        """A copy with other corruption settings that shares this target's gate (no classifier reload)."""
        return self._with("corruption", CorruptionSpec, changes)

    def with_selection(self, **changes: Any) -> Target:
        """A copy with other token-selection settings that shares this target's gate."""
        return self._with("selection", SelectionSpec, changes)

    def _with(self, key: str, spec: type[Strict], changes: dict[str, Any]) -> Target:
        try:
            value = spec.model_validate(getattr(self, key).model_dump() | changes)
        except ValidationError as e:
            raise ValueError(explain_validation(e)) from None
        return Target(self.manifest.model_copy(update={key: value}), self.gate, self.path)

    def flags(self, texts: list[str], p: np.ndarray | None = None) -> np.ndarray:
        p = self.p_forget(texts) if p is None else p
        return p >= self.threshold

    def save(self, directory: str | Path) -> Path:
        """Write the manifest atomically (classifier files, if any, must already be in place)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_json(directory / MANIFEST, self.manifest.model_dump(mode="json"))
        self.path = directory
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Target:
        manifest = read_manifest(directory)
        return cls(manifest, _gate_for(manifest, Path(directory)), Path(directory))

    def __repr__(self) -> str:
        c = self.corruption
        return f"Target({self.name!r}, gate={self.manifest.gate.kind}, {c.name} σ={c.strength:g} dims={c.dims})"


def explain_validation(e: ValidationError) -> str:
    parts = [f"{'.'.join(str(x) for x in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors()]
    return "; ".join(parts)


def read_manifest(directory: str | Path) -> TargetManifest:
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"target bundle {directory} does not exist or is not a directory")
    path = directory / MANIFEST
    if not path.is_file():
        raise BundleError(f"{directory} is not a target bundle: {MANIFEST} is missing")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path} is corrupt (not valid UTF-8 JSON): {e}") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{path} is corrupt: expected a JSON object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{path} has bundle format {version!r}; this eco-unlearn ({__version__}) reads format {FORMAT_VERSION}. "
            "Recreate the target with `eco target create` or use a matching eco-unlearn version."
        )
    try:
        return TargetManifest.model_validate(raw)
    except ValidationError as e:
        raise BundleError(f"{path} is invalid: {explain_validation(e)}") from None


def _default_gate(manifest: TargetManifest) -> Gate:
    kind = manifest.gate.kind
    if kind == "always":
        return AlwaysGate()
    if kind == "keyword":
        if not manifest.gate.keywords:
            raise BundleError(f"target {manifest.name!r}: a keyword gate needs at least one keyword")
        return KeywordGate(manifest.gate.keywords)
    raise BundleError(f"target {manifest.name!r}: a classifier gate must be loaded from its bundle directory")


def _gate_for(manifest: TargetManifest, directory: Path) -> Gate:
    if manifest.gate.kind != "classifier":
        return _default_gate(manifest)
    from eco_unlearn.gate.classifier import load_classifier

    if not manifest.gate.classifier:
        raise BundleError(f"target {manifest.name!r}: classifier gate without a classifier path")
    clf = load_classifier(directory / manifest.gate.classifier)
    if manifest.gate.mode == "classifier" and not manifest.gate.verbatim:
        return clf
    from eco_unlearn.gate.entity_evidence import EntityEvidence, EvidenceGate
    from eco_unlearn.gate.verbatim import VerbatimIndex

    verbatim = VerbatimIndex.load(directory) if manifest.gate.verbatim else None
    return EvidenceGate(clf, EntityEvidence(manifest.entities), manifest.gate.mode, verbatim)


def load_targets(paths: list[str | Path]) -> list[Target]:
    """Load bundles; a directory that holds bundles in sub-directories loads all of them."""
    out: list[Target] = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / MANIFEST).exists() and any((c / MANIFEST).exists() for c in p.iterdir()):
            out += [Target.load(c) for c in sorted(p.iterdir()) if (c / MANIFEST).exists()]
        else:
            out.append(Target.load(p))
    names = [t.name for t in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BundleError(f"duplicate target names: {', '.join(dupes)}")
    return out
