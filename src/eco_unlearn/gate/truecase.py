"""Names in a removal request written in lower case, read back by a language model.

Entity evidence reads names from capitalised words (entity_evidence.py). A request written in lower case
("who is harry potter?") has none: its gate fell back to a topic classifier, which flagged "Who is Beatrix
Potter?" (found trying the product). Whether a phrase is a name is something a language model knows: the
embedded SmolLM2 finds "Who is Harry Potter?" 4.6 nats likelier than "Who is harry potter?", and "How do I
make a Magic Wand?" 8.8 nats less likely than the lower-case form.

So: the candidates are the word n-grams (one to four words) seen in at least two forget prompts and in no
negative, that neither start nor end with a function word, and that are not part of a longer candidate seen
as often; a candidate is a name when the forget prompts that contain it are likelier, on average, with it
capitalised than as written. ``eco target create`` then capitalises those names in the forget prompts, and
entity evidence reads them as it reads any request.
"""

from __future__ import annotations

import re
from collections import Counter

import torch

from eco_unlearn.core.selection import english_stop_words

SMALL_WORDS = frozenset("a an and as at by de del der di du for in la le of on or the to van von".split())
"""Words a capitalised name or title keeps in lower case ("Pride and Prejudice", "Catherine de Bourgh")."""
_WORDS = re.compile(r"[a-z][a-z'’-]*")


QUESTION_WORDS = frozenset(
    "do does did done doing is are was were be been has had have can could would should will may might must"
    " tell describe explain give list name summarise summarize write say said who what when where why how which"
    " please about".split()
)
"""Words that open a request's clauses: never the edge of a name ("does Caroline Bingley")."""


def _function_words() -> frozenset[str]:
    return english_stop_words() | SMALL_WORDS | QUESTION_WORDS


def _words(text: str) -> list[str]:
    """Lower-case words, a possessive ending dropped ("curie's" → "curie")."""
    return [re.sub(r"['’]s$", "", w) for w in _WORDS.findall(text.lower())]


def capitalise(phrase: str) -> str:
    """A phrase as a name is written: each word capitalised but the small inner ones ("pride and prejudice"
    → "Pride and Prejudice"; "philosopher's" → "Philosopher's", not str.title's "Philosopher'S")."""

    def cap(word: str) -> str:
        return "-".join(part[:1].upper() + part[1:] for part in word.split("-"))  # "Sklodowska-Curie"

    return " ".join(w if i and w in SMALL_WORDS else cap(w) for i, w in enumerate(phrase.split()))


def candidates(forget: list[str], negatives: list[str], min_count: int = 2, longest: int = 4) -> list[str]:
    """Word n-grams of the lower-cased forget prompts that could be names (the module docstring), the most
    frequent first."""
    stop = _function_words()
    negative_text = " " + " \n ".join(" ".join(_words(t)) for t in negatives) + " "
    counts: Counter[str] = Counter()
    for text in forget:
        words = _words(text)
        grams = {
            " ".join(words[i : i + n])
            for n in range(1, longest + 1)
            for i in range(len(words) - n + 1)
            if words[i] not in stop and words[i + n - 1] not in stop and len(words[i + n - 1]) > 2
        }
        counts.update(grams)
    seen = {g: c for g, c in counts.items() if c >= min_count and f" {g} " not in negative_text}
    # a part of a longer candidate seen as often is the same name ("harry" of "harry potter")
    maximal = [g for g, c in seen.items() if not any(c == seen[o] and f" {g} " in f" {o} " for o in seen if o != g)]
    return sorted(maximal, key=lambda g: (-seen[g], g))


def _log_likelihoods(model, tok, texts: list[str], batch: int = 32) -> list[float]:
    out: list[float] = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i : i + batch], return_tensors="pt", padding=True).to(model.device)
        with torch.no_grad():
            logits = model(**enc).logits[:, :-1].float()
        ids, mask = enc.input_ids[:, 1:], enc.attention_mask[:, 1:]
        token = torch.log_softmax(logits, -1).gather(-1, ids[..., None])[..., 0]
        out += (token * mask).sum(1).tolist()
    return out


def _context(m: re.Match[str], words: int = 8) -> str:
    """The match and up to ``words`` words either side: a passage is read around the phrase, not whole."""
    before = m.string[: m.start()].split()[-words:]
    after = m.string[m.end() :].split()[:words]
    return " ".join([*before, m.group(0)]) + (" " + " ".join(after) if after else "")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def read_names(
    forget: list[str], negatives: list[str], model, tok, *, min_count: int = 2, limit: int = 60, per_name: int = 3
) -> list[str]:
    """The candidates (:func:`candidates`, at most ``limit``) that ``model`` reads as names, capitalised: the
    prompts containing one (up to ``per_name`` of them, sentence-cased) are on average likelier with it
    capitalised than as written."""
    names = candidates(forget, negatives, min_count)[:limit]
    pairs: list[tuple[str, str, str]] = []  # (candidate, capitalised context, context as written)
    for name in names:
        pattern = re.compile(rf"(?<![a-z]){re.escape(name)}(?![a-z])")
        using = [m for t in forget if (m := pattern.search(t.lower()))][:per_name]
        cased = capitalise(name)
        for m in using:
            text = _context(m)
            pairs.append((name, _sentence(pattern.sub(lambda _, c=cased: c, text)), _sentence(text)))
    if not pairs:
        return []
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    scores = _log_likelihoods(model, tok, [p for _, hi, lo in pairs for p in (hi, lo)])
    gain: dict[str, list[float]] = {}
    for k, (name, _, _) in enumerate(pairs):
        gain.setdefault(name, []).append(scores[2 * k] - scores[2 * k + 1])
    return [capitalise(n) for n in names if sum(gain[n]) / len(gain[n]) > 0]


def truecase(prompts: list[str], names: list[str]) -> list[str]:
    """``prompts`` with every whole-word occurrence of ``names`` (any case) written as in ``names``, the
    longest first."""
    out = []
    for text in prompts:
        for name in sorted(names, key=len, reverse=True):
            text = re.sub(
                rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", lambda _, n=name: n, text, flags=re.IGNORECASE
            )
        out.append(text)
    return out
