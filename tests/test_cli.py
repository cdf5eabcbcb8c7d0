"""The CLI as users run it: a real subprocess of `python -m eco_unlearn.cli`."""

import json
import os
import subprocess
import sys

import pytest

from eco_unlearn.targets import Target


def eco(*args, check=True):
    r = subprocess.run(
        [sys.executable, "-m", "eco_unlearn.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"COLUMNS": "200"},
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.mark.usefixtures("smol")  # the model is converted into the cache before the subprocess runs
def test_generate_shows_clean_and_corrupted_side_by_side():
    r = eco("generate", "What is the capital of France?", "--corrupt", "zero_out_first_n", "--max-new-tokens", "16")
    cells = [line.split("│")[1:3] for line in r.stdout.splitlines() if line.count("│") == 3]
    clean, corrupted = (" ".join(c[i] for c in cells) for i in (0, 1))
    assert "Paris" in clean and "Paris" not in corrupted
    assert "7 tokens corrupted" in r.stdout


@pytest.mark.usefixtures("smol")
def test_generate_with_a_target_bundle(tmp_path):
    Target.create("fr", gate={"kind": "keyword", "keywords": ["france"]}).save(tmp_path / "fr")
    r = eco("generate", "What is the capital of Japan?", "--target", str(tmp_path / "fr"), "--max-new-tokens", "8")
    assert "nothing flagged" in r.stdout


def test_bad_cli_input_is_a_clear_error(tmp_path):
    r = eco("generate", "hi", "--target", str(tmp_path / "missing"), check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = eco("generate", "hi", "--corrupt", "melt", check=False)
    assert r.returncode == 2 and "unknown corruption" in r.stderr
    r = eco("generate", "hi", "--strength", "-1", check=False)
    assert r.returncode == 2 and "greater than or equal to 0" in r.stderr
    r = eco("generate", "hi", "--dims", "many", check=False)
    assert r.returncode == 2 and "dims must be an integer" in r.stderr


@pytest.mark.usefixtures("smol")
def test_bench_overhead_writes_its_figures(tmp_path):
    eco("bench", "overhead", "--batch", "2", "--new-tokens", "2", "--repeats", "1", "--out", str(tmp_path))
    r = json.loads((tmp_path / "overhead.json").read_text())
    assert set(r["median_seconds"]) == {"raw", "eco_unflagged", "eco_flagged"}
    assert r["command"].startswith("eco bench overhead")
