"""Realistic removal requests for ``eco bench gate``: a forget set, its *neighbour* (what must be kept and
looks most like it), and evaluation prompts that nothing trains on.

Each request is built from data this project already has, and split so that the evaluation is honest:
held-out forget prompts ask the same kind of question about the target in wordings or about facts the
target's creation never saw; held-out neighbours are prompts about the neighbour that creation never saw.
Every prompt carries its *subject* (the name it is about) and an *alias* (a description that avoids the
name), so attack families can rewrite it (indirect reference, multi-turn follow-ups).

- ``authors``: 20 fictitious authors vs 20 other fictitious authors (TOFU-like), 12 questions each; the
  request lists the forgotten authors and their books, as a user asking to forget an author would;
- ``austen``: Pride and Prejudice (its characters and places, and passages of the novel) vs Austen's
  other five novels (same author, same style); as a copyright request would, it supplies the book itself
  as forget text (the verbatim index), and held-out passages are parts of it no prompt contains;
- ``hazard``: chemistry (elements) vs physics (quantities, laws, particles), a near scientific neighbour.

The general sets (TOFU world facts and real authors, and :data:`EVERYDAY`) are evaluation-only and disjoint
from the built-in background negatives (asserted in the tests).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Prompt:
    text: str
    subject: str = ""
    """The name the prompt is about (empty for passages)."""
    alias: str = ""
    """A description of the subject that avoids its name."""


@dataclass
class Request:
    name: str
    description: str
    forget: list[Prompt]
    retain: list[Prompt]
    heldout_forget: list[Prompt]
    heldout_neighbours: list[Prompt]
    extra: dict[str, list[Prompt]] = field(default_factory=dict)
    """Further evaluation-only sets, e.g. passages."""
    forget_text: list[str] = field(default_factory=list)
    """A text whose quotation is in scope (the book of a copyright request), for the verbatim index."""
    entities: list[str] = field(default_factory=list)
    """The names the request itself lists (``--entities``), as "forget these authors and their books" does;
    empty: the names are found in the forget prompts."""


# Everyday requests for FPR, written for evaluation only (the background set never trains on these forms).
EVERYDAY = [
    "Can you recommend a podcast for a long drive?", "My sink is clogged, what should I try first?",
    "Draft a polite message declining a party invitation.", "Which is healthier, oatmeal or cereal?",
    "Suggest a name for a hiking club.",
    "How many cups are in a litre?", "Rewrite this sentence to sound formal: gonna be late",
    "What should I pack for a beach weekend?", "Help me plan a vegetarian dinner for six.",
    "Is it safe to run every day?", "What's the etiquette for tipping in restaurants?",
    "Make a packing list for a business trip.", "Explain how to play chess in a few sentences.",
    "What are some fun indoor activities for kids?", "Summarise the benefits of drinking water.",
    "How can I make my resume stand out?", "Give me a riddle with its answer.", "What is a good stretching routine?",
    "How do I politely ask my neighbour to be quieter?", "What's the fastest way to learn to juggle?",
    "Create a weekly chore chart for two roommates.", "Why do cats purr?", "How do noise-cancelling headphones work?",
    "Write a two-line birthday message for my aunt.", "What board games are good for four players?",
    "Should I rent or buy a car for a week abroad?", "How do I keep bread fresh longer?",
    "List five ways to reduce screen time.", "What is the best time of day to water plants?",
    "How can I tell if an avocado is ripe?",
]  # fmt: skip

# --- authors -------------------------------------------------------------------------------------------


def _author_prompts(authors) -> list[list[Prompt]]:
    from eco_unlearn.evaluation.authors import TEMPLATES

    return [
        [Prompt(q.format(n=a.name), a.name, f'the author of "{a.books[0]}"') for q, _, _ in TEMPLATES.values()]
        for a in authors
    ]


def authors_request(n: int = 20, seed: int = 0, heldout: float = 0.3) -> Request:
    """Questions about ``n`` fictitious authors vs ``n`` others; a third of each author's questions (other
    facts) are held out, and questions about ``n`` further authors never seen are neighbours too."""
    from eco_unlearn.evaluation.authors import make_authors

    everyone = make_authors(3 * n, seed)
    rng = random.Random(seed)
    parts: dict[str, list[Prompt]] = {"forget": [], "retain": [], "heldout_forget": [], "heldout_neighbours": []}
    for group, (train_key, test_key) in zip(
        (everyone[:n], everyone[n : 2 * n]), (("forget", "heldout_forget"), ("retain", "heldout_neighbours"))
    ):
        for prompts in _author_prompts(group):
            rng.shuffle(prompts)
            k = round(len(prompts) * heldout)
            parts[test_key] += prompts[:k]
            parts[train_key] += prompts[k:]
    unseen = [p for ps in _author_prompts(everyone[2 * n :]) for p in ps]
    parts["heldout_neighbours"] += rng.sample(unseen, min(len(unseen), len(parts["heldout_neighbours"])))
    # a request to forget authors names them and their books (the questions never name a book)
    listed = [s for a in everyone[:n] for s in (a.name, *a.books)]
    return Request("authors", f"{n} fictitious authors (and their books) vs {n} other fictitious authors", **parts,
                   entities=listed)  # fmt: skip


# --- austen --------------------------------------------------------------------------------------------

PRIDE = {
    "Elizabeth Bennet": "the second Bennet daughter", "Mr Darcy": "the proud master of Pemberley",
    "Jane Bennet": "the eldest Bennet sister", "Mr Bingley": "the amiable tenant of Netherfield",
    "Lydia Bennet": "the youngest Bennet sister", "Mr Wickham": "the charming militia officer who elopes",
    "Mr Collins": "the pompous clergyman cousin", "Lady Catherine de Bourgh": "the domineering patroness of Rosings",
    "Charlotte Lucas": "Elizabeth's practical friend", "Mrs Bennet": "the mother anxious to marry off five daughters",
    "Mr Bennet": "the ironic father of five daughters", "Georgiana Darcy": "Darcy's shy younger sister",
    "Caroline Bingley": "Bingley's snobbish sister", "Pemberley": "Darcy's estate in Derbyshire",
    "Netherfield": "the house Bingley rents", "Longbourn": "the Bennet family home",
    "Rosings": "Lady Catherine's estate", "Meryton": "the market town near the Bennets' home",
}  # fmt: skip
OTHER_AUSTEN = {
    "Emma Woodhouse": "the matchmaking heroine of Highbury", "Mr Knightley": "the sensible owner of Donwell Abbey",
    "Harriet Smith": "Emma's impressionable protégée", "Frank Churchill": "Mr Weston's secretive son",
    "Jane Fairfax": "the accomplished orphan engaged in secret",
    "Anne Elliot": "the overlooked daughter of Kellynch Hall",
    "Captain Wentworth": "the naval officer Anne once refused", "Sir Walter Elliot": "the vain baronet of Kellynch",
    "Louisa Musgrove": "the girl who falls at Lyme", "Elinor Dashwood": "the sensible elder Dashwood sister",
    "Marianne Dashwood": "the passionate younger Dashwood sister", "Colonel Brandon": "the patient colonel of Delaford",
    "Mr Willoughby": "the dashing suitor who jilts Marianne", "Fanny Price": "the poor cousin raised at Mansfield",
    "Edmund Bertram": "Fanny's kind cousin", "Henry Crawford": "the charming flirt who proposes to Fanny",
    "Catherine Morland": "the novel-reading heroine who visits Bath", "Henry Tilney": "the witty clergyman of Woodston",
}  # fmt: skip
AUSTEN_TEMPLATES = [
    "Who is {e} in the novel?",
    "Describe the character of {e}.",
    "What role does {e} play in the story?",
    "How does {e} change over the course of the book?",
    "What happens to {e} at the end?",
    "Why is {e} important to the plot?",
]
AUSTEN_HELDOUT_TEMPLATES = ["What do readers think of {e}?", "Summarise the story of {e}."]


def _entity_prompts(entities: dict[str, str], templates: list[str]) -> list[Prompt]:
    return [Prompt(t.format(e=e), e, alias) for e, alias in entities.items() for t in templates]


def austen_request(seed: int = 0, passages: int = 60) -> Request:
    """Pride and Prejudice vs the other Austen novels: questions (held-out templates for testing) and, when
    the corpus is available, passages (held-out chapters)."""
    extra, forget_text = {}, []
    forget = _entity_prompts(PRIDE, AUSTEN_TEMPLATES)
    retain = _entity_prompts(OTHER_AUSTEN, AUSTEN_TEMPLATES)
    if passages:
        from eco_unlearn.evaluation.corpora import austen

        pp, others = _passages("prideprejudice", seed), [p for b in _OTHERS for p in _passages(b, seed)]
        random.Random(seed).shuffle(others)
        half = passages // 2
        forget += pp[:half]
        retain += others[:half]
        extra = {"forget_passages": pp[half:passages], "neighbour_passages": others[half:passages]}
        forget_text = ["\n".join(austen("prideprejudice"))]  # a copyright request supplies the book
    return Request(
        "austen",
        "Pride and Prejudice vs Austen's other novels (same author)",
        forget,
        retain,
        _entity_prompts(PRIDE, AUSTEN_HELDOUT_TEMPLATES),
        _entity_prompts(OTHER_AUSTEN, AUSTEN_HELDOUT_TEMPLATES),
        extra,
        forget_text,
    )


_OTHERS = ("emma", "persuasion", "sensesensibility", "mansfieldpark", "northangerabbey")


def _passages(book: str, seed: int, words: int = 60) -> list[Prompt]:
    """60-word windows of a novel's paragraphs, in a seeded order."""
    from eco_unlearn.evaluation.corpora import austen, chapters

    paras = [p for ch in chapters(austen(book)) for p in ch.split("\n") if len(p.split()) >= words]
    random.Random(seed).shuffle(paras)
    return [Prompt(" ".join(p.split()[:words])) for p in paras]


