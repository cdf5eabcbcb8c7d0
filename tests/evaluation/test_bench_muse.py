"""`eco bench muse`: the copyright protocol on files in MUSE's layout; the round trip from `eco bench copyright`."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from eco_unlearn.evaluation.bench import copyright, muse
from eco_unlearn.gate.entity_evidence import MODES
from eco_unlearn.gate.prompt_files import PromptFileError

WORDS = ("river garden lantern quiet morning harbor silver window letter orchard meadow candle "
         "journey whisper autumn valley").split()  # fmt: skip


FORGET_QA = [("Who does Elizabeth Bennet marry?", "Mr Darcy"), ("What is the Bennets' home called?", "Longbourn"),
             ("Who wrote Pride and Prejudice?", "Jane Austen")]  # fmt: skip
RETAIN_QA = [("Who does Anne Elliot marry?", "Captain Wentworth"), ("What is the Elliots' estate?", "Kellynch Hall")]


def _text(seed: int, n_words: int) -> str:
    rng = random.Random(seed)  # 16 words drawn at random: no text is inside another
    return " ".join(rng.choice(WORDS) for _ in range(n_words)) + "."


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def muse_dir(tmp_path: Path) -> Path:
    """MUSE's layout: 10 verbmem items, one long forget article, 3 holdout texts, 12 retain chunk-sized texts."""
    _write(tmp_path / "verbmem" / "forget.json",
           [{"prompt": _text(i, 20), "gt": _text(i + 50, 20)} for i in range(10)])  # fmt: skip
    _write(tmp_path / "raw" / "forget.json", [{"text": _text(1, 600)}])
    _write(tmp_path / "raw" / "holdout.jsonl", [{"text": _text(100 + i, 40)} for i in range(3)])
    _write(tmp_path / "raw" / "retain1.json", [{"text": _text(200 + i, 40)} for i in range(12)])
    return tmp_path


def test_file_data_reads_muses_layout(muse_dir, tokenizer):
    d = muse.file_data(muse_dir, tokenizer, n_fit=3, chunk_tokens=48)
    assert len(d.forget_items) == 7 and len(d.fit_items) == 3
    assert d.fit_items[0].prompt == json.loads((muse_dir / "verbmem/forget.json").read_text().splitlines()[7])["prompt"]
    assert len(d.unlearn_forget) > 5  # the long article is cut into 48-token windows
    assert len(d.heldout_items) == 3 and len(d.retain_items) == 7  # short texts are whole chunks
    assert len(d.unlearn_retain) == 5 and not set(d.unlearn_retain) & set(d.retain_text)
    assert d.gold_tokens > 10 and d.gate_forget and d.gate_retain
    assert d.request_text == [_text(1, 600)]  # the gate's verbatim index: the whole forget corpus, uncut
    copyright.check_retain_disjoint(d)
    _write(muse_dir / "request.jsonl", [{"text": "the text a rights holder sent"}])
    sent = muse.file_data(muse_dir, tokenizer, n_fit=3, chunk_tokens=48, request_text=muse_dir / "request.jsonl")
    assert sent.request_text == ["the text a rights holder sent"]


def test_file_data_refuses_bad_layouts_clearly(muse_dir, tokenizer):
    with pytest.raises(ValueError, match="n_fit"):
        muse.file_data(muse_dir, tokenizer, n_fit=10)
    with pytest.raises(ValueError, match="none is left"):
        muse.file_data(muse_dir, tokenizer, n_retain=12)
    with pytest.raises(PromptFileError, match="no raw/retain2"):
        muse.file_data(muse_dir, tokenizer, retain_raw="retain2")
    (muse_dir / "raw" / "holdout.jsonl").unlink()
    with pytest.raises(PromptFileError, match="no raw/holdout"):
        muse.file_data(muse_dir, tokenizer)
    _write(muse_dir / "raw" / "holdout.json", [{"txt": "x"}])
    with pytest.raises(PromptFileError, match="missing field 'text'"):
        muse.file_data(muse_dir, tokenizer)


