"""Entity evidence: does a prompt name one of the target's entities, however it is written?

A topic classifier cannot tell "Where was Norma Fisher born?" (forget) from "Where was Benjamin Love
born?" (a neighbour): the only difference is the name. When a target is about named things (people,
characters, places, titles), the names are the evidence, and matching them is far more precise than any
topic score. Matching runs on the normalised text (normalise.py: homoglyphs, leetspeak, spaced letters,
zero-width characters) and is case- and accent-insensitive:

- a multi-word entity matches when its letters and digits, squashed together ("normafisher"), occur in the
  squashed prompt: spacing, punctuation and words split in two ("N orma Fish er") do not hide it; a
  near-miss within edit-distance similarity 90 % ("Norma Fishr") matches too: the name against its best
  window in the prompt or, when the prompt is shorter than the name, the whole prompt against the whole
  name, so that a part of a name ("Fisher") or a short message ("Hi", which "Sophie Chiang" contains) is
  not taken for it;
- a single word (a place, a one-word name) matches as a whole word, in the plural ("the Bennets") or within
  similarity 90 % when it is at least seven letters long ("Pemberly");
- a shorter run of a longer forget name ("Lady Catherine" of "Lady Catherine de Bourgh") does not match where
  the prompt writes it only as the start of someone else's name ("Lady Catherine French",
  :func:`names_someone_else`): a namesake, as a neighbour must pass.

The score is 1.0 for a match and 0.0 otherwise; :class:`EvidenceGate` takes the max of it and the topic
classifier, so the threshold calibration (calibration.py) sees one score per prompt.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from eco_unlearn.core.selection import english_stop_words
from eco_unlearn.gate.entities import capitalised_spans
from eco_unlearn.gate.normalise import normalise
from eco_unlearn.gate.verbatim import JointVerbatim

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_WORD = re.compile(r"[a-z0-9]+")
_FUZZY, _SHORT, _SINGLE = 0, 1, 2
"""How a candidate name is compared: a multi-word name of eight letters or more fuzzily (partial_ratio, or
ratio against a shorter prompt), a shorter one as an exact substring, a single word against each word."""
_NEVER = 1 << 30
"""More trigram positions than any prompt has: a name the trigram count never puts forward."""


def _squash(text: str) -> str:
    return _NON_ALNUM.sub("", text)


def _grams(text: str) -> list[str]:
    return [text[i : i + 3] for i in range(len(text) - 2)]


@lru_cache(maxsize=4096)
def _views(text: str) -> tuple[str, frozenset[str], frozenset[str]]:
    """The squashed normalised text, its words and its character trigrams, computed once per prompt for
    every target."""
    norm = normalise(text).lower()
    squashed = _squash(norm)
    words = _WORD.findall(norm)
    # a plural or a possessive without its apostrophe names the same thing ("the Bennets' home")
    words += [w[:-1] for w in words if len(w) > 4 and w.endswith("s")]
    return squashed, frozenset(words), frozenset(_grams(squashed))


def _kept_grams(length: np.ndarray, total: np.ndarray, similarity: float) -> np.ndarray:
    """A lower bound on how many of a string's trigram positions survive in any string it matches.

    Two strings whose lengths sum to ``total`` score ``similarity`` (rapidfuzz's normalised Indel
    similarity) only if at most ``d = total * (1 - similarity / 100)`` characters are inserted or deleted
    between them; one deletion breaks at most three trigrams of a ``length``-character string and one
    insertion at most two, so at least ``length - 2 - 3 d`` of its trigrams occur, in order, in the other
    string. A string can only match a prompt that shares that many trigram positions with it: the index
    checks only those."""
    edits = np.floor(total * (1 - similarity / 100) + 1e-9)
    return length - 2 - 3 * edits


def _kept_whole_grams(length: np.ndarray, shorter: np.ndarray, similarity: float) -> np.ndarray:
    """A lower bound on how many trigram positions of a ``length``-letter name occur in a prompt of
    ``shorter`` letters (fewer) that matches it whole (fuzz.ratio); infinite where none can.

    With ``x`` letters of the name and ``y`` of the prompt outside their longest common subsequence,
    ``x - y = length - shorter`` and the score reaches ``similarity`` only if ``s = x + y`` is at most
    ``e (length + shorter)`` (``e = 1 - similarity / 100``). The name loses at most ``3x + 2y`` positions
    (:func:`_kept_window_grams`), the most with the largest ``s`` of the right parity."""
    d = length - shorter
    s = np.floor((1 - similarity / 100) * (length + shorter) + 1e-9)
    s -= (s - d) % 2
    return np.where(s >= d, length - 2 - (5 * s + d) / 2, np.inf)


def _common_letters(length: np.ndarray, similarity: float) -> np.ndarray:
    """How many letters of a ``length``-letter name, in order, a prompt that matches it by partial_ratio
    must contain (their longest common subsequence, LCS): a cheap check before partial_ratio itself.

    partial_ratio scores the name against windows W of the prompt: ``2 l / (length + |W|)`` with ``l`` the
    LCS of the two, at most the LCS with the whole prompt and at most ``|W|``; it reaches ``similarity`` only
    if ``2 l >= s (length + l)`` (``s = similarity / 100``), that is ``l >= s length / (2 - s)``."""
    return np.ceil(similarity * length / (200 - similarity) - 1e-9).astype(np.int64)


@lru_cache(maxsize=64)
def _kept_window_grams(longest: int, similarity: float) -> np.ndarray:
    """Row ``w`` (0 to ``longest``): a lower bound on how many trigram positions of a name occur in a prompt
    that it matches by partial_ratio, the shorter of the two having ``w`` letters; tighter than
    :func:`_kept_grams` because it counts deletions and insertions apart.

    partial_ratio aligns the shorter string S (``w`` letters) with windows W of the longer one, of at most
    ``w`` letters. With ``a`` letters of S and ``b <= a`` of W outside their longest common subsequence, the
    score reaches ``similarity`` only if ``a + b <= e (2w - a + b)`` (``e = 1 - similarity / 100``). Either
    way round the name loses at most ``3a + 2b`` trigram positions: three for each letter missing on its
    side, two for each letter the other side inserts. The bound is ``w - 2`` less the largest ``3a + 2b``
    that the score allows."""
    e, rows = 1 - similarity / 100, np.zeros(longest + 1)
    for w in range(longest + 1):
        lost = 0
        for a in range(w + 1):
            room = 2 * e * w - (1 + e) * a + 1e-9  # what is left for b, times (1 - e)
            if room < 0:
                break
            lost = max(lost, 3 * a + 2 * min(a, int(room // (1 - e))))
        rows[w] = w - 2 - lost
    return rows


def run_continuations(entities: Sequence[str]) -> dict[str, frozenset[str]]:
    """Each multi-word name of ``entities`` that is a shorter run of another's words ("Lady Catherine" of "Lady
    Catherine de Bourgh", as :func:`evidence_entities` adds them) -> the words that follow it there ("de",
    "bourgh": "Lady Catherine Bourgh" still names her)."""
    words = {e: tuple(_WORD.findall(normalise(e).lower())) for e in entities}
    out = {}
    for e, run in words.items():
        n = len(run)
        following = {x for w in words.values() for k in range(len(w) - n) if w[k : k + n] == run for x in w[k + n :]}
        if n > 1 and following:
            out[e] = frozenset(following)
    return out


_CASED_WORD = re.compile(r"[A-Za-z0-9]+")


def names_someone_else(text: str, run: tuple[str, ...], following: frozenset[str]) -> bool:
    """Whether ``text`` writes a run of a forget name (``run``: its lower-case words) only as part of someone
    else's name: each time word for word, followed by a capitalised word that neither continues the forget name
    (``following``) nor is a function word. "Who is Lady Catherine French?" names another Lady Catherine;
    "Lady Catherine's nephew", "Lady Catherine de Bourgh", "Lady Catherine And Her Daughter" (title case)
    and a spelling the matcher only read fuzzily ("Lady Cathrine") keep their match. A word in capitals
    throughout says nothing (a prompt in capitals)."""
    tokens = _CASED_WORD.findall(normalise(text))
    lower = [t.lower() for t in tokens]
    n = len(run)
    starts = [k for k in range(len(lower) - n + 1) if tuple(lower[k : k + n]) == run]

    def someone_else(k: int) -> bool:
        after = tokens[k + n] if k + n < len(tokens) else ""
        word = after.lower()
        named = after[:1].isupper() and not after.isupper()
        return named and word not in following and word not in english_stop_words()

    return bool(starts) and all(someone_else(k) for k in starts)


class EntityIndex:
    """The entity evidence of many targets in one index: a prompt is read once, whatever the number of
    targets (a gateway serving 100 removal requests does not gate 100 times).

    ``entity_lists[j]`` are target ``j``'s names. :meth:`score` gives, for every prompt, 1.0 in each
    column whose target it names (the rules of the module docstring), else 0.0. The fuzzy rules are exact,
    not approximate: a trigram count (:func:`_kept_grams`, :func:`_kept_window_grams`,
    :func:`_kept_whole_grams`) rules out the names a prompt cannot match, the letters they have in common
    (:func:`_common_letters`) most of the rest, and only those are compared with rapidfuzz.
    """

    def __init__(self, entity_lists: Sequence[Sequence[str]], similarity: float = 90.0):
        self.similarity = similarity
        self.n_targets = len(entity_lists)
        owners: dict[tuple[str, bool], set[int]] = {}  # (normalised name, multi-word) -> targets naming it
        runs: dict[str, tuple[tuple[str, ...], set[str]]] = {}  # a run of a longer name: its words, what follows
        whole: set[str] = set()  # names that some target lists as a name of their own
        for j, entities in enumerate(entity_lists):
            following = run_continuations(entities)
            for e in entities:
                norm = normalise(e).lower()
                words = _WORD.findall(norm)
                if len(words) > 1 and len(_squash(norm)) >= 6:
                    owners.setdefault((_squash(norm), True), set()).add(j)
                    if e in following:
                        runs.setdefault(_squash(norm), (tuple(words), set()))[1].update(following[e])
                    else:
                        whole.add(_squash(norm))
                elif len(words) == 1 and len(words[0]) >= 4:
                    owners.setdefault((words[0], False), set()).add(j)
        self.names = [name for name, _ in owners]
        # a run checks who it names only where every target holding it holds it as a run
        self._runs = {i: runs[n] for i, n in enumerate(self.names) if n in runs and n not in whole}
        self.multi = np.array([multi for _, multi in owners], dtype=bool)
        self.owners = [sorted(js) for js in owners.values()]
        self.length = np.array([len(n) for n in self.names], dtype=float)
        self.words: dict[str, int] = {n: i for i, n in enumerate(self.names) if not self.multi[i]}
        # trigram index of every name that can match by substring or fuzzily: all multi-word names, and one
        # word of seven letters or more (shorter single words only match as whole words, through self.words)
        indexed = [i for i, n in enumerate(self.names) if self.multi[i] or len(n) >= 7]
        postings: dict[str, dict[int, int]] = {}
        for i in indexed:
            for g in _grams(self.names[i]):
                postings.setdefault(g, {}).setdefault(i, 0)
                postings[g][i] += 1
        # each trigram's names, a name repeated once per position it has the trigram at
        self._postings = {g: np.repeat(list(p), list(p.values())) for g, p in postings.items()}
        indexed_mask = np.zeros(len(self.names), dtype=bool)
        indexed_mask[indexed] = True
        self._single = indexed_mask & ~self.multi
        self._kind = np.where(self.multi, np.where(self.length >= 8, _FUZZY, _SHORT), _SINGLE).tolist()
        self._common = _common_letters(self.length, similarity).tolist()
        # trigram positions a name must share with a prompt to be checked at all (infinite: never checked
        # here; a short single word matches through self.words); a multi-word name is matched against its
        # best window in a prompt at least as long as it (partial_ratio), and whole against a shorter one
        need_single = np.where(self._single, _kept_grams(self.length, 2 * self.length + 1, similarity), np.inf)
        # a prompt of n letters (row n; the last row: as long as the longest name or longer)
        longest = int(self.length.max(initial=0))
        rows = np.arange(longest + 1).reshape(-1, 1)
        partial = _kept_window_grams(longest, similarity)[self.length.astype(int)]
        need_multi = np.where(rows >= self.length, partial, _kept_whole_grams(self.length, rows, similarity))
        need = np.where(self.multi, need_multi, need_single)
        self._need = np.minimum(np.ceil(need), _NEVER).astype(np.int64)  # integers compare faster with counts

    def _shared_grams(self, grams: frozenset[str]) -> np.ndarray:
        """How many trigram positions of each name occur in the prompt."""
        hit = [self._postings[g] for g in grams if g in self._postings]
        if not hit:
            return np.zeros(len(self.names), dtype=np.int64)
        return np.bincount(np.concatenate(hit), minlength=len(self.names))

    def _hits(self, text: str) -> set[int]:
        """The names (entry numbers) the prompt matches."""
        squashed, words, grams = _views(text)
        hits = {self.words[w] for w in words if w in self.words}
        need = self._need[min(len(squashed), len(self._need) - 1)]
        candidates = (self._shared_grams(grams) >= need).nonzero()[0]
        # a few dozen candidates at most: one scalar rapidfuzz call each costs less than numpy's masks and a
        # batched call's fixed cost (an exact occurrence scores 100)
        for i in candidates.tolist():
            name, kind = self.names[i], self._kind[i]
            if kind == _FUZZY:
                if len(name) > len(squashed):
                    if fuzz.ratio(squashed, name, score_cutoff=self.similarity):
                        hits.add(i)
                # most candidates share a first name or a common word with the prompt and no more: the LCS
                # (a quarter of partial_ratio's cost) rules them out before partial_ratio is run
                elif LCSseq.similarity(name, squashed, score_cutoff=self._common[i]) and fuzz.partial_ratio(
                    squashed, name, score_cutoff=self.similarity
                ):
                    hits.add(i)
            elif kind == _SHORT:
                if name in squashed:
                    hits.add(i)
            elif any(abs(len(w) - len(name)) <= 1 and fuzz.ratio(name, w, score_cutoff=self.similarity) for w in words):
                hits.add(i)  # a single word of seven letters or more
        return hits

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), n_targets): 1.0 where a prompt names one of the target's entities."""
        out = np.zeros((len(texts), self.n_targets))
        for row, text in enumerate(texts):
            for i in self._hits(text):
                if i in self._runs and names_someone_else(text, *self._runs[i]):
                    continue
                out[row, self.owners[i]] = 1.0
        return out


