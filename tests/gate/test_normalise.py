"""Each obfuscation an attacker uses on a name maps back to the plain form; plain text is left alone."""

import pytest

from eco_unlearn.gate.backbone import expand
from eco_unlearn.gate.normalise import normalise

PLAIN = "Who is Jane Austen?"


@pytest.mark.parametrize(
    "obfuscated",
    [
        "Who is J a n e   A u s t e n?",  # spaced letters, wide gap between words
        "Who is J a n e A u s t e n?",  # spaced letters, one gap everywhere: split at the capital
        "Who is J.a.n.e A.u.s.t.e.n?",
        "Who is J-a-n-e A-u-s-t-e-n?",
        "Who is J4n3 4u5t3n?",  # leetspeak
        "Who is J@ne Au$ten?",
        "Who is Jаnе Аustеn?",  # Cyrillic а, е, А
        "Who is Jane Αusten?",  # Greek Α
        "Who is Ｊａｎｅ Ａｕｓｔｅｎ?",  # full-width
        "Who is Ja\u200bne Aus\u200dten?",  # zero-width space and joiner
        "Who is Jane\u00adAusten?".replace("\u00ad", " \u00ad"),  # soft hyphen
        "Who is Jàne Áusten?",  # accents
        "Who  is  Jane  Austen?",  # doubled spaces
    ],
)
def test_obfuscations_map_to_the_plain_form(obfuscated):
    assert normalise(obfuscated).lower() == PLAIN.lower()  # leetspeak loses case; the encoder is uncased


def test_look_alike_letters_map_by_shape_not_by_sound():
    # transliteration reads Cyrillic "с" as "s" and Greek "Ρ", "Η" as "R", "I": a homoglyph is meant by its shape
    assert normalise("How rеасtіvе is сорреr?") == "How reactive is copper?"
    assert normalise("ΡΗΟΤΟΝ") == "PHOTON"


@pytest.mark.parametrize(
    "text",
    [
        "Who wrote Pride and Prejudice in 1813?",
        "I am a cat. Is it 37 or 42?",
        "What is the capital of France? Thanks!",
        "e.g. the U.S. economy in Q3",
    ],
)
def test_plain_text_is_unchanged(text):
    assert normalise(text) == text


def test_normalisation_is_idempotent_and_reaches_the_classifier_segments():
    text = "Hi there. What is the ch3m1cal sy mbol of G o l d?"
    assert normalise(normalise(text)) == normalise(text)
    flat, owner = expand([text, "plain"])
    # the classifier reads each sentence normalised
    assert "What is the chemical symbol of Gold?" in flat and list(owner) == [0] * (len(flat) - 1) + [1]


@pytest.mark.parametrize(
    "split,joined",
    [
        ("Who disc overed the elem ent?", "Who discovered the element?"),
        ("How heavy is an a tom?", "How heavy is an atom?"),
        ("Explain the dis cov ered law.", "Explain the discovered law."),
        ("This is land is mine.", "This is land is mine."),  # both parts are words: left alone
        ("Who discovered the e lement?", "Who discovered the element?"),  # not "thee lement"
        ("How reactive is X enon with Flerovi um?", "How reactive is Xenon with Flerovium?"),  # split names
        ("Is Norma Fisher a writer?", "Is Norma Fisher a writer?"),
        ("Is Malfoy a bully?", "Is Malfoy a bully?"),  # a name then a short word: not a split name
        ("Is Hagrid ok or is Snape?", "Is Hagrid ok or is Snape?"),
        ("Décris les propriétés chimiques du Xenon.", "Decris les proprietes chimiques du Xenon."),  # not English
    ],
)
def test_words_split_by_an_attacker_are_joined_back(split, joined):
    assert normalise(split) == joined
