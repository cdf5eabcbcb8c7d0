"""Real-format loaders on small fixture files in the published schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from eco_unlearn.evaluation.loaders import load_mcq, load_muse, load_tofu
from eco_unlearn.fit.objectives import QAItem, TextItem
from eco_unlearn.gate.prompt_files import PromptFileError

FIX = Path(__file__).parent / "fixtures"


def test_tofu_perturbed_split_from_a_directory():
    recs = load_tofu(FIX, "tofu_forget01_perturbed")
    assert len(recs) == 2 and recs[1].paraphrased_answer.startswith("The African American genre")
    qa = recs[0].qa_item()
    assert isinstance(qa, QAItem) and len(qa.perturbed) == 3 and "Kuwait City" in qa.answer


def test_tofu_plain_split_is_a_json_array_without_perturbations():
    (rec,) = load_tofu(FIX / "tofu_forget01.json")
    assert rec.perturbed_answer is None
    with pytest.raises(ValueError, match="perturbed split"):
        rec.qa_item()


def test_wmdp_index_and_mmlu_letter_answers():
    wmdp = load_mcq(FIX / "wmdp_chem.jsonl")
    assert [i.answer for i in wmdp] == [0, 1] and wmdp[1].options[1] == "6"
    (mmlu,) = load_mcq(FIX / "mmlu_letters.json", dataset="mmlu")
    assert mmlu.options[mmlu.answer] == "Tokyo"


def test_muse_kinds():
    (v,) = load_muse(FIX / "muse_verbmem.json", "verbmem")
    assert isinstance(v, TextItem) and v.continuation.startswith(" the new budget")
    assert load_muse(FIX / "muse_knowmem.json", "knowmem") == [("When did the council meet?", "Tuesday")]
    assert load_muse(FIX / "muse_raw.jsonl", "raw")[0].startswith("The council")
    with pytest.raises(ValueError, match="kind"):
        load_muse(FIX / "muse_raw.jsonl", "books")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"question": "q"}\n', "missing field 'choices'"),
        ('{"question": "q", "choices": ["a", "b"], "answer": "Z"}\n', "not a letter"),
        ('{"question": "q", "choices": ["a", "b"], "answer": 5}\n', "out of range"),
        ('{"question": "q", "choices": "ab", "answer": 0}\n', "type str"),
        ("", "empty file"),
        ("{broken\n", "not JSON"),
    ],
)
def test_bad_records_name_the_file_and_record(tmp_path, content, needle):
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    with pytest.raises(PromptFileError, match=needle):
        load_mcq(p)


def test_missing_file(tmp_path):
    with pytest.raises(PromptFileError, match="no such file"):
        load_tofu(tmp_path / "nope.json")


def test_hub_without_datasets_says_what_to_install():
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="pip install datasets"):
            load_tofu("hub", "forget01")
    else:
        pytest.skip("`datasets` is installed here; the hub path would need network")
