"""What the core needs from a forget target: how to corrupt (:class:`CorruptionSpec`, :class:`SelectionSpec`)
and an object that answers "is this prompt in scope?" (:class:`ForgetTarget`).

The core defines these and the gate layer implements them (``eco_unlearn.gate.targets.Target`` is the one
shipped implementation, with its on-disk bundle), so the per-request code never depends on how a gate is
trained, calibrated or stored.
"""

from __future__ import annotations

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


def gate_scores(targets: list[ForgetTarget], texts: list[str]) -> list[np.ndarray]:
    """p_forget of every target for every text. Gates that share an encoder share one encoder pass, so
    100 embedding-classifier targets cost one MiniLM forward plus 100 dot products."""
    shared: dict[int, np.ndarray] = {}
    out = []
    for t in targets:
        # duck-typed: a runtime-checkable Protocol's isinstance costs ~8 µs, too much per target per prompt
        if getattr(t.gate, "encoder", None) is not None and hasattr(t.gate, "p_from_embeddings"):
            key = id(t.gate.encoder)
            if key not in shared:
                shared[key] = t.gate.encoder.embed_prompts(texts)
            out.append(np.asarray(t.gate.p_from_embeddings(shared[key]), dtype=float))
        else:
            out.append(t.p_forget(texts))
    return out
