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