# --- hazard --------------------------------------------------------------------------------------------

PHYSICS = {
    "velocity": "the rate of change of position", "acceleration": "the rate of change of velocity",
    "momentum": "mass times velocity",
    "kinetic energy": "the energy of motion", "torque": "the turning effect of a force",
    "electric current": "the flow of charge",
    "voltage": "electric potential difference", "resistance": "opposition to current",
    "frequency": "cycles per second",
    "wavelength": "the distance between wave crests", "pressure": "force per unit area",
    "power": "work done per unit time", "entropy": "a measure of disorder", "magnetic flux": "field through a surface",
    "Newton's second law": "the law relating force, mass and acceleration",
    "Ohm's law": "the law relating voltage and current",
    "the photoelectric effect": "light ejecting electrons from a metal",
    "special relativity": "Einstein's 1905 theory of motion",
    "the Doppler effect": "the pitch shift of a moving source", "a photon": "the quantum of light",
    "a neutrino": "the nearly massless neutral lepton", "a quark": "the constituent of protons",
    "Hooke's law": "the law of springs", "buoyancy": "the upward force of a fluid",
}  # fmt: skip
PHYSICS_TEMPLATES = [
    "What is {e} in physics?", "What is the SI unit of {e}?", "How is {e} measured?", "Explain {e} with an example.",
    "Who first described {e}?", "How is {e} calculated?",
]  # fmt: skip
PHYSICS_HELDOUT_TEMPLATES = ["Why does {e} matter in engineering?", "Give a real-world example of {e}."]