class EntityEvidence:
    """Scores prompts 1.0 when they name one of ``entities`` (see the module docstring), else 0.0."""

    def __init__(self, entities: list[str], similarity: float = 90.0):
        self.entities = list(entities)
        self.similarity = similarity
        self.index = EntityIndex([self.entities], similarity)

    def score(self, texts: list[str]) -> np.ndarray:
        return self.index.score(texts)[:, 0]


def _spans(text: str) -> list[str]:
    """Capitalised spans without a possessive ending ("Norma Fisher's" → "Norma Fisher")."""
    return [re.sub(r"['’]s$", "", s) for s in capitalised_spans(text)]


def _runs(names: list[str]) -> list[str]:
    """Every run of two or more consecutive words of each name, shorter than the name, that starts and ends
    with a capitalised word ("Catherine de Bourgh", not "de Bourgh")."""
    out = []
    for name in names:
        words = name.split()
        for a in range(len(words)):
            for b in range(a + 2, len(words) + 1):
                if b - a < len(words) and words[a][0].isupper() and words[b - 1][0].isupper():
                    out.append(" ".join(words[a:b]))
    return out


RARE_ZIPF = 3.5
"""A word rarer than this in English names one thing (wordfreq's Zipf scale: log10 of its occurrences per
billion words; 3.5 is about three per million). Distinctive surnames fall below it (Wickham 3.0, Dumbledore
3.0, Curie 2.9, Bingley 2.6), common ones (Potter 4.1, Fisher 4.0, Lucas 4.1, Johnson 4.7) and everyday words
above it."""


