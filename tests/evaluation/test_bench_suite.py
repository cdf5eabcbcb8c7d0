"""`eco bench all --quick`: every task end to end on tiny random models (mechanics, not figures)."""

from __future__ import annotations

import json
import math

from eco_unlearn.evaluation.bench.suite import run_all


def test_quick_suite_writes_every_report(tmp_path):
    written = run_all(tmp_path, quick=True)
    assert set(written) == {"hazard", "authors", "copyright", "index"}
    for path in written.values():
        assert path.exists() and path.read_text().startswith("<!doctype html>")
    authors = json.loads((tmp_path / "authors" / "results.json").read_text())
    # the σ fit's surrogate is the clean model's margin on held-out authors nobody trained on
    assert math.isfinite(authors["sigma"]["surrogate"]) and authors["sigma"]["value"] > 0
    for split in authors["splits"].values():
        methods = split["methods"]
        assert set(methods) == {"original", "retain", "prompting", "eco_rand_noise", "eco_zero_out", "eco_sign_flip"}
        assert methods["retain"]["forget_quality"] == 1.0  # the retain model against itself
        assert all(0.0 <= m["forget_quality"] <= 1.0 and m["model_utility"] >= 0.0 for m in methods.values())
        assert split["gate"]["flag_rate"]["forget"] > 0.5
    copyright = json.loads((tmp_path / "copyright" / "results.json").read_text())
    assert copyright["asg"]["retain"] == 0.0 and all(v >= 0 for v in copyright["asg"].values())
    assert set(copyright["scores"]["original"]["forget"]) >= {"rouge_l", "bleu", "cosine", "perplexity", "unique_ratio"}
    hazard = json.loads((tmp_path / "hazard" / "results.json").read_text())
    (model,) = hazard["models"]
    assert set(hazard["models"][model]["accuracy"]) >= {"original", "prompting", "eco_rand_noise"}
