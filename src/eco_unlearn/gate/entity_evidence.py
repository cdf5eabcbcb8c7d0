"""Entity evidence: does a prompt name one of the target's entities, however it is written?

A topic classifier cannot tell "Where was Norma Fisher born?" (forget) from "Where was Benjamin Love
born?" (a neighbour): the only difference is the name. When a target is about named things (people,
characters, places, titles), the names are the evidence, and matching them is far more precise than any
topic score. Matching runs on the normalised text (normalise.py: homoglyphs, leetspeak, spaced letters,
zero-width characters) and is case- and accent-insensitive:

- a multi-word entity matches when its letters and digits, squashed together ("normafisher"), occur in the
  squashed prompt: spacing, punctuation and words split in two ("N orma Fish er") do not hide it; a
  near-miss within edit-distance similarity 90 % ("Norma Fishr") matches too;
- a single word (a place, a one-word name) matches as a whole word, or within similarity 90 % when it is at
  least seven letters long ("Pemberly").

The score is 1.0 for a match and 0.0 otherwise; :class:`EvidenceGate` takes the max of it and the topic
classifier, so the threshold calibration (calibration.py) sees one score per prompt.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process

from eco_unlearn.gate.entities import capitalised_spans
from eco_unlearn.gate.normalise import normalise

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_WORD = re.compile(r"[a-z0-9]+")


def _squash(text: str) -> str:
    return _NON_ALNUM.sub("", text)


@lru_cache(maxsize=4096)
def _views(text: str) -> tuple[str, frozenset[str]]:
    """The squashed normalised text and its set of words, computed once per prompt for every target."""
    norm = normalise(text).lower()
    return _squash(norm), frozenset(_WORD.findall(norm))


class EntityEvidence:
    """Scores prompts 1.0 when they name one of ``entities`` (see the module docstring), else 0.0."""

    def __init__(self, entities: list[str], similarity: float = 90.0):
        norm = [normalise(e).lower() for e in entities if e.strip()]
        self.entities = list(entities)
        self.multi = sorted({_squash(e) for e in norm if len(_WORD.findall(e)) > 1 and len(_squash(e)) >= 6})
        self.single = sorted({e for e in norm if len(_WORD.findall(e)) == 1 and len(e) >= 4})
        self.fuzzy_multi = [e for e in self.multi if len(e) >= 8]
        self.similarity = similarity

    def _hit(self, text: str) -> bool:
        squashed, words = _views(text)
        if any(e in squashed for e in self.multi) or any(e in words for e in self.single):
            return True
        if self.fuzzy_multi and process.extractOne(
            squashed, self.fuzzy_multi, scorer=fuzz.partial_ratio, score_cutoff=self.similarity
        ):
            return True
        if self.single:
            for e in self.single:
                if len(e) >= 7 and any(
                    abs(len(w) - len(e)) <= 1 and fuzz.ratio(e, w) >= self.similarity for w in words
                ):
                    return True
        return False

    def score(self, texts: list[str]) -> np.ndarray:
        return np.array([1.0 if self._hit(t) else 0.0 for t in texts])


def _spans(text: str) -> list[str]:
    """Capitalised spans without a possessive ending ("Norma Fisher's" → "Norma Fisher")."""
    return [re.sub(r"['’]s$", "", s) for s in capitalised_spans(text)]


def evidence_entities(forget: list[str], negatives: list[str], min_count: int = 2, limit: int = 200) -> list[str]:
    """Names that mark the forget prompts: capitalised spans seen at least ``min_count`` times in them and
    never in the negatives (retain and background prompts); a single word also must not occur in any
    negative. Parts of multi-word names are not added on their own: "Johnson" alone would flag every other
    Johnson, a neighbour the request wants kept."""
    negative_words = {w for t in negatives for w in _WORD.findall(normalise(t).lower())}
    negative_spans = {s.lower() for t in negatives for s in _spans(t)}
    counts: dict[str, int] = {}
    for t in forget:
        for s in set(_spans(t)):
            if s.lower() not in negative_spans:
                counts[s] = counts.get(s, 0) + 1
    spans = [s for s, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_count][:limit]
    single = [s for s in spans if len(s.split()) == 1 and normalise(s).lower() not in negative_words]
    return [s for s in spans if len(s.split()) > 1] + single


MODES = ("classifier", "entities", "max")
"""How a gate combines its evidence: the topic classifier alone, the entity evidence alone, or the max."""


def combine_parts(parts: np.ndarray, mode: str) -> np.ndarray:
    """A mode's score from precomputed (classifier p, entity score, verbatim score) columns, exactly as
    :class:`EvidenceGate` scores a prompt: the mode's score, or a quotation of the forget text. Target
    creation scores every part once and compares the modes on them."""
    by_mode = {"classifier": parts[:, 0], "entities": parts[:, 1], "max": parts[:, :2].max(axis=1)}[mode]
    return np.maximum(by_mode, parts[:, 2])


class EvidenceGate:
    """A topic classifier and entity evidence in one gate, combined by ``mode`` (see :data:`MODES`).

    ``eco target create`` picks the mode per target from out-of-fold scores (the fewest misses within the
    FPR budget): names alone for fictitious authors, the classifier for a topic like chemistry. A verbatim
    index of a forget text (verbatim.py), when the target has one, flags quotations in every mode. With the
    classifier in use it keeps the shared-encoder path (``p_from_embeddings``), so many targets on one
    backbone still cost one encoder pass."""

    def __init__(self, classifier, evidence: EntityEvidence, mode: str = "max", verbatim=None):
        if mode not in MODES:
            raise ValueError(f"unknown gate mode {mode!r}; known: {', '.join(MODES)}")
        self.classifier, self.evidence, self.mode, self.verbatim = classifier, evidence, mode, verbatim
        self.encoder = getattr(classifier, "encoder", None) if mode != "entities" else None

    def _quoted(self, texts: list[str]) -> np.ndarray:
        return self.verbatim.score(list(texts)) if self.verbatim is not None else np.zeros(len(texts))

    def parts(self, texts: list[str]) -> np.ndarray:
        """(n, 3): classifier p, entity score and verbatim score of each text."""
        texts = list(texts)
        return np.c_[self.classifier.p_forget(texts), self.evidence.score(texts), self._quoted(texts)]

    def _combine(self, p_classifier, texts: list[str]) -> np.ndarray:
        if self.mode == "classifier":
            p = p_classifier()
        elif self.mode == "entities":
            p = self.evidence.score(list(texts))
        else:
            p = np.maximum(p_classifier(), self.evidence.score(list(texts)))
        return np.maximum(p, self._quoted(texts)) if self.verbatim is not None else p

    def p_forget(self, texts: list[str]) -> np.ndarray:
        return self._combine(lambda: self.classifier.p_forget(list(texts)), texts)

    def p_from_embeddings(self, embeddings) -> np.ndarray:
        return self._combine(lambda: self.classifier.p_from_embeddings(embeddings), embeddings.texts)
