"""Namesake negatives: the forget prompts, asked about someone else with the same first name or title.

A topic classifier trained on "Who was Marie Curie?" against questions about other scientists learns "Marie"
as much as "Curie": nothing among its negatives says that another Marie is out of scope, and "Who was Marie
Antoinette?" scored 0.77 against a τ of 0.63 (found trying a request to forget Marie Curie, which settles on
the classifier). The entity evidence already refuses a shared first name on its own (entity_evidence.py);
these negatives teach the classifier the same. Each forget prompt that names exactly one multi-word forget
name is copied with that name's family name swapped for another surname ("Marie Curie" → "Marie Kraus", "Mr
Darcy" → "Mr Parisi"), and the copy trains as a negative.

The surnames come from Faker's German and Italian lists, less every name of its US list: ``eco bench gate``
scores namesakes with the US list (``evaluation.attacks.namesake``), so what it measures is never trained on.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache


def family_start(words: list[str]) -> int:
    """Where the family name of a multi-word name starts, with its particles ("de Bourgh", "van Helsing")."""
    start = len(words) - 1
    while start > 1 and words[start - 1].islower():
        start -= 1
    return start


def with_family_name(name: str, surname: str) -> str:
    """``name`` with its family name, particles included, replaced ("Lady Catherine de Bourgh" → "Lady
    Catherine Kraus"); its first name or title kept."""
    words = name.split()
    return " ".join(words[: family_start(words)] + [surname])


@lru_cache(maxsize=1)
def training_surnames() -> tuple[str, ...]:
    """Plain ASCII surnames of Faker's de_DE and it_IT lists that are not in its en_US list (sorted)."""
    from faker.providers.person.de_DE import Provider as German
    from faker.providers.person.en_US import Provider as American
    from faker.providers.person.it_IT import Provider as Italian

    def names(provider) -> set[str]:
        return set(provider.last_names)  # a list in some locales, a weighted dict in others

    pool = (names(German) | names(Italian)) - names(American)
    return tuple(sorted(s for s in pool if re.fullmatch(r"[A-Z][a-z]{3,}", s)))


def namesake_negatives(forget: list[str], names: list[str], seed: int = 0) -> list[str]:
    """One namesake of each forget prompt that names exactly one of the multi-word ``names`` (the longest
    that occurs, so "Lady Catherine de Bourgh" rather than its run "Lady Catherine"); prompts naming two
    forget names, or none, give none: a copy that still names one would be a forget prompt."""
    rng = random.Random(seed)
    multi = sorted((n for n in names if len(n.split()) > 1), key=len, reverse=True)
    lowered = [n.lower() for n in names]
    surnames = training_surnames()
    out = []
    for text in forget:
        name = next((n for n in multi if n in text), None)
        if name is None:
            continue
        other = rng.choice([s for s in surnames if s != name.split()[-1]])
        copy = text.replace(name, with_family_name(name, other))
        if not any(n in copy.lower() for n in lowered):
            out.append(copy)
    return out
