import math

import pytest

from eco_unlearn.evaluation.fluency import (
    continuation_check,
    fluency,
    fluency_vs,
    mask_names,
    repetition,
    topicality,
)


def test_repetition_counts_repeated_words():
    assert repetition("the cat sat on a mat") == 0.0
    assert repetition("the the the the") == pytest.approx(0.75)
    assert repetition("") == 0.0


def test_the_fluency_goal_is_a_band_of_20_percent_around_the_reference_and_zero_only_matches_zero():
    ref = {"perplexity": 10.0, "text_perplexity": 40.0, "repetition": 0.05}
    assert fluency_vs(dict(ref), ref) == {"perplexity_ratio": 1.0, "repetition_ratio": 1.0, "met": True}
    assert fluency_vs(ref | {"perplexity": 11.9}, ref)["met"] and not fluency_vs(ref | {"perplexity": 12.1}, ref)["met"]
    assert not fluency_vs(ref | {"repetition": 0.03}, ref)["met"]  # 0.6x: repeats too little
    read = fluency_vs(ref | {"perplexity": 99.0}, ref, keys=("text_perplexity", "repetition"))
    assert read["met"] and set(read) == {"text_perplexity_ratio", "repetition_ratio", "met"}
    # short answers often repeat no word: against such a reference only no repetition is within the band
    silent = ref | {"repetition": 0.0}
    assert fluency_vs(silent, silent)["met"] and math.isnan(fluency_vs(silent, silent)["repetition_ratio"])
    assert not fluency_vs(ref | {"repetition": 0.01}, silent)["met"]


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


def test_a_wrong_answer_stays_on_topic_and_a_derailed_one_does_not():
    """Topicality (MiniLM question–answer cosine) separates a wrong answer from a derailed one; fluency's
    text perplexity cannot: both read as fluent English."""
    q = ["Question: Where was Norma Fisher born?\nAnswer:", "Question: What genre is Norma Fisher known for?\nAnswer:"]
    wrong = topicality(q, ["Dr. Michael Johnson was born in New Haven, Norway.", "The genre known for is horror."])
    derailed = topicality(q, ["A new approach to solving complex systems.", "A new product is available."])
    assert wrong > 2 * derailed
    assert topicality(q, ["", "The genre known for is horror."]) < wrong  # an empty answer counts 0
    with pytest.raises(ValueError, match="one answer per question"):
        topicality(q, ["x"])


def test_with_names_masked_an_answer_about_someone_else_still_answers_the_question():
    """The fit's check reads topicality with names masked: a fluent answer naming another person (what a
    model that never saw the author says) scores near one that repeats the name, a derailed one does not."""
    q = ["Question: Where was Mariah Price born?\nAnswer:", "Question: What did Eddie Taylor's father do?\nAnswer:"]
    same = ["Mariah Price was born in Port Kevin, Maldives.", "Eddie Taylor's father worked as a researcher."]
    other = ["Tap Mask was born in Port Heidi, Eritrea.", "Haz Tus's father worked as a marketing executive."]
    derailed = ["A New Approach to the Old English Language.", "A new product is available."]
    assert mask_names(other[0]) == "X X was born in X X, X."
    plain = {k: topicality(q, v) for k, v in (("same", same), ("other", other), ("derailed", derailed))}
    masked = {k: topicality(q, v, names_masked=True) for k, v in (("same", same), ("other", other),
                                                                    ("derailed", derailed))}  # fmt: skip
    assert plain["other"] < 0.75 * plain["same"]  # the name dominates the plain cosine
    assert masked["other"] > 0.8 * masked["same"]
    assert masked["derailed"] < 0.5 * masked["other"]


def test_the_continuation_check_passes_a_mild_corruption_and_rejects_gibberish(smol):
    """The copyright fit's check: continuations under a candidate corruption must stay on topic and be about
    as fluent (text perplexity, repetition) as the clean model's; huge noise derails them and fails."""
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.gate.targets import Target

    prompts = [
        "It is a truth universally acknowledged, that a single man in possession of a good fortune",
        "The village lay at the foot of the hills, and every morning the baker",
    ]
    reference = prompts  # the clean model on the same text: a mild corruption sits at ratio ~1
    check = continuation_check(ECOModel(*smol), prompts, reference, gen_tokens=24)
    corrupt = lambda **c: Target.create("t", selection={"mode": "all_but_last"}, corruption=c)  # noqa: E731
    mild, wild = check(corrupt(name="zero_out_top_k", dims=1)), check(corrupt(name="rand_noise_first_n", strength=50.0))
    assert mild["ok"] and not wild["ok"]
    assert wild["topicality"] < 0.5 * wild["reference_topicality"]  # fluent text that ignores the prompt
    assert mild["reference_repetition"] == wild["reference_repetition"]  # the reference is measured once
    with pytest.raises(ValueError, match="needs fit prompts"):
        continuation_check(ECOModel(*smol), [], reference)
