"""Verbatim evidence: does a prompt quote the forget text (a book, an article)?

For a copyright request the forget set is a text, and a passage of it is in scope whatever its topic or
whether it names a character. A topic classifier cannot see that; an index of the text's word n-grams can.
The text's normalised, lower-cased words are cut into overlapping 8-word shingles, each hashed to 64 bits
(blake2b, stable across processes); a prompt scores 1.0 when at least ``min_hits`` of its own shingles are
in the index. Eight consecutive words shared by chance with another text are rare, so the evidence is
precise; it is blind to paraphrase, which the classifier and the names cover.

The index is stored in the bundle as a sorted ``uint64`` array (``verbatim.npy``, no pickle).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from eco_unlearn.gate.errors import BundleError
from eco_unlearn.gate.normalise import normalise

FILE = "verbatim.npy"
_WORD = re.compile(r"[a-z0-9]+")


def shingles(text: str, n: int = 8) -> np.ndarray:
    """Hashes of the text's overlapping ``n``-word shingles (normalised, lower-cased words)."""
    words = _WORD.findall(normalise(text).lower())
    grams = (" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return np.array(
        [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") for g in grams],
        dtype=np.uint64,
    )


@lru_cache(maxsize=4096)
def _prompt_shingles(text: str, n: int) -> tuple[int, ...]:
    """A prompt's shingles, computed once however many targets hold an index."""
    return tuple(shingles(text, n).tolist())


class VerbatimIndex:
    """The shingles of a forget text; :meth:`score` flags prompts that quote it."""

    def __init__(self, hashes: np.ndarray, n: int = 8, min_hits: int = 2):
        self.hashes = np.unique(np.asarray(hashes, dtype=np.uint64))
        self.n, self.min_hits = n, min_hits
        self._set = set(self.hashes.tolist())

    @classmethod
    def from_texts(cls, texts: list[str], n: int = 8, min_hits: int = 2) -> VerbatimIndex:
        if not any(t.strip() for t in texts):
            raise ValueError("the forget text is empty")
        parts = [shingles(t, n) for t in texts]
        return cls(np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64), n, min_hits)

    def score(self, texts: list[str]) -> np.ndarray:
        return np.array([1.0 if sum(h in self._set for h in _prompt_shingles(t, self.n)) >= self.min_hits else 0.0
                         for t in texts])  # fmt: skip

    def save(self, directory: Path) -> None:
        tmp = directory / f".{FILE}.tmp.npy"
        np.save(tmp, self.hashes, allow_pickle=False)
        tmp.replace(directory / FILE)

    @classmethod
    def load(cls, directory: Path) -> VerbatimIndex:
        try:
            return cls(np.load(directory / FILE, allow_pickle=False))
        except (OSError, ValueError) as e:
            raise BundleError(f"{directory / FILE}: verbatim index is missing or corrupt: {e}") from None


class JointVerbatim:
    """Several targets' verbatim indexes in one lookup: every shingle hash maps to the targets whose text
    holds it, so a prompt's shingles are looked up once however many targets there are."""

    def __init__(self, indexes: tuple[VerbatimIndex, ...]):
        self.indexes = indexes
        self._owners: dict[int, list[int]] = {}
        for j, index in enumerate(indexes):
            if index.n == 8:
                for h in index.hashes.tolist():
                    self._owners.setdefault(h, []).append(j)
        self._own_length = [j for j, index in enumerate(indexes) if index.n != 8]
        """Indexes with another shingle length: read on their own."""

    def score(self, texts: list[str]) -> np.ndarray:
        """(len(texts), len(indexes)): 1.0 where a prompt quotes the target's text (as each index scores)."""
        out = np.zeros((len(texts), len(self.indexes)))
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for h in _prompt_shingles(text, 8):
                for j in self._owners.get(h, ()):
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                out[row, j] = float(c >= self.indexes[j].min_hits)
        for j in self._own_length:
            out[:, j] = self.indexes[j].score(texts)
        return out
