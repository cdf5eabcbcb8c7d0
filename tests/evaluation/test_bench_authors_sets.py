"""`eco bench authors --combine`: median and range over author sets, from recorded results files."""

from __future__ import annotations

import json

import pytest

from eco_unlearn.evaluation.bench.authors_sets import combine, read_results, run


def _result(seed: int, quality: dict[str, dict[str, float]], utility: float = 0.25) -> dict:
    """An `eco bench authors` results.json as the bench writes it, reduced to what combining reads."""
    return {
        "benchmark": "authors",
        "seed": seed,
        "command": f"eco bench authors --seed {seed}",
        "fit": {"chosen": "zero_out_top_k", "selection": "answer_facts", "dims": 100 + seed},
        "splits": {
            split: {
                "methods": {m: {"forget_quality": q, "model_utility": utility + 0.01 * seed} for m, q in rows.items()}
            }  # fmt: skip
            for split, rows in quality.items()
        },
    }


def _three() -> list[dict]:
    return [
        _result(0, {"forget20": {"eco_zero_out": 0.9, "original": 1e-6, "ga": 0.2}, "forget40": {"eco_zero_out": 0.1}}),
        _result(1, {"forget20": {"eco_zero_out": 0.3, "original": 1e-7}, "forget40": {"eco_zero_out": 0.6}}),
        _result(2, {"forget20": {"eco_zero_out": 0.6, "original": 1e-8}, "forget40": {"eco_zero_out": 0.7}}),
    ]


def test_combine_reports_median_range_and_sets_at_goal_per_split_and_method():
    c = combine([r | {"source": f"set{i}"} for i, r in enumerate(_three())])
    z20 = c["splits"]["forget20"]["eco_zero_out"]
    assert z20["forget_quality"] == {"values": [0.9, 0.3, 0.6], "median": 0.6, "min": 0.3, "max": 0.9}
    assert z20["sets_at_goal"] == 2
    assert z20["model_utility"]["median"] == pytest.approx(0.26) and z20["model_utility"]["max"] == pytest.approx(0.27)
    assert c["splits"]["forget40"]["eco_zero_out"]["forget_quality"]["median"] == 0.6
    # a method only one set ran (a baseline) is left out and listed; the goal needs every split's median
    assert "ga" not in c["splits"]["forget20"] and c["dropped"] == {"forget20": ["ga"]}
    assert c["meets_goal"] == {"eco_zero_out": True}
    assert [s["fit"] for s in c["sets"]] == [f"zero_out_top_k k={100 + i} on answer_facts tokens" for i in range(3)]


def test_fluency_is_combined_as_a_ratio_to_each_sets_retain_model_when_every_set_recorded_it():
    sets = _three()
    for i, r in enumerate(sets):
        methods = r["splits"]["forget20"]["methods"]
        methods["retain"] = {"forget_quality": 1.0, "model_utility": 0.3,
                             "fluency": {"text_perplexity": 40.0 + 10 * i, "repetition": 0.0}}  # fmt: skip
        methods["eco_zero_out"]["fluency"] = {"text_perplexity": 20.0 + 10 * i, "repetition": 0.01 * (i + 1)}
    c = combine([r | {"source": str(i)} for i, r in enumerate(sets)])
    fl = c["splits"]["forget20"]["eco_zero_out"]["fluency"]
    assert fl["text_perplexity_ratio"]["values"] == pytest.approx([0.5, 0.6, 2 / 3])
    assert fl["repetition"] == {"values": [0.01, 0.02, 0.03], "median": 0.02, "min": 0.01, "max": 0.03}
    assert c["splits"]["forget20"]["retain"]["fluency"]["text_perplexity_ratio"]["median"] == 1.0
    # forget40 has no retain row recorded: no fluency there, rather than a ratio to nothing
    assert "fluency" not in c["splits"]["forget40"]["eco_zero_out"]


def test_one_low_median_split_misses_the_goal():
    sets = _three()
    sets[1]["splits"]["forget40"]["methods"]["eco_zero_out"]["forget_quality"] = 0.2
    c = combine([r | {"source": str(i)} for i, r in enumerate(sets)])
    assert c["splits"]["forget40"]["eco_zero_out"]["forget_quality"]["median"] == 0.2
    assert c["meets_goal"] == {"eco_zero_out": False}


def test_bad_inputs_are_named_before_anything_is_combined(tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps(_three()[0]))
    with pytest.raises(ValueError, match="missing.json: no such file"):
        read_results([good, tmp_path / "missing.json"])
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: not a JSON results file"):
        read_results([tmp_path / "broken.json"])
    (tmp_path / "gate.json").write_text(json.dumps({"benchmark": "gate", "requests": {}}))
    with pytest.raises(ValueError, match="not the results of `eco bench authors`"):
        read_results([tmp_path / "gate.json"])
    with pytest.raises(ValueError, match="at least two"):
        combine(read_results([good]))
    other = _result(1, {"forget10": {"eco_zero_out": 0.5}}) | {"source": "b"}
    with pytest.raises(ValueError, match="share no split"):
        combine([_three()[0] | {"source": "a"}, other])


def test_run_writes_results_and_a_report_with_both_pictures(tmp_path):
    paths = []
    for i, r in enumerate(_three()):
        paths.append(tmp_path / f"set{i}.json")
        paths[-1].write_text(json.dumps(r))
    c = run(paths, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written["splits"] == c["splits"] and written["command"].startswith("eco bench authors --combine ")
    report = (tmp_path / "out" / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 2 and "0.6 [0.3, 0.9]" in report
