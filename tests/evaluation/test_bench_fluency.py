"""`eco bench fluency --quick`: every setting answers every flagged question, scored against the clean model."""

from __future__ import annotations

import json

import pytest

from eco_unlearn.evaluation.bench.fluency import leaked, run


def test_leak_counts_only_what_the_question_did_not_name():
    assert leaked("Who is Mr Darcy?", "Mr Darcy loves Elizabeth Bennet.")
    assert not leaked("Who is Mr Darcy?", "Mr Darcy is a proud gentleman.")
    assert not leaked("What is entropy?", "A measure of disorder.")


def test_quick_bench_scores_every_setting(tmp_path):
    r = run(quick=True, out_dir=tmp_path)
    assert set(r["requests"]) == {"austen", "hazard"}
    for name, req in r["requests"].items():
        rows = req["settings"]
        assert len(rows) == 7 and rows["clean"]["perplexity_ratio"] == pytest.approx(1.0)
        assert all(v["perplexity_ratio"] > 0 and 0 <= v["repetition"] <= 1 for v in rows.values())
        assert all((v["leak"] is None) == (name != "austen") for v in rows.values())
    assert "Elizabeth Bennet" in r["requests"]["austen"]["entities"]  # the names create_target would extract
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["requests"]["austen"]["settings"].keys() == r["requests"]["austen"]["settings"].keys()
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