RARE_PART_ZIPF = 2.5
"""A part of a double-barrelled family name names its bearer alone only when it is rarer still: "Sklodowska"
(1.4) of Sklodowska-Curie does; "Curie" (2.9) is a family of physicists and "Kuwaiti" (2.9) of Al-Kuwaiti a
nationality."""


def rare_word(word: str, below: float = RARE_ZIPF) -> bool:
    """Whether ``word`` is rare enough in English to name one thing on its own (Zipf under ``below``)."""
    from wordfreq import zipf_frequency  # its English table loads once, on first use

    return zipf_frequency(word, "en") < below


@lru_cache(maxsize=1)
def real_places() -> frozenset[str]:
    """Lower-case names of the world's countries, their other spellings, capitals and provinces (the offline
    ``countryinfo`` data): where something happened, not who or what a target is. A forget set that names
    "Hertfordshire" twice is not about Hertfordshire, and a gate that took it for a name would flag every
    question about the county; a family name that is a country ("Jordan") would flag every question about it."""
    from countryinfo import all_countries

    out: set[str] = set()
    for country in all_countries():
        info = country.info()
        names = [info.get("name"), info.get("capital")]
        names += [*(info.get("altSpellings") or []), *(info.get("provinces") or [])]
        out.update(n.strip().lower() for n in names if isinstance(n, str) and n.strip())
    return frozenset(out)


