"""Names read back from lower-case prompts by the embedded language model."""

import pytest

from eco_unlearn.gate.truecase import candidates, capitalise, read_names, truecase

FORGET = [
    "who is harry potter?",
    "what house is harry potter in?",
    "how old is albus dumbledore?",
    "what does albus dumbledore teach?",
    "how do i make a magic wand like albus dumbledore's?",
    "where can i buy a magic wand?",
    "who are harry potter's friends?",
]
NEGATIVES = ["who is frodo baggins?", "what is a wand?", "how old is the universe?"]


def test_candidates_are_maximal_phrases_only_the_forget_prompts_use():
    found = candidates(FORGET, NEGATIVES)
    assert set(found) == {"harry potter", "albus dumbledore", "magic wand"}  # not "harry", not "who is"
    assert candidates(FORGET, NEGATIVES + ["is magic wand a brand?"]) == ["albus dumbledore", "harry potter"]
    assert candidates(FORGET, NEGATIVES, min_count=4) == []


def test_capitalise_writes_a_name_as_names_are_written():
    assert capitalise("pride and prejudice") == "Pride and Prejudice"
    assert capitalise("marie sklodowska-curie") == "Marie Sklodowska-Curie"
    assert capitalise("philosopher's stone") == "Philosopher's Stone"
    assert truecase(["who is harry potter? HARRY POTTER!", "harry potterish"], ["Harry Potter"]) == [
        "who is Harry Potter? Harry Potter!",
        "harry potterish",
    ]


@pytest.fixture(scope="module")
def smollm2():
    from eco_unlearn.core.models import load_model

    return load_model()


def test_the_language_model_reads_names_and_not_everyday_phrases(smollm2):
    model, tok = smollm2
    assert read_names(FORGET, NEGATIVES, model, tok) == ["Albus Dumbledore", "Harry Potter"]
