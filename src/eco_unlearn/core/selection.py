"""Token selection: which positions of the exact ``input_ids`` the model sees get corrupted.

Masks are computed from the same token ids and character offsets that go into the model (never from a
second tokenisation of a string), so chat templates, BPE merges and padding cannot shift them.

Modes:
- ``all_but_last``: every token except the last (paper default for MCQ and copyright), BOS included;
- ``user_span``: the tokens of the user-written text; chat-template tokens and the system prompt are left
  untouched;
- ``entities``: tokens whose characters overlap a (case-insensitive) occurrence of one of the target's
  entity strings. When none occurs in a flagged prompt (a paraphrase, say) it falls back to ``user_span``,
  as the reference code falls back to "all but last" when its NER finds nothing;
- ``proper_nouns``: an offline stand-in for the reference's NER tagger (``dslim/bert-base-NER``, which
  cannot be downloaded here): capitalised words and numbers of the user text (and, when scoring, of the
  answer), minus common capitalised function words, plus the target's entity strings. Like NER it tags true
  and wrong answers alike (names, places, titles, dates), so teacher-forced scores stay comparable across
  answer options. Lower-case facts ("science fiction") are missed, as an NER would miss them.
- ``content_words``: every word and number of the user text (and of a scored answer) that is not a stop
  word (scikit-learn's English list plus the QA template's words), plus the target's entity strings: the
  names *and* the lower-case facts ("science fiction", "nurse") that ``proper_nouns`` misses, while the
  sentence's grammar and the template stay clean. A memorised answer value that survives the corruption
  keeps its memorised probability, so a selection that leaves it clean cannot look like a model that never
  saw it.
- ``answer_facts``: ``proper_nouns`` in the prompt and ``content_words`` in a scored answer. The question
  keeps the words that say what is asked ("genre", "born"), so generation stays on topic (it is exactly
  ``proper_nouns`` when there is no scored answer, as in serving), while teacher-forced scoring corrupts the
  answer's memorised values, capitalised or not.

In every mode the last prompt token stays clean, so the model still predicts from an uncorrupted position.
During teacher-forced scoring, ``corrupt_answer=True`` (the reference code's behaviour) extends the
selection over the answer tokens too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

FUNCTION_WORDS = {
    # question and function words that start sentences capitalised: never an entity on their own
    "What",
    "Who",
    "Whom",
    "Whose",
    "Which",
    "Where",
    "When",
    "Why",
    "How",
    "Is",
    "Are",
    "Was",
    "Were",
    "Do",
    "Does",
    "Did",
    "Can",
    "Could",
    "Would",
    "Should",
    "Tell",
    "Give",
    "Describe",
    "Explain",
    "List",
    "Name",
    "The",
    "A",
    "An",
    "In",
    "On",
    "At",
    "Of",
    "For",
    "To",
    "And",
    "Please",
    "I",
    "My",
    "Summarise",
    "Summarize",
    "Has",
    "Have",
    "Had",
    "If",
    "Yes",
    "No",
}

SelectionMode = Literal["all_but_last", "user_span", "entities", "proper_nouns", "content_words", "answer_facts"]
SELECTION_MODES: tuple[str, ...] = (
    "all_but_last", "user_span", "entities", "proper_nouns", "content_words", "answer_facts"
)  # fmt: skip


def check_modes(modes: Sequence[str]) -> None:
    """A clear error for an unknown selection mode, before any work that would be lost to it."""
    if unknown := [m for m in modes if m not in SELECTION_MODES]:
        raise ValueError(f"unknown selection mode {unknown[0]!r}; known: {', '.join(SELECTION_MODES)}")


_PROPER = re.compile(r"[A-Z][\w'’.-]*|\d[\d,./:-]*")
# The entity extractor's function words, plus pronouns and the QA template's own words.
_NOT_NAMES = frozenset(w.lower() for w in FUNCTION_WORDS) | frozenset(
    "this that these those it its he she they his her their we you by from with or but as question answer".split()
)

_WORD = re.compile(r"[^\W_][\w'’-]*")

Span = tuple[int, int]


@dataclass
class Segment:
    """One tokenised sequence exactly as the model will see it (before padding)."""

    text: str
    ids: list[int]
    offsets: list[Span]
    user_spans: list[Span]
    """Character spans of user-written text (the whole prompt for raw, template-free prompts)."""
    prompt_len: int
    """Number of leading tokens that belong to the prompt; the rest is a scored continuation."""
    gate_texts: list[str] = field(default_factory=list)
    """What the gates read: each user message (or the raw prompt) and, for a multi-turn chat, the whole
    conversation without the system prompt."""


def _overlaps(tok: Span, spans: list[Span]) -> bool:
    s, e = tok
    return s < e and any(s < b and a < e for a, b in spans)


def entity_spans(text: str, entities: list[str]) -> list[Span]:
    """Every case-insensitive occurrence of every entity string in ``text``."""
    spans: list[Span] = []
    for ent in entities:
        ent = ent.strip()
        if ent:
            spans += [(m.start(), m.end()) for m in re.finditer(re.escape(ent), text, flags=re.IGNORECASE)]
    return spans


def _word_spans(text: str, within: list[Span], pattern: re.Pattern[str], strip: str, skip: frozenset[str]):
    """The matches of ``pattern`` inside ``within``, trailing ``strip`` characters and a possessive ``'s``
    left clean, minus the words in ``skip`` (compared lower-cased)."""
    out = []
    for a, b in within:
        for m in pattern.finditer(text, a, b):
            word = m.group().rstrip(strip).removesuffix("'s").removesuffix("’s")
            if word and word.lower() not in skip:
                out.append((m.start(), m.start() + len(word)))
    return out


def proper_noun_spans(text: str, within: list[Span]) -> list[Span]:
    """Capitalised words and numbers inside ``within`` (an NER stand-in), minus common function words."""
    return _word_spans(text, within, _PROPER, ".,:-'’", _NOT_NAMES)


@cache
def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, imported on first use (a slow import); the gate's name rules share
    them, so every layer agrees on what a function word is."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@cache
def _stop_words() -> frozenset[str]:
    """The English stop words plus ours."""
    return english_stop_words() | _NOT_NAMES


def content_word_spans(text: str, within: list[Span]) -> list[Span]:
    """Every word or number inside ``within`` that is not a stop word."""
    return _word_spans(text, within, _WORD, "-'’", _stop_words())


def select_tokens(
    seg: Segment,
    mode: str,
    *,
    entities: list[str] | None = None,
    corrupt_answer: bool = True,
) -> list[bool]:
    """Boolean mask over ``seg.ids``: True where the token is corrupted."""
    check_modes([mode])
    n = len(seg.ids)
    scored = n > seg.prompt_len
    # Eligible positions: never the last prompt token (generation / no answer corruption), never the very
    # last token of a scored sequence (its logits are unused anyway).
    end = n - 1 if (scored and corrupt_answer) else seg.prompt_len - 1
    answer_start_char = seg.offsets[seg.prompt_len][0] if scored else len(seg.text)

    if mode == "all_but_last":
        return [i < end for i in range(n)]
    if mode == "entities":
        limit = len(seg.text) if corrupt_answer else answer_start_char
        spans = entity_spans(seg.text[:limit], entities or [])
        if not spans:
            mode = "user_span"
    if mode in ("user_span", "proper_nouns", "content_words", "answer_facts"):
        spans = list(seg.user_spans)
        answer = [(answer_start_char, len(seg.text))] if scored and corrupt_answer else []
        if mode == "answer_facts":
            names = [e for e in entity_spans(seg.text, entities or []) if _overlaps(e, spans + answer)]
            spans = proper_noun_spans(seg.text, spans) + content_word_spans(seg.text, answer) + names
        else:
            spans += answer
            if mode in ("proper_nouns", "content_words"):
                names = [e for e in entity_spans(seg.text, entities or []) if _overlaps(e, spans)]
                words = proper_noun_spans if mode == "proper_nouns" else content_word_spans
                spans = words(seg.text, spans) + names
    return [i < end and _overlaps(seg.offsets[i], spans) for i in range(n)]
