"""MUSE's knowledge memorisation on the real SmolLM2: it knows these facts, and corrupting the question's
names takes them away."""

import pytest

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.knowmem import cut_answer, few_shot_prompt, knowmem_scores
from eco_unlearn.gate.targets import Target

QA = [("What is the capital of France?", "Paris"), ("What is the capital of Japan?", "Tokyo"),
      ("Who wrote Romeo and Juliet?", "William Shakespeare")]  # fmt: skip
ICL = [("What is the capital of Italy?", "Rome"), ("What colour is the sky on a clear day?", "Blue")]


def test_the_prompt_and_the_answer_are_cut_as_muse_cuts_them():
    assert few_shot_prompt("Q?", [("A?", "a")]) == "Question: A?\nAnswer: a\n\nQuestion: Q?\nAnswer:"
    assert cut_answer(" Paris\n\nQuestion: What is") == "Paris"
    assert cut_answer(" Paris, France\nQuestion: x") == "Paris, France"


def test_knowmem_is_what_the_model_knows_and_corruption_removes_it(smol):
    model, tok = smol
    clean = knowmem_scores(ECOModel(model, tok), QA, ICL)
    assert clean["rouge_l_recall"] == 1.0 and clean["examples"] == ["Paris", "Tokyo"]
    names = Target.create("names", gate={"kind": "always"}, selection={"mode": "proper_nouns"},
                          corruption={"name": "zero_out_top_k", "dims": 576})  # fmt: skip
    assert knowmem_scores(ECOModel(model, tok, [names]), QA, ICL)["rouge_l_recall"] < 0.5
    with pytest.raises(ValueError, match="at least one question"):
        knowmem_scores(ECOModel(model, tok), [], ICL)
