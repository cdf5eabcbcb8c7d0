"""Language identification for the minilm+e5 backbone: which prompts e5 must also read."""

import sys

import pytest

from eco_unlearn.gate import language
from eco_unlearn.gate.normalise import classifier_text


def test_english_prompts_are_english_and_translations_are_not():
    english = ["What is the atomic number of carbon?", "Tell me a joke about cats, please.", ""]
    other = [
        "Quel est le numéro atomique du carbone ?",
        "Wie viele Protonen hat ein Sauerstoffatom?",
        "¿Cuál es el número atómico del carbono?",
    ]
    assert language.not_english(english).tolist() == [False, False, False]
    assert language.not_english(other).tolist() == [True, True, True]
    # what the gate identifies is the normalised text: accents transliterated, still French
    assert language.not_english([classifier_text(other[0])]).tolist() == [True]


def test_a_missing_identifier_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "py3langid", None)
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    language._identifier.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"py3langid"):
            language.not_english(["hello"])
    finally:
        monkeypatch.undo()
        language._identifier.cache_clear()
