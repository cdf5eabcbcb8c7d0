"""`eco bench all --quick`: every task end to end on tiny random models (mechanics, not figures)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from eco_unlearn.evaluation.bench.suite import run_all
from eco_unlearn.evaluation.tofu import UTILITY_SETS, forget_quality


def test_quick_suite_writes_every_report(tmp_path):
    written = run_all(tmp_path, quick=True, curves=True)
    assert set(written) == {"hazard", "authors", "copyright", "index"}
    for path in written.values():
        assert path.exists() and path.read_text().startswith("<!doctype html>")
    authors = json.loads((tmp_path / "authors" / "results.json").read_text())
    # the fit compares against the clean model on the held-out authors nobody trained on, for every family
    fit = authors["fit"]
    assert fit["reference_items"] == len(fit["reference_sample"]) == 24 + 6 * 12  # held-out + six more unseen
    assert (fit["chosen"], fit["selection"]) in {(c["name"], c["selection"]) for c in fit["candidates"]}
    assert len(fit["candidates"]) == 3 * 2 and math.isfinite(fit["objective"])
    assert fit["reason"].startswith(fit["chosen"])
    # every candidate's fitted point went through the fluency check; a failing one is chosen only if all fail
    checks = [c["check"] for c in fit["candidates"]]
    assert all({"ok", "topicality", "clean_topicality", "repetition"} <= set(c) for c in checks)
    chosen = next(c for c in fit["candidates"] if (c["name"], c["selection"]) == (fit["chosen"], fit["selection"]))
    assert chosen["check"]["ok"] or not any(c["ok"] for c in checks)
    eco_rows = {"eco_rand_noise", "eco_zero_out", "eco_sign_flip"}
    eco_rows |= {m + "_all_but_last" for m in eco_rows}
    for split in authors["splits"].values():
        methods = split["methods"]
        expected = {"original", "retain", "prompting", "hidden_name"} | eco_rows | {m + "_oracle" for m in eco_rows}
        assert set(methods) == expected
        # the same forget facts about renamed authors: a different forget sample, the utility sets untouched
        assert methods["hidden_name"]["sets"]["retain"] == methods["original"]["sets"]["retain"]
        assert methods["hidden_name"]["sets"]["forget"]["ratios"] != methods["original"]["sets"]["forget"]["ratios"]
        assert methods["retain"]["forget_quality"] == 1.0  # the retain model against itself
        noise = methods["eco_rand_noise"]["forget_quality_seeds"]
        assert len(noise) == 2 and methods["eco_rand_noise"]["forget_quality"] == np.median(noise)
        assert len(methods["eco_zero_out"]["forget_quality_seeds"]) == 1  # deterministic: one draw
        assert all(math.isfinite(m["fluency"]["repetition"]) for m in methods.values())
        assert all(0.0 <= m["forget_quality"] <= 1.0 and m["model_utility"] >= 0.0 for m in methods.values())
        assert split["gate"]["flag_rate"]["forget"] > 0.5
        # the fit's aim against the truth: its reference sample scored as if it were a method's forget sample
        aim = forget_quality(np.exp(fit["reference_sample"]).tolist(), methods["retain"]["sets"]["forget"]["ratios"])
        assert split["surrogate_forget_quality"] == aim and 0.0 <= aim <= 1.0
    # the strength trade-off: each family at the fit's selection, its served point equal to its oracle row
    assert authors["command"].endswith("--curves") and "Strength trade-off" in written["authors"].read_text()
    chosen = {c["name"]: c for c in fit["candidates"] if c["selection"] == fit["selection"]}
    suffix = "" if fit["selection"] == "answer_facts" else f"_{fit['selection']}"
    assert set(authors["curves"]) == {row + suffix for row in ("eco_rand_noise", "eco_zero_out", "eco_sign_flip")}
    for row, points in authors["curves"].items():
        served = authors["served"][row]
        assert served == {k: chosen[served["name"]][k] for k in ("name", "strength", "dims")}
        key = "strength" if served["name"] == "rand_noise_first_n" else "dims"
        assert [p[key] for p in points] == sorted(p[key] for p in points) and len(points) >= 4
        assert all(p["selection"] == fit["selection"] for p in points)
        (at,) = [p for p in points if p[key] == served[key]]
        for name, split in authors["splits"].items():
            assert at[name] == split["methods"][row + "_oracle"]["forget_quality_seeds"][0]  # the rows' first draw
        for p in points:  # each utility set's figure, and the model utility as their harmonic mean
            assert all(0.0 <= p[s] <= 1.0 for s in UTILITY_SETS)
            assert p["model_utility"] == pytest.approx(stats.hmean([p[s] for s in UTILITY_SETS]))
    copyright = json.loads((tmp_path / "copyright" / "results.json").read_text())
    assert copyright["asg"]["retain"] == 0.0 and all(v >= 0 for v in copyright["asg"].values())
    assert set(copyright["scores"]["original"]["forget"]) >= {"rouge_l", "bleu", "cosine", "perplexity", "unique_ratio"}
    signal = copyright["signal"]  # the memorisation check reads the target's and the retain model's own rows
    assert signal["target_rouge_l"] == copyright["scores"]["original"]["forget"]["rouge_l"]
    assert signal["retain_rouge_l"] == copyright["scores"]["retain"]["forget"]["rouge_l"]
    # the copyright request supplies its forget text: the gate quotes it through a verbatim index
    assert json.loads((tmp_path / "copyright" / "target" / "target.json").read_text())["gate"]["verbatim"] is True
    hazard = json.loads((tmp_path / "hazard" / "results.json").read_text())
    assert hazard["command"] == "eco bench hazard --quick" and hazard["n"]["forget"] == 12  # as the CLI's --quick
    (model,) = hazard["models"]
    assert set(hazard["models"][model]["accuracy"]) >= {"original", "prompting", "eco_rand_noise"}
