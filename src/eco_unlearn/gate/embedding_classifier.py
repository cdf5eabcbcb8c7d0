"""The ``embedding`` classifier kind: logistic regression (scikit-learn) on frozen, mean-pooled sentence
embeddings of the backbone. Seconds to train; with many targets, :func:`eco_unlearn.core.target.gate_scores`
runs the encoder once per prompt and every target only adds a dot product. Weights are stored as JSON
(no pickles in a bundle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eco_unlearn.console import track
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.backbone import (
    DEFAULT_BACKBONE,
    META,
    Encoder,
    PromptEmbeddings,
    get_encoder,
    group_max,
    labelled,
    seed_everything,
)
from eco_unlearn.gate.errors import BundleError


class EmbeddingClassifier:
    kind = "embedding"

    def __init__(self, encoder: Encoder, coef: np.ndarray, intercept: float):
        self.encoder = encoder
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    @classmethod
    def fit(
        cls, forget: list[str], retain: list[str], *, backbone: str = DEFAULT_BACKBONE, seed: int = 0, C: float = 10.0
    ) -> EmbeddingClassifier:
        """C = 10: unit-norm embeddings need weak regularisation for confident probabilities."""
        from sklearn.linear_model import LogisticRegression

        seed_everything(seed)
        encoder = get_encoder(backbone)
        texts, y = labelled(forget, retain)
        X = np.concatenate(
            [encoder.embed(texts[i : i + 256]) for i in track(range(0, len(texts), 256), "embedding prompts")]
        )
        lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed).fit(X, y)
        return cls(encoder, lr.coef_[0], lr.intercept_[0])

    def p_from_embeddings(self, E: PromptEmbeddings) -> np.ndarray:
        z = np.asarray(E.X, dtype=np.float64) @ self.coef + self.intercept
        return group_max(1.0 / (1.0 + np.exp(-z)), E.owner, E.n)

    def p_forget(self, texts: list[str]) -> np.ndarray:
        return self.p_from_embeddings(self.encoder.embed_prompts(list(texts)))

    def save(self, directory: Path) -> None:
        atomic_write_json(
            directory / META,
            {
                "kind": self.kind,
                "backbone": self.encoder.backbone,
                "coef": self.coef.tolist(),
                "intercept": self.intercept,
            },
        )

    @classmethod
    def load(cls, directory: Path, meta: dict) -> EmbeddingClassifier:
        coef = np.asarray(meta["coef"], dtype=np.float64)
        encoder = get_encoder(meta["backbone"])
        if coef.shape != (encoder.model.config.hidden_size,):
            raise BundleError(f"{directory}: classifier weights do not match backbone {meta['backbone']!r}")
        return cls(encoder, coef, meta["intercept"])
