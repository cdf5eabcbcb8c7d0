"""`eco bench harness --quick`: lm-eval in process and against a real gateway, against the bench's scoring."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("lm_eval", reason="lm-eval is an optional extra (pip install -e '.[lm-eval]')")


def test_quick_harness_bench_agrees_three_ways(tmp_path):
    cmd = [sys.executable, "-m", "eco_unlearn.cli", "bench", "harness", "--quick", "--out", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["n_items"] == {"forget": 10, "retain": 10, "general": 10} and "--quick" in r["command"]
    assert r["goals_met"] == {"bench_vs_harness_acc": True, "gateway_vs_harness_loglik": True}
    assert r["target"]["flag_rate"]["target/context"] > 0.3 and r["target"]["flag_rate"]["clean/context"] == 0
    arms = r["accuracy"]["target"]
    assert len(arms) == 5 and all(set(a) == {"forget", "retain", "general"} for a in arms.values())
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