def test_knowledge_questions_are_read_when_present(muse_dir, tokenizer):
    """MUSE's knowmem files are optional: absent, nothing; present, each set with its own in-context pairs; a
    present file that cannot be read is an error, not silently skipped."""
    assert muse.file_data(muse_dir, tokenizer, n_fit=3, chunk_tokens=48).knowmem == {}
    _write(muse_dir / "knowmem" / "forget_qa.json", [{"question": "Who lit the lantern?", "answer": "Mara"}])
    _write(muse_dir / "knowmem" / "forget_qa_icl.json", [{"question": "Where is the orchard?", "answer": "North"}])
    _write(muse_dir / "knowmem" / "retain_qa.jsonl", [{"question": "Who sailed?", "answer": "Ivo"}])
    d = muse.file_data(muse_dir, tokenizer, n_fit=3, chunk_tokens=48)
    assert d.knowmem == {"forget": [("Who lit the lantern?", "Mara")], "retain": [("Who sailed?", "Ivo")]}
    assert d.knowmem_icl == {"forget": [("Where is the orchard?", "North")]}
    _write(muse_dir / "knowmem" / "retain_qa.jsonl", [{"question": "Who sailed?"}])
    with pytest.raises(PromptFileError, match="missing field 'answer'"):
        muse.file_data(muse_dir, tokenizer, n_fit=3, chunk_tokens=48)


def test_a_scored_retain_prompt_in_the_baselines_retain_data_is_refused(muse_dir, tokenizer):
    d = muse.file_data(muse_dir, tokenizer, n_fit=3, chunk_tokens=48)
    d.unlearn_retain = [*d.unlearn_retain, d.retain_text[0]]
    with pytest.raises(ValueError, match="scored retain prompt"):
        copyright.check_retain_disjoint(d)


def test_exported_files_read_back_as_the_builtin_task_and_run(tmp_path, tokenizer):
    """`eco bench copyright --export` then the files runner: the same data as the bench (so the shared protocol
    gives the same figures: measured at full size in benchmarks/results/muse-roundtrip.json); then one run."""
    prep = copyright.prepare(quick=True)
    a = muse.export_builtin(tmp_path / "files", quick=True)
    d = muse.file_data(
        tmp_path / "files", tokenizer, n_fit=a["n_fit"], chunk_tokens=a["chunk_tokens"],
        forget_prompts=tmp_path / "files/gate/forget_prompts.jsonl",
        retain_prompts=tmp_path / "files/gate/retain_prompts.jsonl", title="Pride and Prejudice",
        request_text=tmp_path / "files/gate/request_text.jsonl",
    )  # fmt: skip
    read = lambda prompts: list(dict.fromkeys(p.strip() for p in prompts))  # noqa: E731  as prompt files are read
    assert d == replace(prep.data, gate_forget=read(prep.data.gate_forget), gate_retain=read(prep.data.gate_retain))
    _write(tmp_path / "files/knowmem/forget_qa.json", [{"question": q, "answer": a} for q, a in FORGET_QA])
    _write(tmp_path / "files/knowmem/forget_qa_icl.json",
           [{"question": "Who is Mr Bennet's wife?", "answer": "Mrs Bennet"}])  # fmt: skip
    _write(tmp_path / "files/knowmem/retain_qa.json", [{"question": q, "answer": a} for q, a in RETAIN_QA])
    r = muse.run_files(
        tmp_path / "files", a["model"], a["retain_model"], tmp_path / "muse", n_fit=a["n_fit"],
        chunk_tokens=a["chunk_tokens"], forget_prompts=tmp_path / "files/gate/forget_prompts.jsonl",
        retain_prompts=tmp_path / "files/gate/retain_prompts.jsonl", title="Pride and Prejudice", quick_fit=True,
        request_text=tmp_path / "files/gate/request_text.jsonl",
    )  # fmt: skip
    assert (tmp_path / "muse" / "report.html").is_file() and r["benchmark"] == "muse"
    assert r["asg"]["retain"] == 0.0 and r["gate"]["flag_rate"]["forget"] > r["gate"]["flag_rate"]["retain"]
    assert r["gate"]["backbone"] == "minilm" and r["gate"]["mode"] in MODES  # which gate was measured
    assert {"original", "prompting", "eco_sign_flip", "eco_sign_flip_oracle"} <= set(r["scores"])
    k = r["knowmem"]
    assert k["questions"] == {"forget": 3, "retain": 2} and set(k["flag_rate"]) == {"forget", "retain"}
    assert set(k["scores"]) == set(r["scores"])  # every method, knowledge questions too
    assert all(0.0 <= v[s]["rouge_l_recall"] <= 1.0 for v in k["scores"].values() for s in ("forget", "retain"))
    assert k["scores"]["eco_sign_flip_oracle"]["retain"] == k["scores"]["original"]["retain"]
    assert "Knowledge memorisation" in (tmp_path / "muse" / "report.html").read_text()
