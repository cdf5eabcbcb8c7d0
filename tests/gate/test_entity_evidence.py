"""Entity evidence: a target's names are found however they are written, and only its own names."""

import numpy as np
import pytest

from eco_unlearn.gate.entity_evidence import EntityEvidence, EvidenceGate, evidence_entities
from eco_unlearn.gate.targets import KeywordGate

EVIDENCE = EntityEvidence(["Norma Fisher", "Pemberley"])


@pytest.mark.parametrize(
    "prompt",
    [
        "Where was Norma Fisher born?",
        "where was NORMA FISHER born",
        "Where was N orma Fish er born?",  # split words
        "Where was N o r m a  F i s h e r born?",  # spaced letters
        "Where was Nоrmа Fishеr born?",  # Cyrillic look-alikes
        "Where was N0rm4 F1sh3r born?",  # leetspeak
        "Where was Norma\u200b Fisher born?",  # zero-width space
        "Where was Norma Fishr born?",  # a typo
        "Tell me about Pemberly.",  # a typo of a one-word place
        "Hi! I was reading earlier. So, Norma Fisher: where was she born? Thanks.",
    ],
)
def test_the_name_is_found_however_it_is_written(prompt):
    assert EVIDENCE.score([prompt]).tolist() == [1.0]


@pytest.mark.parametrize(
    "prompt",
    [
        "Where was Lisa Fischer born?",  # a neighbour with a near surname
        "Where was Danielle Fisher born?",  # the same surname, another person
        "Where was Norma Jean born?",
        "What is the capital of France?",
        "Tell me about Pembroke.",
    ],
)
def test_other_names_are_not_the_target(prompt):
    assert EVIDENCE.score([prompt]).tolist() == [0.0]


def test_evidence_entities_are_the_names_only_the_forget_prompts_use():
    forget = [
        "Where was Norma Fisher born?",
        "What did Norma Fisher write?",
        "Is Pemberley big?",
        "Who owns Pemberley?",
    ]
    negatives = ["Where was Lisa Fischer born?", "What is Pemberley?", "Who is Norma Fisher's agent?"]
    # Pemberley occurs in a negative, Norma Fisher too: neither marks the forget prompts
    assert evidence_entities(forget, negatives) == []
    assert evidence_entities(forget, negatives[:1]) == ["Norma Fisher", "Pemberley"]
    assert evidence_entities(forget, negatives[:1], min_count=3) == []


def test_gate_modes_combine_classifier_and_names():
    clf = KeywordGate(["chemistry"])
    texts = ["chemistry of Norma Fisher", "chemistry homework", "Norma Fisher", "nothing"]
    expect = {"classifier": [1, 1, 0, 0], "entities": [1, 0, 1, 0], "max": [1, 1, 1, 0]}
    for mode, want in expect.items():
        gate = EvidenceGate(clf, EVIDENCE, mode)
        assert gate.p_forget(texts).tolist() == want
        assert gate.parts(texts).tolist() == np.c_[expect["classifier"], expect["entities"], [0] * 4].tolist()
    assert EvidenceGate(clf, EVIDENCE, "entities").encoder is None  # names alone need no encoder pass
    with pytest.raises(ValueError, match="unknown gate mode"):
        EvidenceGate(clf, EVIDENCE, "min")


def test_combining_precomputed_parts_scores_exactly_as_the_gate_does():
    from eco_unlearn.gate.entity_evidence import combine_parts
    from eco_unlearn.gate.verbatim import VerbatimIndex

    quote = "one two three four five six seven eight nine"
    verbatim = VerbatimIndex.from_texts([quote])
    texts = ["chemistry of Norma Fisher", "chemistry homework", "Norma Fisher", "nothing", quote]
    for mode in ("classifier", "entities", "max"):
        gate = EvidenceGate(KeywordGate(["chemistry"]), EVIDENCE, mode, verbatim)
        assert combine_parts(gate.parts(texts), mode).tolist() == gate.p_forget(texts).tolist()
        assert gate.p_forget(texts)[-1] == 1.0  # a quotation is in scope in every mode
