"""`eco bench cost`: the corpus ladder, the ratio and crossover arithmetic, the extrapolation, and one real
quick run of the command (fresh processes, tiny random models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from eco_unlearn.evaluation.bench import cost


def test_each_corpus_contains_the_smaller_ones_and_the_fit_sample_stays_fixed():
    plan = cost.Plan(chunk_tokens=48, prompt_tokens=16, gold_tokens=16, unit_chunks=2, n_fit=2, n_gate_retain=20,
                     window_tokens=8)  # fmt: skip
    cs = cost.corpora((1, 3), plan)
    small, big = cs[1], cs[3]
    assert len(small.forget) == 2 and len(big.forget) == 6 and big.forget[:2] == small.forget
    assert big.tokens == 3 * small.tokens
    assert big.fit_items == small.fit_items and big.heldout == small.heldout and big.retain == small.retain
    assert len(big.gate_forget) == 3 * len(small.gate_forget) and big.gate_retain == small.gate_retain
    heldout = {it.prompt for it in big.heldout}
    assert not any(p in chunk for p in heldout for chunk in big.forget)  # the surrogate is text never "trained"
    with pytest.raises(ValueError, match="the book has"):
        cost.corpora((10_000,), plan)
    capped = cost.corpora((1, 3), cost.Plan(**{**plan.__dict__, "gate_windows": 10}))
    assert len(capped[1].gate_forget) == 10 == len(capped[3].gate_forget)  # the classifier's sample is bounded
    assert capped[3].forget == big.forget  # the verbatim index still gets the whole text


def _row(method, scale, seconds, **extra):
    return {"method": method, "model": "m", "scale": scale, "seconds": seconds, "peak_rss_mb": 1024.0, **extra}


def test_ratios_take_the_cheapest_finished_baseline_and_crossovers_interpolate_in_log_space():
    rows = [_row("eco", 1, 10.0), _row("ga", 1, 5.0), _row("npo", 1, 7.0),
            _row("eco", 4, 10.0), _row("ga", 4, 20.0), {"method": "npo", "scale": 4, "error": "died"},
            _row("eco", 16, 11.0), _row("ga", 16, 110.0)]  # fmt: skip
    rr = cost.ratios(rows, "scale")
    assert [r["cheapest"] for r in rr] == ["ga", "ga", "ga"]
    assert [round(r["ratio"], 3) for r in rr] == [0.5, 2.0, 10.0]
    assert cost.crossover(rr, "scale", 1.0) == pytest.approx(2.0)  # 0.5 → 2 over 1 → 4: ratio 1 at scale 2
    assert cost.crossover(rr, "scale", 10.0) == pytest.approx(16.0)
    assert cost.crossover(rr, "scale", 50.0) is None


def test_extrapolation_follows_the_measured_lines_and_the_corpus_growth():
    model_rows = [
        _row("eco", 1, 12.0, params=100, gate_seconds=10.0, fit_seconds=2.0) | {"peak_rss_mb": 1024.0},
        _row("eco", 1, 14.0, params=200, gate_seconds=10.0, fit_seconds=4.0) | {"peak_rss_mb": 2048.0},
        _row("ga", 1, 30.0, params=100),
        _row("ga", 1, 60.0, params=200),
    ]
    corpus_rows = [_row("eco", 1, 12.0, gate_seconds=10.0), _row("eco", 16, 22.0, gate_seconds=20.0),
                   _row("ga", 1, 30.0), _row("ga", 16, 480.0)]  # fmt: skip
    by = {(e["size"], e["method"]): e for e in cost.extrapolate(model_rows, corpus_rows)}
    n = cost.PAPER_SIZES["7B"]
    assert by[("7B", "ga")]["seconds_smallest_corpus"] == pytest.approx(0.3 * n)
    assert by[("7B", "ga")]["seconds_largest_corpus"] == pytest.approx(0.3 * n * 16)
    assert by[("7B", "eco")]["seconds_smallest_corpus"] == pytest.approx(10.0 + 0.02 * n)
    assert by[("7B", "eco")]["seconds_largest_corpus"] == pytest.approx(20.0 + 0.02 * n)  # the gate doubled
    assert by[("70B", "eco")]["peak_rss_gb"] == pytest.approx(cost.PAPER_SIZES["70B"] / 100)


@pytest.mark.usefixtures("smol")  # SmolLM2's tokenizer is converted into the cache before the subprocess runs
def test_quick_corpus_axis_runs_every_arm_in_its_own_process_and_counts_what_grows(tmp_path):
    out = tmp_path / "cost"
    r = subprocess.run([sys.executable, "-m", "eco_unlearn.cli", "bench", "cost", "--axis", "corpus", "--quick",
                        "--out", str(out)], capture_output=True, text=True, timeout=600,
                       env=os.environ | {"COLUMNS": "200"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "results.json").read_text())
    by = {(row["method"], row["scale"]): row for row in result["rows"]}
    assert set(by) == {("eco", 1), ("ga", 1), ("eco", 2), ("ga", 2)}
    # GA trains on every sequence of the corpus (5 epochs): twice the corpus, twice the sequences
    assert by[("ga", 2)]["forward_passes"] == 2 * by[("ga", 1)]["forward_passes"] == 5 * 4
    # ECO's fit has a fixed budget whatever the corpus; only its gate reads the corpus
    assert by[("eco", 2)]["forward_passes"] == by[("eco", 1)]["forward_passes"] > 0
    assert by[("eco", 2)]["gate_prompts"] > by[("eco", 1)]["gate_prompts"]
    assert all(row["peak_rss_mb"] > 100 and row["seconds"] > 0 for row in result["rows"])
    assert [c["scale"] for c in result["ratios"]] == [1, 2] and "cheapest baseline" in r.stdout
    assert "data:image/png;base64," in (out / "report.html").read_text()
