"""`eco bench tofu`: the TOFU protocol on files in TOFU's schema; the round trip from `eco bench authors`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eco_unlearn.evaluation.authors import fresh_qa, unseen_qa
from eco_unlearn.evaluation.bench import authors, tofu
from eco_unlearn.gate.prompt_files import PromptFileError


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _perturbed(qa) -> list[dict]:
    return [{"question": x.question, "answer": x.answer, "paraphrased_answer": x.paraphrased_answer,
             "perturbed_answer": x.perturbed_answer} for x in qa]  # fmt: skip


@pytest.fixture
def tofu_dir(tmp_path: Path) -> Path:
    """TOFU's layout for forget10: 2 forget authors, 3 retain authors, utility sets of 12 questions each."""
    qa = fresh_qa(5, seed=3)
    forget, retain = qa[:24], qa[24:]
    _write(tmp_path / "forget10_perturbed.jsonl", _perturbed(forget))
    _write(tmp_path / "retain90.json", [{"question": x.question, "answer": x.answer} for x in retain])
    for name in tofu.UTILITY_SETS:
        _write(tmp_path / f"{name}_perturbed.json", _perturbed(retain[:12]))
    return tmp_path


def test_file_data_reads_tofus_layout_with_never_seen_defaults(tofu_dir):
    data, fit_items, reference, fit_from = tofu.file_data(tofu_dir, "forget10", n_eval=5, entities=["A B"])
    assert len(data.forget) == 24 and len(data.retain_pairs) == 36
    assert {k: len(v) for k, v in data.sets.items()} == dict.fromkeys(tofu.UTILITY_SETS, 5)
    assert data.entities == data.prompting_names == ["A B"]
    # default fit items: the forget split itself; default reference: generated authors nobody was trained on
    assert [q.question for q in fit_items] == [authors.qa_prompt(it.question) for it in data.forget]
    assert "forget split" in fit_from
    forget_names = {q.split("?")[0] for q, _ in data.forget_pairs}
    assert len(reference) == 12 * tofu.REFERENCE_AUTHORS
    assert not any(name in r.question for name in forget_names for r in reference)
    assert all(len(r.perturbed) == 3 for r in reference)


def test_file_data_refuses_bad_layouts_clearly(tofu_dir):
    with pytest.raises(ValueError, match="retain split"):
        tofu.file_data(tofu_dir, "forgetting")
    with pytest.raises(PromptFileError, match="no forget05_perturbed"):
        tofu.file_data(tofu_dir, "forget05")
    (tofu_dir / "world_facts_perturbed.json").unlink()
    with pytest.raises(PromptFileError, match="world_facts_perturbed"):
        tofu.file_data(tofu_dir, "forget10")
    _write(tofu_dir / "world_facts_perturbed.json", [{"question": "q?", "answer": "a"}])
    with pytest.raises(PromptFileError, match="world_facts_perturbed: 'q.' has no perturbed_answer"):
        tofu.file_data(tofu_dir, "forget10")
    (tofu_dir / "world_facts_perturbed.json").write_text((tofu_dir / "retain_perturbed.json").read_text())
    forget = [json.loads(line) for line in (tofu_dir / "forget10_perturbed.jsonl").read_text().splitlines()]
    _write(tofu_dir / "retain90.json", [{"question": forget[0]["question"], "answer": "x"}])
    with pytest.raises(PromptFileError, match="holds 1 forget questions"):
        tofu.file_data(tofu_dir, "forget10")
    with pytest.raises(PromptFileError, match="no such directory"):
        tofu.file_data(tofu_dir / "missing", "forget10")


def test_exported_files_read_back_as_the_builtin_split_and_run(tmp_path):
    """`eco bench authors --export` then the files runner: the same split, fit items and reference as the bench
    (so the shared protocol gives the same figures: measured at full size in benchmarks/results/tofu-roundtrip.json);
    then one run of the runner on them."""
    prep = authors.prepare(quick=True)
    a = tofu.export_builtin(tmp_path / "files", "forget25", quick=True)
    assert "--fit" in a["command"] and "--reference" in a["command"]
    data, fit_items, reference, _ = tofu.file_data(
        tmp_path / "files", "forget25", entities=a["entities"], fit=tmp_path / "files" / "fit_perturbed.json",
        reference=tmp_path / "files" / "reference_perturbed.json",
    )  # fmt: skip
    k = prep.split_k("forget25")
    assert data.forget == prep.forget_items(k) and data.sets == prep.fixed
    assert data.forget_pairs == authors.pairs(prep.splits.forget(k))
    assert data.retain_pairs == authors.pairs(prep.splits.retain(k))
    s = prep.splits
    assert fit_items == [authors.truth_item(x) for x in prep.fit_qa]
    assert reference == [authors.truth_item(x) for x in [*s.held_out, *unseen_qa(s, 6)]]
    r = tofu.run_files(
        tmp_path / "files", "forget25", a["model"], a["retain_model"], tmp_path / "tofu", entities=a["entities"],
        fit=tmp_path / "files" / "fit_perturbed.json", reference=tmp_path / "files" / "reference_perturbed.json",
        noise_seeds=a["noise_seeds"], gen_tokens=a["gen_tokens"], grid=a["grid"], refine=a["refine"],
    )  # fmt: skip
    assert (tmp_path / "tofu" / "report.html").is_file() and (tmp_path / "tofu" / "results.json").is_file()
    methods = r["splits"]["forget25"]["methods"]
    assert methods["retain"]["forget_quality"] == 1.0  # the retain model against itself
    assert {"original", "prompting", "eco_rand_noise", "eco_zero_out_oracle"} <= set(methods)
    assert len(methods["eco_rand_noise"]["forget_quality_seeds"]) == a["noise_seeds"]
