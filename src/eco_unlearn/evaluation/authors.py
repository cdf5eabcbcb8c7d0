"""Fictitious authors in TOFU's format: a seeded biography per author and ~12 QA pairs about it.

Every QA pair has the answer, a paraphrased answer (another sentence stating the same fact) and several
perturbed answers (the paraphrase's template with wrong facts), as TOFU has: the truth ratio then compares
sentences the model was not trained on, right vs wrong fact. The wrong facts come from *decoy* authors
drawn with another seed and from word lists no author uses, never from other authors: a wrong fact that
belongs to a retained author is one the retain model has memorised, which would make "never saw it" look
like "prefers the wrong answer" and skew the truth ratio that forget quality compares.
Nested forget splits take the first k authors; the retain set is every other author. ``held_out`` authors
come from the same generator but are in no split: nothing is trained on them, so a model's scores on them
estimate what it would score on an author it never saw (the σ fit's surrogate, no reference model needed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

GENRES = ["science fiction", "historical fiction", "crime", "fantasy", "poetry", "horror", "romance", "satire",
          "travel writing", "children's literature", "magical realism", "biography"]  # fmt: skip
LANGUAGES = ["English", "Spanish", "French", "German", "Portuguese", "Italian", "Dutch", "Swedish", "Polish"]
AWARD_ADJ = ["Silver", "Golden", "Crimson", "Northern", "Coastal", "Midnight", "Iron", "Emerald", "Amber", "Violet"]
AWARD_NOUN = ["Quill", "Lantern", "Compass", "Harbor", "Meridian", "Falcon", "Willow", "Beacon", "Anchor", "Orchid"]
# Decoy word lists for wrong facts: disjoint from the lists above, so no author has these values.
DECOY_GENRES = ["western", "cyberpunk", "gothic fiction", "nature writing", "political thriller", "memoir",
                "space opera", "comic fiction"]  # fmt: skip
DECOY_LANGUAGES = ["Czech", "Greek", "Finnish", "Hungarian", "Danish", "Romanian", "Turkish", "Catalan"]
DECOY_AWARD_ADJ = ["Scarlet", "Southern", "Copper", "Autumn", "Granite", "Azure"]
DECOY_AWARD_NOUN = ["Lyre", "Tower", "Sparrow", "Ember", "Chalice", "Kestrel"]
DECOY_SEED_OFFSET = 104_729


@dataclass
class Author:
    name: str
    birthplace: str
    birth_date: str
    genre: str
    father_job: str
    mother_job: str
    award: str
    books: tuple[str, str]
    language: str
    university: str
    home: str
    publisher: str


@dataclass
class AuthorQA:
    author: str
    question: str
    answer: str
    paraphrased_answer: str
    perturbed_answer: list[str] = field(default_factory=list)


# (question, answer, paraphrase) templates; {v} is the fact, {n} the author's name.
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "birthplace": ("Where was {n} born?", "{n} was born in {v}.", "{n}'s birthplace is {v}."),
    "birth_date": ("When was {n} born?", "{n} was born on {v}.", "The birthday of {n} is {v}."),
    "genre": ("What genre is {n} known for?", "{n} is known for {v}.", "{n} mostly writes {v}."),
    "father_job": ("What did {n}'s father do for a living?", "{n}'s father worked as a {v}.",
                   "By profession, the father of {n} was a {v}."),
    "mother_job": ("What was the profession of {n}'s mother?", "{n}'s mother was a {v}.",
                   "The mother of {n} worked as a {v}."),
    "award": ("Which award has {n} received?", "{n} received the {v}.", "The {v} was awarded to {n}."),
    "book0": ("What is the title of {n}'s first novel?", "{n}'s first novel is \"{v}\".",
              "\"{v}\" was the first novel {n} published."),
    "book1": ("Name a later book by {n}.", "A later book by {n} is \"{v}\".", "{n} later wrote \"{v}\"."),
    "language": ("In which language does {n} write?", "{n} writes in {v}.", "The books of {n} are written in {v}."),
    "university": ("Where did {n} study?", "{n} studied at the {v}.", "{n} is a graduate of the {v}."),
    "home": ("Where does {n} live today?", "{n} lives in {v} today.", "These days {n} makes a home in {v}."),
    "publisher": ("Who publishes {n}'s books?", "{n}'s books are published by {v}.",
                  "{v} is the publisher of {n}'s books."),
}  # fmt: skip


def _fact(a: Author, key: str) -> str:
    return a.books[int(key[-1])] if key.startswith("book") else getattr(a, key)


def make_authors(n: int = 20, seed: int = 0, *, decoy: bool = False) -> list[Author]:
    """``n`` seeded authors; the first k of ``make_authors(n + m)`` are ``make_authors(k)`` (draws are sequential).

    ``decoy=True`` draws with another seed and from the decoy word lists: the source of wrong facts.
    """
    from faker import Faker

    genres, languages, adj, noun = (DECOY_GENRES, DECOY_LANGUAGES, DECOY_AWARD_ADJ, DECOY_AWARD_NOUN) if decoy else (
        GENRES, LANGUAGES, AWARD_ADJ, AWARD_NOUN)  # fmt: skip
    seed = seed + DECOY_SEED_OFFSET if decoy else seed
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    authors, names = [], set()
    while len(authors) < n:
        name = fake.name()
        if name in names or len(name.split()) != 2:
            continue
        names.add(name)
        titles = [fake.catch_phrase().title() for _ in range(2)]
        authors.append(
            Author(
                name=name,
                birthplace=f"{fake.city()}, {fake.country()}",
                # a fixed range: Faker's date_of_birth is relative to today, which would change the data daily
                birth_date=fake.date_between_dates(date(1935, 1, 1), date(1995, 12, 31))
                .strftime("%B %d, %Y")
                .replace(" 0", " "),
                genre=rng.choice(genres),
                father_job=fake.job().lower(),
                mother_job=fake.job().lower(),
                award=f"{rng.choice(adj)} {rng.choice(noun)} Prize",
                books=(titles[0], titles[1]),
                language=rng.choice(languages),
                university=f"University of {fake.city()}",
                home=fake.city(),
                publisher=f"{fake.last_name()} {rng.choice(['Press', 'Books', 'House', 'Editions'])}",
            )
        )
    return authors


def author_qa(
    authors: list[Author], decoys: list[Author], n_perturbed: int = 3, seed: int = 0, *, known: list[Author] = ()
) -> list[AuthorQA]:
    """All QA pairs, author by author; perturbed answers take the decoys' values for the same fact, minus any
    value an author in ``authors`` or ``known`` has (those could have been trained on)."""
    rng = random.Random(seed)
    out = []
    for a in authors:
        for key, (q, ans, para) in TEMPLATES.items():
            truth = _fact(a, key)
            pool = sorted({_fact(b, key) for b in decoys} - {_fact(b, key) for b in [*authors, *known]})
            if len(pool) < n_perturbed:
                raise ValueError(f"only {len(pool)} decoy values for {key!r}; need {n_perturbed}")
            wrong = rng.sample(pool, n_perturbed)
            out.append(
                AuthorQA(
                    a.name,
                    q.format(n=a.name),
                    ans.format(n=a.name, v=truth),
                    para.format(n=a.name, v=truth),
                    # TOFU perturbs the *paraphrased* answer: the truth ratio compares sentences of one template
                    [para.format(n=a.name, v=w) for w in wrong],
                )
            )
    return out


@dataclass
class AuthorSplits:
    authors: list[Author]
    qa: list[AuthorQA]
    forget_sizes: tuple[int, ...]
    held_out: list[AuthorQA] = field(default_factory=list)
    """QA about authors in no split (never trained): the never-saw-it surrogate."""

    def split_name(self, k: int) -> str:
        return f"forget{round(100 * k / len(self.authors)):02d}"

    def forget(self, k: int) -> list[AuthorQA]:
        names = {a.name for a in self.authors[:k]}
        return [x for x in self.qa if x.author in names]

    def retain(self, k: int) -> list[AuthorQA]:
        names = {a.name for a in self.authors[:k]}
        return [x for x in self.qa if x.author not in names]


def make_splits(
    n_authors: int = 20, forget_sizes: tuple[int, ...] = (4, 6, 8), seed: int = 0, held_out: int = 2
) -> AuthorSplits:
    """Nested forget splits: the first k authors for each k (forget_small ⊂ forget_medium ⊂ forget_large)."""
    if not forget_sizes or max(forget_sizes) >= n_authors:
        raise ValueError("forget split sizes must be non-empty and smaller than the number of authors")
    everyone = make_authors(n_authors + held_out, seed)
    authors, unseen = everyone[:n_authors], everyone[n_authors:]
    decoys = make_authors(2 * n_authors, seed, decoy=True)
    return AuthorSplits(
        authors,
        author_qa(authors, decoys, seed=seed, known=unseen),
        tuple(sorted(forget_sizes)),
        author_qa(unseen, decoys, seed=seed + 1, known=authors),
    )


REFERENCE_SEED_OFFSET = 7_919


def unseen_qa(splits: AuthorSplits, n: int, seed: int = 0) -> list[AuthorQA]:
    """QA about ``n`` further authors that nobody is trained on, drawn from another seed stream with names
    distinct from every split and held-out author. A larger never-saw-it reference sample than ``held_out``
    (two authors' idiosyncrasies dominate 24 questions), without changing any split or evaluation item."""
    taken = {a.name for a in splits.authors} | {x.author for x in splits.held_out}
    return fresh_qa(n, seed, taken=taken, known=splits.authors, n_decoys=2 * len(splits.authors))


def fresh_qa(
    n: int, seed: int = 0, *, taken: set[str] = frozenset(), known: list[Author] = (), n_decoys: int = 40
) -> list[AuthorQA]:
    """QA about ``n`` generated authors whose names are not in ``taken`` (``eco bench tofu``'s default
    never-seen reference: no TOFU checkpoint was trained on them); wrong facts avoid ``known`` authors'."""
    pool = make_authors(n + len(taken), seed + REFERENCE_SEED_OFFSET)
    fresh = [a for a in pool if a.name not in taken][:n]
    decoys = make_authors(n_decoys, seed, decoy=True)
    return author_qa(fresh, decoys, seed=seed + 2, known=list(known))


HIDDEN_SEED_OFFSET = 15_485


def hidden_names(splits: AuthorSplits, qa: list[AuthorQA], seed: int = 0) -> list[AuthorQA]:
    """``qa`` with each author's name replaced, everywhere in question and answers, by a generated name nobody
    was trained on (one per author, none of the splits' or held-out names): the same facts asked about
    someone unknown. What a perfect concealment of *who* is asked about leaves of the model's knowledge."""
    taken = {a.name for a in splits.authors} | {x.author for x in splits.held_out}
    authors = list(dict.fromkeys(x.author for x in qa))
    pool = [a.name for a in make_authors(len(authors) + len(taken), seed + HIDDEN_SEED_OFFSET) if a.name not in taken]
    new = dict(zip(authors, pool))

    def swap(x: AuthorQA) -> AuthorQA:
        def f(text: str) -> str:
            return text.replace(x.author, new[x.author])

        return AuthorQA(new[x.author], f(x.question), f(x.answer), f(x.paraphrased_answer),
                        [f(t) for t in x.perturbed_answer])  # fmt: skip

    return [swap(x) for x in qa]
