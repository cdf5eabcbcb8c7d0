import pytest

from eco_unlearn.gate.entities import capitalised_spans, extract_entities, ner_entities


def test_capitalised_spans_drop_question_words_and_keep_particles():
    assert capitalised_spans("Who is Basil Mahfouz Al-Kuwaiti?") == ["Basil Mahfouz Al-Kuwaiti"]
    assert capitalised_spans("Tell me about Leonardo da Vinci.") == ["Leonardo da Vinci"]


def test_emphasis_underscores_of_plain_text_books_are_not_part_of_a_name():
    """Project Gutenberg marks emphasis with underscores: the copyright gate's names once held "You_"."""
    spans = capitalised_spans("I said _Netherfield_, not _you_; ask _Lady Catherine_.")
    assert spans == ["Netherfield", "Lady Catherine"]


def test_extract_entities_prefers_forget_only_spans():
    forget = ["Where was Nikolai Abilov born?", "What did Nikolai Abilov write about Paris?", "Is Paris big?"]
    retain = ["What is the capital of France? Paris."]
    assert extract_entities(forget, retain) == ["Nikolai Abilov"]


def test_ner_needs_spacy_or_says_how_to_get_it():
    try:
        import spacy  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"eco-unlearn\[ner\]"):
            ner_entities(["Who is Ada Lovelace?"], [])
    else:
        assert "Ada Lovelace" in ner_entities(["Who is Ada Lovelace?"] * 2, ["What is two plus two?"])
