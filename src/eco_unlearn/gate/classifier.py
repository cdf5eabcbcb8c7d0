"""Prompt classifiers: p_forget(texts) for one forget target, one kind per module behind one interface
(``fit``, ``p_forget``, ``save``, ``load``), registered here by name.

- ``embedding`` (:mod:`~eco_unlearn.gate.embedding_classifier`): logistic regression on frozen embeddings;
- ``finetune`` (:mod:`~eco_unlearn.gate.finetune_classifier`): the backbone fine-tuned end to end;
- ``routed`` (:mod:`~eco_unlearn.gate.routed_classifier`): what ``embedding`` trains on the ``minilm+e5``
  backbone (one regression per encoder, e5 read only for prompts not in English).

A classifier is saved as a directory with ``classifier.json`` naming its kind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from eco_unlearn.gate.backbone import META, ROUTED_BACKBONE
from eco_unlearn.gate.embedding_classifier import EmbeddingClassifier
from eco_unlearn.gate.errors import BundleError
from eco_unlearn.gate.finetune_classifier import FinetuneClassifier
from eco_unlearn.gate.routed_classifier import RoutedClassifier

KINDS = {"embedding": EmbeddingClassifier, "finetune": FinetuneClassifier, "routed": RoutedClassifier}
TRAINABLE = ("embedding", "finetune")
"""The kinds a user chooses (``--classifier``); ``routed`` is the embedding kind on the minilm+e5 backbone."""


def train_classifier(kind: str, forget: list[str], retain: list[str], **kw):
    """Train a classifier of ``kind``; returns (classifier, seconds)."""
    if kind not in TRAINABLE:
        raise ValueError(f"unknown classifier kind {kind!r}; known: {', '.join(TRAINABLE)}")
    if kind == "embedding" and kw.get("backbone") == ROUTED_BACKBONE:
        kind = "routed"
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
    except RuntimeError as e:  # the backbone is not installed here: say which bundle needs it and how
        raise BundleError(f"{directory}: {e}") from None
