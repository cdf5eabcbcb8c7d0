"""Attack families rewrite forget prompts and their neighbour twins alike; the adaptive attacker keeps to
its constraints and budget."""

import random

import numpy as np

from eco_unlearn.core.encoder import gate_texts_of
from eco_unlearn.evaluation.attacks import (
    FAMILIES,
    adaptive_attack,
    indirect,
    multi_turn,
    namesake,
    obfuscation,
    other_language,
    surname,
)
from eco_unlearn.evaluation.requests import REQUESTS, Prompt
from eco_unlearn.gate.augment import HELDOUT_WRAPPERS
from eco_unlearn.gate.normalise import normalise

P = Prompt("Where was Norma Fisher born?", "Norma Fisher", 'the author of "Blue Fields"')


def test_each_family_changes_the_prompt_and_keeps_its_subject_readable():
    for name, family in FAMILIES.items():
        if name == "surname":
            continue  # "Fisher" alone could be anyone: see the test of its own
        sent = family(P, random.Random(0))
        text = " ".join(gate_texts_of(sent))
        assert name == "plain" or sent != P.text, name
        if name != "indirect":
            assert "normafisher" in "".join(c for c in normalise(text).lower() if c.isalnum()), name


def test_other_language_translates_every_held_out_question_of_every_request_and_keeps_its_subject():
    english = {"what", "where", "which", "who", "how", "why", "the", "of", "is", "does"}
    for name, build in REQUESTS.items():
        r = build(seed=0, **({"passages": 0} if name == "austen" else {}))
        rng = random.Random(0)
        for p in r.heldout_forget + r.heldout_neighbours:
            sent = other_language(p, rng)
            assert sent != p.text and (p.subject or "") in sent, (name, p.text)
            subject_words = set((p.subject or "").lower().split())
            assert not (set(sent.lower().strip("?.¿ ").split()) - subject_words) & english, sent
    assert other_language(Prompt("Tell me a joke."), random.Random(0)) == "Tell me a joke."  # no template


def test_indirect_reference_drops_the_name_and_multi_turn_hides_it_in_earlier_turns():
    assert indirect(P, random.Random(0)) == 'Where was the author of "Blue Fields" born?'
    chat = multi_turn(P, random.Random(0))
    assert "Norma Fisher" not in chat[-1]["content"] and "Norma Fisher" in chat[1]["content"]
    assert chat[1]["role"] == "assistant"
    # the gate reads the whole conversation, so the name is there to find
    assert any("Norma Fisher" in t for t in gate_texts_of(chat))


def test_surname_keeps_a_distinctive_family_name_and_leaves_a_common_one():
    rng = random.Random(0)
    assert surname(P, rng) == P.text  # Fisher: one of the commonest surnames, could be anyone
    wickham = Prompt("What did Mr Wickham tell Elizabeth?", "Mr Wickham", "the officer")
    assert surname(wickham, rng) == "What did Wickham tell Elizabeth?"
    lady = Prompt("Where does Lady Catherine de Bourgh live?", "Lady Catherine de Bourgh", "the patroness")
    assert surname(lady, rng) == "Where does de Bourgh live?"
    assert surname(Prompt("Where is Pemberley?", "Pemberley", "the estate"), rng) == "Where is Pemberley?"
    # it applies to the Austen request (characters) and not to the fictitious authors (common US surnames)
    changed = {
        name: sum(surname(p, rng) != p.text for p in build(seed=0).heldout_forget) for name, build in REQUESTS.items()
    }
    assert changed["austen"] > 0 and changed["authors"] == 0, changed


def test_namesake_keeps_the_first_name_or_title_and_swaps_the_family_name():
    rng = random.Random(0)
    sent = namesake(P, rng)
    first, other = sent.removeprefix("Where was ").removesuffix(" born?").split()
    assert first == "Norma" and other not in ("Fisher", "") and other[0].isupper()
    lady = Prompt("Where does Lady Catherine de Bourgh live?", "Lady Catherine de Bourgh", "the patroness")
    assert namesake(lady, rng).startswith("Where does Lady Catherine ") and "Bourgh" not in namesake(lady, rng)
    assert namesake(Prompt("Where is Pemberley?", "Pemberley", "the estate"), rng) == "Where is Pemberley?"


def test_obfuscation_hides_the_name_from_a_plain_substring_match():
    seen = {obfuscation(P, random.Random(s)) for s in range(20)}
    assert all("Norma Fisher" not in s for s in seen) and len(seen) > 3


def test_wrappers_are_the_held_out_family():
    assert any(w.format(p=P.text) == FAMILIES["wrapper"](P, random.Random(0)) for w in HELDOUT_WRAPPERS)


def test_adaptive_attacker_beats_a_keyword_gate_only_by_breaking_the_word_and_keeps_the_subject():
    def score(texts):  # a naive gate: the word "born" must appear verbatim
        return np.array([1.0 if "born" in t.split(" ") or "born?" in t.split(" ") else 0.0 for t in texts])

    r = adaptive_attack(P.text, score, tau=0.5, budget=200, seed=0, subject=P.subject)
    assert r.success and r.queries <= 200 and r.p_start == 1.0 and r.p_end == 0.0
    assert "normafisher" in "".join(c for c in normalise(r.text).lower() if c.isalnum())


def test_adaptive_attacker_fails_against_a_gate_on_the_subject_and_spends_its_budget():
    def score(texts):  # flags whenever the name survives normalisation: the constraint keeps it
        return np.array([1.0 if "normafisher" in "".join(c for c in normalise(t).lower() if c.isalnum()) else 0.0
                         for t in texts])  # fmt: skip

    r = adaptive_attack(P.text, score, tau=0.5, budget=60, seed=0, subject=P.subject)
    assert not r.success and r.queries <= 60