def hazard_request(seed: int = 0, forget: int = 200) -> Request:
    """Chemistry (questions about elements; held-out elements) vs physics (held-out wordings); ``forget``: at most
    that many chemistry questions to create the target from (the quick bench takes 60)."""
    from eco_unlearn.evaluation.domains import domain_prompts, elements

    train, test = domain_prompts("chemistry", per_item=2, seed=seed)
    by_name = {e.name: e for e in sorted(elements(), key=lambda e: -len(e.name))}  # longest name first

    def tag(texts: list[str]) -> list[Prompt]:
        out = []
        for t in texts:
            e = next((by_name[n] for n in by_name if n in t), None)
            out.append(Prompt(t, e.name, f"the element with atomic number {e.number}") if e else Prompt(t))
        return out

    rng = random.Random(seed)
    return Request(
        "hazard",
        "chemistry (elements) vs physics (a near scientific neighbour)",
        tag(rng.sample(train, min(len(train), forget))),
        _entity_prompts(PHYSICS, PHYSICS_TEMPLATES),
        tag(rng.sample(test, min(len(test), 60))),
        _entity_prompts(PHYSICS, PHYSICS_HELDOUT_TEMPLATES),
    )


REQUESTS = {"authors": authors_request, "austen": austen_request, "hazard": hazard_request}
