"""The ``embedding`` classifier kind: logistic regression (scikit-learn) on frozen, mean-pooled sentence
embeddings of the backbone. Seconds to train; with many targets, :func:`eco_unlearn.core.target.gate_scores`
runs the encoder once per prompt and every target only adds a dot product. Weights are stored as JSON
(no pickles in a bundle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.backbone import (
    DEFAULT_BACKBONE,
    META,
    Encoder,
    PromptEmbeddings,
    get_encoder,
    group_max,
    seed_everything,
)
from eco_unlearn.gate.errors import BundleError
from eco_unlearn.gate.normalise import classifier_texts


class EmbeddingClassifier:
    kind = "embedding"

    def __init__(self, encoder: Encoder, coef: np.ndarray, intercept: float):
        self.encoder = encoder
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    @classmethod
    def fit(
        cls,
        forget: list[str],
        retain: list[str],
        *,
        background: list[str] = (),
        background_share: float = 0.3,
        backbone: str = DEFAULT_BACKBONE,
        seed: int = 0,
        C: float = 10.0,
    ) -> EmbeddingClassifier:
        """Weighted logistic regression: the forget prompts weigh as much as all negatives together; among
        negatives, the retain prompts (hard neighbours) carry ``1 − background_share`` of the weight and the
        far more numerous background prompts ``background_share``, so each neighbour counts several times
        a background prompt. C = 10: unit-norm embeddings need weak regularisation for confident scores."""
        from sklearn.linear_model import LogisticRegression

        seed_everything(seed)
        encoder = get_encoder(backbone)
        groups = [classifier_texts(forget), classifier_texts(retain), classifier_texts(list(background))]
        if not groups[0] or not (groups[1] or groups[2]):
            raise ValueError("a classifier needs forget prompts and retain or background prompts")
        shares = [1.0, 1.0 - background_share if groups[2] else 1.0, background_share if groups[1] else 1.0]
        X = encoder.embed_cached([t for g in groups for t in g])
        y = np.repeat([1, 0, 0], [len(g) for g in groups])
        w = np.concatenate([np.full(len(g), share / max(len(g), 1)) for g, share in zip(groups, shares)])
        w *= len(w) / w.sum()
        lr = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(X, y, sample_weight=w)
        return cls(encoder, lr.coef_[0], lr.intercept_[0])

    def p_from_embeddings(self, E: PromptEmbeddings) -> np.ndarray:
        z = np.asarray(E.X, dtype=np.float64) @ self.coef + self.intercept
        return group_max(1.0 / (1.0 + np.exp(-z)), E.owner, E.n)

    def p_forget(self, texts: list[str]) -> np.ndarray:
        return self.p_from_embeddings(self.encoder.embed_prompts(list(texts)))

    def to_meta(self) -> dict:
        return {"kind": self.kind, "backbone": self.encoder.backbone, "coef": self.coef.tolist(),
                "intercept": self.intercept}  # fmt: skip

    def save(self, directory: Path) -> None:
        atomic_write_json(directory / META, self.to_meta())

    @classmethod
    def load(cls, directory: Path, meta: dict) -> EmbeddingClassifier:
        coef = np.asarray(meta["coef"], dtype=np.float64)
        encoder = get_encoder(meta["backbone"])
        if coef.shape != (encoder.dim,):
            raise BundleError(f"{directory}: classifier weights do not match backbone {meta['backbone']!r}")
        return cls(encoder, coef, meta["intercept"])