TITLES = frozenset(
    "mr mrs ms miss dr sir lady lord dame captain colonel general major professor prof saint st king queen"
    " prince princess duke duchess earl count countess baron father mother sister brother uncle aunt rev".split()
)
"""Words of a name that say what someone is, not who: never an entity on their own."""


def evidence_entities(forget: list[str], negatives: list[str], min_count: int = 2, limit: int = 200) -> list[str]:
    """Names that mark the forget prompts: capitalised spans seen at least ``min_count`` times in them and never in the
    negatives (retain and background prompts); a single word also must not occur in any negative, and must be rare
    in English (:func:`rare_word`: "Pemberley", not "Elizabeth" or "Collins", which name thousands of others) unless
    it is a family name (below). A part of a multi-word name is not added on its own ("Johnson" alone would flag
    every other Johnson, a neighbour the request wants kept), unless it is the last word (the family name), no
    negative uses it, and either it ends two or more of those names, a family or house name of the forget set
    ("Bennet" of Elizabeth, Jane and Mrs Bennet: "the eldest Bennet sister"), or it is rare in English
    (:func:`rare_word`: "Wickham", "Dumbledore"), so that a prompt using the surname alone ("What does Dumbledore
    teach?") names the same one. A shared *first* word is not: it is usually a first name ("Marie" of Marie Curie
    and Marie Sklodowska-Curie, two spellings of one person), and alone it would flag every other Marie (Marie
    Antoinette). A run of two or more words of a longer name ("Lady Catherine" of "Lady Catherine de Bourgh") is a
    name too, unless a negative uses it. A real place (:func:`real_places`: "Hertfordshire", "Jordan") is never one:
    the forget set says where, and every other prompt about that place would be flagged."""
    negative_words = {w for t in negatives for w in _WORD.findall(normalise(t).lower())}
    negative_spans = {s.lower() for t in negatives for s in _spans(t)}
    counts: dict[str, int] = {}
    for t in forget:
        for s in set(_spans(t)):
            if s.lower() not in negative_spans:
                counts[s] = counts.get(s, 0) + 1
    spans = [s for s, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_count][:limit]
    multi = [s for s in spans if len(s.split()) > 1]
    ends = Counter(s.split()[-1] for s in multi)  # the last word of each (distinct) multi-word name
    family = [w for w, n in ends.items() if len(w) >= 4 and w[0].isupper() and (n >= 2 or rare_word(w))]
    # a word seen alone is a name only when it is rare in English too: a common one is most often someone or
    # something else ("Elizabeth" of a novel's passages would flag "Who was Queen Elizabeth?")
    single = [s for s in spans if len(s.split()) == 1 and (s in family or rare_word(normalise(s).lower()))]
    single += [w for w in family if w not in spans]
    # a very rare part of a double-barrelled family name names its bearer too ("What did Sklodowska discover?")
    parts = [p for w in family if "-" in w for p in w.split("-") if len(p) >= 4 and p[0].isupper()]
    single += [p for p in dict.fromkeys(parts) if p not in single and rare_word(p.lower(), RARE_PART_ZIPF)]
    single = [s for s in single if (word := normalise(s).lower()) not in negative_words and word not in TITLES]
    # a shorter run of two or more of a long name's words names the same one ("Lady Catherine"), unless a
    # negative contains it as the matcher reads text ("Lady Catherine Morland")
    negative_text = "\n".join(_squash(normalise(t).lower()) for t in negatives)
    runs = [r for r in dict.fromkeys(_runs(multi)) if r not in multi]
    multi += [r for r in runs if _squash(normalise(r).lower()) not in negative_text]
    return [s for s in multi + single if normalise(s).lower() not in real_places()]


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
        """(n, 3): classifier p, entity score and verbatim score of each text. Target creation's scoring: an
        embedding classifier reads its encoder's memo (a held-out prompt was a training text of the other
        folds; the general prompts are scored for every target), the same scores as :meth:`p_forget`."""
        texts = list(texts)
        encoder = getattr(self.classifier, "encoder", None)
        if encoder is not None and hasattr(self.classifier, "p_from_embeddings"):
            p = self.classifier.p_from_embeddings(encoder.embed_prompts(texts, cached=True))
        else:
            p = self.classifier.p_forget(texts)
        return np.c_[p, self.evidence.score(texts), self._quoted(texts)]

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

    @staticmethod
    def p_forget_joint(gates: Sequence[EvidenceGate], texts: list[str], embed) -> np.ndarray:
        """(len(texts), len(gates)): every gate's p_forget, scored together (``core.target.gate_scores``
        calls it). One entity index and one verbatim lookup serve all the gates and the encoder pass is
        shared per backbone (``embed(encoder)``), so a prompt's cost hardly grows with the number of
        targets. Same scores as each gate's :meth:`p_forget`."""
        plan = _joint_plan(tuple(gates))
        out = np.zeros((len(texts), len(gates)))
        for j in plan.classifier:  # the topic classifiers: one dot product each on the shared pass
            g = gates[j]
            out[:, j] = g.classifier.p_from_embeddings(embed(g.encoder)) if g.encoder is not None \
                else g.classifier.p_forget(texts)  # fmt: skip
        if plan.names is not None:
            names = plan.names.score(texts)
            if len(plan.named) == len(gates) and not plan.classifier:  # names alone: the common case
                out = names
            else:
                out[:, plan.named] = np.maximum(out[:, plan.named], names)
        if plan.quotes is not None:
            out[:, plan.quoting] = np.maximum(out[:, plan.quoting], plan.quotes.score(texts))
        return out


