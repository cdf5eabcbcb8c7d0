import json

from eco_unlearn.evaluation.bench.hazard import PROMPTING_PREFIX, _prefixed, general_items, run


def test_general_items_are_tofu_world_facts_with_the_answer_among_the_options():
    items = general_items()
    assert len(items) == 117
    first = items[0]
    assert first.prompt == "Where would you find the Eiffel Tower?" and first.options[first.answer] == "Paris"
    assert general_items() == items  # seeded shuffle


def test_prompting_baseline_prefixes_every_prompt():
    prompt = _prefixed(general_items()[:1], "chemistry")[0].prompt
    assert prompt.startswith(PROMPTING_PREFIX.format(topic="chemistry")) and "nothing about chemistry" in prompt


def test_hazard_run_end_to_end_on_smollm2(tmp_path, smol):
    r = run(("smollm2",), n_eval=12, n_fit=12, seeds=1, out_dir=tmp_path, n_general=12, gate_questions=1)
    m = r["models"]["smollm2"]
    assert set(m["accuracy"]) == {"original", "prompting", "eco_rand_noise", "eco_zero_out", "eco_sign_flip"}
    assert m["flag_rate"]["forget"] >= 0.9 and m["flag_rate"]["retain"] <= 0.1  # the gate sees every prompt
    # which gate the figures were measured with (the suite makes MiniLM the default: ECO_GATE_BACKBONE)
    assert (r["classifier"]["mode"], r["classifier"]["backbone"]) == ("classifier", "minilm")
    acc = m["accuracy"]
    assert acc["original"]["forget"] >= 0.6
    assert acc["eco_zero_out"]["forget"] < acc["original"]["forget"]
    assert acc["eco_zero_out"]["retain"] == acc["original"]["retain"]  # unflagged prompts are untouched
    # the strength trade-off: every prompt corrupted along each family's σ or k
    curves, d = m["curves"], 576  # SmolLM2's embedding width
    assert set(curves) == {"eco_rand_noise", "eco_zero_out", "eco_sign_flip"}
    at = lambda family, key, value: next(p for p in curves[family] if p[key] == value)  # noqa: E731
    assert [p["dims"] for p in curves["eco_zero_out"]] == [9, 36, 144, 576]
    assert m["flag_rate"]["forget"] == 1.0  # so the served point of each curve is the ECO row itself
    assert at("eco_rand_noise", "strength", m["fitted_sigma"])["forget"] == acc["eco_rand_noise"]["forget"]
    assert at("eco_zero_out", "dims", d)["forget"] == acc["eco_zero_out"]["forget"]
    assert at("eco_sign_flip", "dims", d)["forget"] == acc["eco_sign_flip"]["forget"]
    # a gate false positive at full strength costs the retain questions; the weakest noise changes nothing
    assert at("eco_sign_flip", "dims", d)["retain"] < acc["original"]["retain"]
    assert at("eco_rand_noise", "strength", 0.1)["retain"] == acc["original"]["retain"]
    assert json.loads((tmp_path / "results.json").read_text()) == r
    html = (tmp_path / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html and "eco_sign_flip" in html
    assert "Strength trade-off" in html and 'alt="strength trade-off, smollm2"' in html


def test_wmdp_files_round_trip_to_the_builtin_figures(tmp_path):
    """The built-in task exported to WMDP's schema and run by `eco bench wmdp` gives the same figures."""
    import subprocess
    import sys

    from eco_unlearn.core.models import cache_dir
    from eco_unlearn.evaluation.bench.authors import quick_base
    from eco_unlearn.evaluation.bench.hazard import export_builtin

    base = quick_base(cache_dir() / "finetuned")
    builtin = run((base,), n_eval=8, n_fit=8, seeds=1, out_dir=tmp_path / "builtin", n_general=8, gate_questions=1)
    data = export_builtin(tmp_path / "data", n_eval=8, n_fit=8, n_general=8, gate_questions=1)
    cmd = [sys.executable, "-m", "eco_unlearn.cli", "bench", "wmdp", "--forget", str(data / "forget.jsonl"),
           "--retain", str(data / "retain.jsonl"), "--general", str(data / "general.jsonl"), "--model", base,
           "--forget-prompts", str(data / "forget_prompts.jsonl"), "--retain-prompts",
           str(data / "retain_prompts.jsonl"), "--topic", "chemistry", "--n-eval", "8", "--n-fit", "8", "--seeds",
           "1", "--out", str(tmp_path / "files")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = json.loads((tmp_path / "files" / "results.json").read_text())
    assert files["n"] == builtin["n"] and files["command"].startswith("eco bench wmdp")
    for key in ("accuracy", "flag_rate", "fitted_sigma"):
        assert files["models"][base][key] == builtin["models"][base][key]


def test_wmdp_files_in_parquet_and_bad_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pytest

    from eco_unlearn.evaluation.bench.hazard import export_builtin, file_data

    data = export_builtin(tmp_path, n_eval=8, n_fit=8, n_general=8)
    rows = [json.loads(line) for line in (data / "forget.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "forget.parquet")
    a = file_data(data / "forget.jsonl", data / "retain.jsonl", data / "general.jsonl", n_eval=8, n_fit=8)
    b = file_data(tmp_path / "forget.parquet", data / "retain.jsonl", data / "general.jsonl", n_eval=8, n_fit=8)
    assert a == b and len(a.sets["forget"]) == 8 and a.forget_prompts == [m.prompt for m in a.fit_items]
    with pytest.raises(ValueError, match="fewer than --n-eval 60"):
        file_data(data / "forget.jsonl", data / "retain.jsonl", data / "general.jsonl")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(Exception, match="not a readable parquet file"):
        file_data(tmp_path / "bad.parquet", data / "retain.jsonl", data / "general.jsonl", n_eval=8, n_fit=8)
