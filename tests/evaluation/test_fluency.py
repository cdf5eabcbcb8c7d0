import math

import pytest

from eco_unlearn.evaluation.fluency import fluency, repetition


def test_repetition_counts_repeated_words():
    assert repetition("the cat sat on a mat") == 0.0
    assert repetition("the the the the") == pytest.approx(0.75)
    assert repetition("") == 0.0


def test_gibberish_is_less_fluent_than_text_under_a_real_model(smol):
    from eco_unlearn.core.ecomodel import ECOModel

    scorer = ECOModel(*smol)
    prompts = ["Question: Who wrote Pride and Prejudice?\nAnswer:"] * 2
    fluent = fluency(scorer, prompts, ["It was written by Charles Dickens.", "I am not sure who wrote it."])
    noise = fluency(scorer, prompts, ["10x+2 + 2x + 2x == 3x.", "ancestorsGate}$ quip redund Boh"])
    loop = fluency(scorer, prompts, ["the the the the the the", "Pride Pride Pride Pride"])
    assert fluent["text_perplexity"] < noise["text_perplexity"] and fluent["perplexity"] < noise["perplexity"]
    assert fluent["repetition"] == 0.0 < loop["repetition"]  # loops are predictable: repetition catches them
    assert fluent["empty"] == 0.0


def test_empty_answers_are_counted_not_scored(smol):
    from eco_unlearn.core.ecomodel import ECOModel

    r = fluency(ECOModel(*smol), ["Q: a\nA:", "Q: b\nA:"], ["", "Paris."])
    assert r["empty"] == 0.5 and math.isfinite(r["perplexity"]) and math.isfinite(r["text_perplexity"])
    assert math.isnan(fluency(ECOModel(*smol), ["Q"], [" "])["text_perplexity"])
    with pytest.raises(ValueError, match="one answer per prompt"):
        fluency(ECOModel(*smol), ["Q"], [])
