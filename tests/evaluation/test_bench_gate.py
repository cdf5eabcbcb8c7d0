"""`eco bench gate --quick` end to end: real targets created from the requests, attacked, reported."""

import json
import subprocess
import sys

import pytest

from eco_unlearn.evaluation.requests import REQUESTS


@pytest.mark.parametrize("name", list(REQUESTS))
def test_requests_are_built_with_held_out_prompts_disjoint_from_creation(name):
    r = REQUESTS[name](seed=0, **({"passages": 0} if name == "austen" else {}))
    created = {p.text for p in r.forget + r.retain}
    assert len(r.forget) >= 60 and len(r.retain) >= 60 and len(r.heldout_forget) >= 30
    assert created.isdisjoint(p.text for p in r.heldout_forget + r.heldout_neighbours)
    assert {p.text for p in r.forget}.isdisjoint(p.text for p in r.retain)


def test_the_authors_request_lists_its_authors_and_their_books_but_no_neighbour():
    r = REQUESTS["authors"](seed=0)
    subjects = {p.subject for p in r.forget}
    assert subjects <= set(r.entities) and len(r.entities) == 3 * len(subjects)  # a name and two books each
    neighbours = {p.subject for p in r.retain + r.heldout_neighbours}
    assert neighbours.isdisjoint(r.entities)
    # the indirect family describes an author by a listed book, never by the name
    assert all(p.alias.split('"')[1] in r.entities for p in r.heldout_forget)


def test_quick_gate_bench_writes_results_and_report(tmp_path):
    out = tmp_path / "gate"
    cmd = [sys.executable, "-m", "eco_unlearn.cli", "bench", "gate", "--quick", "--seeds", "1",
           "--requests", "authors,hazard", "--out", str(out)]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    assert set(r["requests"]) == {"authors", "hazard"} and "--quick" in r["command"]
    for req in r["requests"].values():
        run = req["runs"][0]
        assert 0.0 <= run["heldout_fnr"] <= 1.0 and 0.0 <= run["general_fpr"] <= 1.0
        assert {"obfuscation", "wrapper", "completion", "burial", "multi_turn"} <= set(run["families"])
        assert run["adaptive"]["budget"] == 30 and run["create_seconds"] > 0
        assert run["latency_ms"] > 0 and run["latency_100_ratio"] > 0 and run["latency_100_repeated_ratio"] > 0
        assert set(req["goals_met"]) >= {"heldout_fnr", "neighbour_fpr", "general_fpr", "families_fnr"}
    # a family is scored on the prompts it rewrites: the fictitious authors' surnames are common ones, so
    # cutting a name to its surname does not apply; an element without a description has no indirect form
    authors, hazard = (r["requests"][name]["runs"][0] for name in ("authors", "hazard"))
    assert "surname" not in authors["families"]
    # namesakes (a forget author's first name, another surname) are scored where a subject has two words
    assert authors["n"]["namesakes"] == authors["n"]["heldout_forget"] and "namesake_fpr" not in hazard
    assert authors["namesake_fpr"] <= 0.02
    assert hazard["families"]["wrapper"]["n"]["forget"] > hazard["families"]["indirect"]["n"]["forget"] > 0
    # the names of the fictitious authors decide the authors request: nothing general is flagged
    assert r["requests"]["authors"]["runs"][0]["general_fpr"] <= 0.02
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "authors" in html


def test_unknown_request_is_a_clear_error(tmp_path):
    p = subprocess.run([sys.executable, "-m", "eco_unlearn.cli", "bench", "gate", "--requests", "nope",
                        "--out", str(tmp_path)], capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 2 and "unknown request" in p.stderr