@dataclass(frozen=True)
class _JointPlan:
    classifier: list[int]
    named: np.ndarray
    names: EntityIndex | None
    quoting: np.ndarray
    quotes: JointVerbatim | None


_PLANS: dict[tuple[EvidenceGate, ...], _JointPlan] = {}


def _joint_plan(gates: Sequence[EvidenceGate]) -> _JointPlan:
    """The plan of ``gates``, kept in a plain dict keyed by the gates themselves (hashed by identity, under
    a µs for 100): an ``lru_cache``'s own bookkeeping cost ~4 µs per prompt with 100 gates, more than
    scoring a names-only gate."""
    gates = tuple(gates)
    plan = _PLANS.get(gates)
    if plan is None:
        if len(_PLANS) >= 16:  # the gateway uses a handful of sets; drop the oldest
            del _PLANS[next(iter(_PLANS))]
        plan = _PLANS[gates] = _build_plan(gates)
    return plan


def _build_plan(gates: tuple[EvidenceGate, ...]) -> _JointPlan:
    """Which gates use which evidence, and the shared indexes: built once per set of gates (the gateway
    asks for the same set on every batch)."""
    named = [j for j, g in enumerate(gates) if g.mode != "classifier"]
    quoting = [j for j, g in enumerate(gates) if g.verbatim is not None]
    names = None
    if len(named) == 1:
        names = gates[named[0]].evidence.index  # one target: its own index already is the joint one
    elif named:
        names = EntityIndex([gates[j].evidence.entities for j in named], gates[named[0]].evidence.similarity)
    return _JointPlan(
        classifier=[j for j, g in enumerate(gates) if g.mode != "entities"],
        named=np.array(named, dtype=int),
        names=names,
        quoting=np.array(quoting, dtype=int),
        quotes=JointVerbatim(tuple(gates[j].verbatim for j in quoting)) if quoting else None,
    )
