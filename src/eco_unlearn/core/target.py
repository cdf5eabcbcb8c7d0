"""What the core needs from a forget target: how to corrupt (:class:`CorruptionSpec`, :class:`SelectionSpec`)
and an object that answers "is this prompt in scope?" (:class:`ForgetTarget`).

The core defines these and the gate layer implements them (``eco_unlearn.gate.targets.Target`` is the one
shipped implementation, with its on-disk bundle), so the per-request code never depends on how a gate is
trained, calibrated or stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from eco_unlearn.core.corruptions import CORRUPTIONS
from eco_unlearn.core.selection import SelectionMode


class Strict(BaseModel):
    """A pydantic model that refuses unknown fields, so a typo in a bundle or a request is an error."""

    model_config = ConfigDict(extra="forbid")


class CorruptionSpec(Strict):
    name: str = "rand_noise_first_n"
    strength: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    dims: int | None = Field(default=1, ge=1)
    """n or k; None = every embedding dimension."""

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {v!r}; known: {', '.join(sorted(CORRUPTIONS))}")
        return v


class SelectionSpec(Strict):
    mode: SelectionMode = "all_but_last"
    corrupt_answer: bool = True
    """Corrupt answer tokens too in teacher-forced scoring (the reference code does)."""


class Gate(Protocol):
    """Decides whether prompts are in scope: p_forget(texts) -> array of probabilities in [0, 1]."""

    def p_forget(self, texts: list[str]) -> np.ndarray: ...


class EncoderGate(Protocol):
    """A gate that scores precomputed prompt embeddings, so gates sharing an encoder share its pass.
    ``encoder.embed_prompts(texts)`` produces what ``p_from_embeddings`` reads."""

    encoder: Any

    def p_from_embeddings(self, embeddings: Any) -> np.ndarray: ...


class ForgetTarget(Protocol):
    """A forget target as the core uses it: a name, a gate with its threshold τ, and how to corrupt."""

    gate: Gate

    @property
    def name(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    @property
    def corruption(self) -> CorruptionSpec: ...

    @property
    def selection(self) -> SelectionSpec: ...

    @property
    def entities(self) -> list[str]: ...

    def p_forget(self, texts: list[str]) -> np.ndarray: ...


class JointGate(Protocol):
    """A gate kind that scores many of its gates in one pass (e.g. one index over every target's names).
    ``p_forget_joint(gates, texts, embed)`` returns a (len(texts), len(gates)) array equal to each gate's
    own ``p_forget``; ``embed(encoder)`` gives the shared encoder pass for gates that use one."""

    @staticmethod
    def p_forget_joint(gates: Sequence[Any], texts: list[str], embed: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class TargetSet:
    """What scoring a set of targets needs that does not depend on the prompts, worked out once per set
    (:func:`target_set`): with 100 targets, re-reading every target's name, threshold and gate kind on each
    prompt would cost more than the gates themselves."""

    targets: tuple[ForgetTarget, ...]
    names: list[str]
    thresholds: np.ndarray
    joint: dict[type, tuple[list[int] | slice, tuple[Any, ...]]]
    """Gate kinds that score their gates together (:class:`JointGate`) -> rows of their targets, gates."""
    encoded: list[int]
    """Gates that score a shared encoder pass."""
    alone: list[int]


_SETS: dict[tuple, TargetSet] = {}


def _identity_key(targets: Sequence[ForgetTarget]) -> tuple:
    """The targets themselves as the key (hashed by identity, ~1 µs for 100; a tuple of their ids builds
    100 new ints, ~5 µs); ids where a target defines its own unhashable equality."""
    key = tuple(targets)
    try:
        hash(key)
    except TypeError:
        return tuple(map(id, targets))
    return key


def target_set(targets: Sequence[ForgetTarget] | TargetSet) -> TargetSet:
    """The :class:`TargetSet` of ``targets``, cached by the targets' identity: a target is treated as
    immutable once it has gated a prompt (a new threshold or gate makes a new target, as ``with_corruption``
    does). The cache holds the targets, so an identity cannot be reused while its entry lives."""
    if isinstance(targets, TargetSet):
        return targets
    key = _identity_key(targets)
    if key not in _SETS:
        kinds: dict[type, list[int]] = {}
        encoded, alone = [], []
        for i, t in enumerate(targets):
            # duck-typed: a runtime-checkable Protocol's isinstance costs ~8 µs
            if hasattr(type(t.gate), "p_forget_joint"):
                kinds.setdefault(type(t.gate), []).append(i)
            elif getattr(t.gate, "encoder", None) is not None and hasattr(t.gate, "p_from_embeddings"):
                encoded.append(i)
            else:
                alone.append(i)
        if len(_SETS) >= 32:  # the gateway uses a handful of sets; drop the oldest
            del _SETS[next(iter(_SETS))]
        joint = {k: (_rows(rows, len(targets)), tuple(targets[i].gate for i in rows)) for k, rows in kinds.items()}
        thresholds = np.array([t.threshold for t in targets], dtype=float)
        _SETS[key] = TargetSet(tuple(targets), [t.name for t in targets], thresholds, joint, encoded, alone)
    return _SETS[key]


def _rows(rows: list[int], n: int) -> list[int] | slice:
    """Every row as a slice: assigning to a slice costs 0.2 µs, to a list of 100 rows 2.5 µs per batch, and a
    gateway whose targets are all of one kind assigns every row."""
    return slice(None) if rows == list(range(n)) else rows


def gate_scores(targets: Sequence[ForgetTarget] | TargetSet, texts: list[str]) -> np.ndarray:
    """p_forget of every target for every text, shape (len(targets), len(texts)). Gates that share an
    encoder share one encoder pass, so 100 embedding-classifier targets cost one MiniLM forward plus 100 dot
    products; gates of a :class:`JointGate` kind are scored together."""
    ts = target_set(targets)
    shared: dict[int, Any] = {}

    def embed(encoder: Any) -> Any:
        if id(encoder) not in shared:
            shared[id(encoder)] = encoder.embed_prompts(texts)
        return shared[id(encoder)]

    out = np.zeros((len(ts.targets), len(texts)))
    for i in ts.encoded:
        gate = ts.targets[i].gate
        out[i] = gate.p_from_embeddings(embed(gate.encoder))  # type: ignore[attr-defined]
    for i in ts.alone:
        out[i] = ts.targets[i].p_forget(texts)
    for kind, (rows, gates) in ts.joint.items():
        out[rows] = np.asarray(kind.p_forget_joint(gates, texts, embed)).T
    return out
