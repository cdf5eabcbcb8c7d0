import json

import numpy as np
import pytest

from eco_unlearn.fit.objectives import (
    SIMILARITY_METRICS,
    LikelihoodObjective,
    MCQItem,
    MCQObjective,
    QAItem,
    SimilarityGapObjective,
    SimilarityObjective,
    TextItem,
    read_mcq,
    read_qa,
    read_text_items,
    similarity_scores,
)
from eco_unlearn.gate.prompt_files import PromptFileError


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_read_mcq_accepts_index_or_text_answers(tmp_path):
    p = _jsonl(
        tmp_path / "m.jsonl",
        [
            {"prompt": "The sky is", "options": ["blue", "red"], "answer": "red"},
            {"question": "Q?", "choices": ["a", "b", "c"], "answer": 0},
        ],
    )
    assert read_mcq(p) == [MCQItem("The sky is", ["blue", "red"], 1), MCQItem("Q?", ["a", "b", "c"], 0)]


@pytest.mark.parametrize(
    "record,match",
    [
        ({"prompt": "x", "options": ["a", "b"], "answer": "c"}, "not one of the options"),
        ({"prompt": "x", "options": ["a"], "answer": 0}, "at least two strings"),
        ({"prompt": "x", "options": ["a", "b"], "answer": 5}, "option index"),
        ({"options": ["a", "b"], "answer": 0}, "missing field"),
    ],
)
def test_read_mcq_errors(tmp_path, record, match):
    with pytest.raises(PromptFileError, match=match):
        read_mcq(_jsonl(tmp_path / "m.jsonl", [record]))


def test_read_qa_and_text_items(tmp_path):
    qa = _jsonl(tmp_path / "q.jsonl", [{"question": "Q", "answer": "A", "perturbed_answer": ["B", "C"]}])
    assert read_qa(qa) == [QAItem("Q", "A", ["B", "C"])]
    tx = _jsonl(tmp_path / "t.jsonl", [{"prompt": "P", "gold": "G"}])
    assert read_text_items(tx) == [TextItem("P", "G")]


ITEMS = [
    MCQItem("The colour of grass is", ["green", "blue", "red", "black"], 0),
    MCQItem("Two plus two is", ["four", "five"], 0),
]


def test_mcq_objective_matches_choose(tiny_eco):
    eco = tiny_eco()
    obj = MCQObjective(ITEMS)
    manual = np.mean([eco.choose(m.prompt, m.options).index == m.answer for m in ITEMS])
    assert obj.metric(eco, 0) == manual
    assert obj.surrogate() == pytest.approx((1 / 4 + 1 / 2) / 2) and obj.cost() == 6
    assert obj.keys() == ["the colour of grass is", "two plus two is"]
    assert obj.penalty(eco, 0) == 0.0


def test_mcq_retain_penalty_is_the_weighted_retain_accuracy_change(tiny_eco):
    from eco_unlearn.gate.targets import Target

    retain = [MCQItem(f"Item {i} is", ["alpha", "beta", "gamma"], i % 3) for i in range(12)]
    obj = MCQObjective(ITEMS, retain_items=retain, retain_weight=2.0)
    assert obj.penalty(tiny_eco(), 0) == 0.0
    t = Target.create("t", corruption={"name": "rand_noise_first_n", "strength": 50.0, "dims": None})
    corrupted = tiny_eco([t])
    clean_acc = MCQObjective.accuracy(tiny_eco(), retain)
    assert obj.penalty(corrupted, 7) == pytest.approx(
        2.0 * abs(MCQObjective.accuracy(corrupted, retain, 7) - clean_acc)
    )


def test_likelihood_statistic_is_answer_minus_mean_perturbed(tiny_eco):
    eco = tiny_eco()
    item = QAItem("Who wrote Emma?", "Jane Austen", ["Mark Twain", "Leo Tolstoy"])
    lp = [float(eco.score(item.question, " " + a).mean()) for a in [item.answer, *item.perturbed]]
    obj = LikelihoodObjective([item])
    assert obj.metric(eco, 0) == pytest.approx(lp[0] - (lp[1] + lp[2]) / 2, abs=1e-5)
    assert obj.surrogate() == 0.0 and LikelihoodObjective([item], reference_value=0.3).surrogate() == 0.3


def test_similarity_surrogate_comes_from_heldout_text(tiny_eco):
    eco = tiny_eco()
    obj = SimilarityObjective(
        [TextItem("It is a truth", " universally acknowledged")],
        heldout=[TextItem("The weather", " is nice today")],
        max_new_tokens=4,
    )
    with pytest.raises(RuntimeError, match="first evaluation"):
        obj.surrogate()
    m = obj.metric(eco, 0)
    assert 0.0 <= m <= 1.0 and 0.0 <= obj.surrogate() <= 1.0


def test_similarity_scores_are_one_for_the_reference_itself_and_lower_for_other_text():
    ref = "It is a truth universally acknowledged, that a single man in possession of a good fortune"
    s = similarity_scores([ref, "The weather in the mountains was cold and wet all week."], [ref, ref])
    assert set(s) == set(SIMILARITY_METRICS)
    assert s["rouge_l"][0] == pytest.approx(1.0) and s["bleu"][0] == pytest.approx(1.0)
    assert s["cosine"][0] == pytest.approx(1.0, abs=1e-5)
    assert all(s[k][1] < s[k][0] for k in SIMILARITY_METRICS)
    with pytest.raises(ValueError, match="references"):
        similarity_scores(["a"], [])


def test_similarity_gap_is_zero_on_equal_samples_and_the_mean_absolute_gap_otherwise(tiny_eco):
    from eco_unlearn.gate.targets import Target

    items = [TextItem("It is a truth", " universally acknowledged, that a single man"),
             TextItem("The weather today", " is cold and wet in the hills")]  # fmt: skip
    plain = tiny_eco()
    same = SimilarityGapObjective(items, heldout=items, max_new_tokens=6)
    assert same.metric(plain, 0) == 0.0 and same.surrogate() == 0.0

    heldout = [TextItem("Once upon a time", " there lived a king and a queen")]
    obj = SimilarityGapObjective(items, heldout=heldout, max_new_tokens=6)
    t = Target.create("t", corruption={"name": "rand_noise_first_n", "strength": 50.0, "dims": None})
    corrupted = tiny_eco([t])
    gap = obj.metric(corrupted, 0)
    ref, fit = obj.scores(plain, heldout), obj.scores(corrupted, items)
    assert obj.reference == ref
    assert gap == pytest.approx(np.mean([abs(fit[k] - ref[k]) for k in SIMILARITY_METRICS]))
    with pytest.raises(ValueError, match="held-out"):
        SimilarityGapObjective(items, heldout=[])


def test_metric_is_deterministic_per_seed(tiny_eco):
    from eco_unlearn.gate.targets import Target

    t = Target.create("t", corruption={"name": "rand_noise_first_n", "strength": 1.0, "dims": None})
    obj = LikelihoodObjective([QAItem("Who wrote Emma?", "Jane Austen", ["Mark Twain"])])
    eco = tiny_eco([t])
    assert obj.metric(eco, 3) == obj.metric(eco, 3) != obj.metric(eco, 4)
