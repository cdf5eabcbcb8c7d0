import json

import numpy as np
import pytest

from eco_unlearn.gate.targets import MANIFEST, BundleError, Target, load_targets


def _target(name="alice"):
    return Target.create(
        name,
        gate={"kind": "keyword", "keywords": ["Alice"]},
        entities=["Alice Smith"],
        corruption={"name": "flip_sign_top_k", "strength": 0.0, "dims": 32},
        selection={"mode": "entities", "corrupt_answer": False},
    )


def test_round_trip(tmp_path):
    t = _target()
    t.save(tmp_path / "alice")
    back = Target.load(tmp_path / "alice")
    assert back.manifest == t.manifest
    assert back.flags(["Tell me about alice", "Tell me about Bob"]).tolist() == [True, False]
    assert [p.name for p in (tmp_path / "alice").iterdir()] == [MANIFEST]  # no temp files left behind


def test_always_gate_flags_everything():
    t = Target.create("all")
    assert np.array_equal(t.p_forget(["a", "b"]), [1.0, 1.0])


@pytest.mark.parametrize(
    "write,match",
    [
        (None, "does not exist"),
        (lambda d: d.mkdir(), "target.json is missing"),
        (lambda d: (d.mkdir(), (d / MANIFEST).write_text("{not json")), "corrupt"),
        (lambda d: (d.mkdir(), (d / MANIFEST).write_bytes(b"\xff\xfe")), "corrupt"),
        (lambda d: (d.mkdir(), (d / MANIFEST).write_text("[1, 2]")), "expected a JSON object"),
        (lambda d: (d.mkdir(), (d / MANIFEST).write_text('{"format_version": 99, "name": "x"}')), "format 99"),
        (lambda d: (d.mkdir(), (d / MANIFEST).write_text('{"format_version": 1}')), "name: Field required"),
        (
            lambda d: (
                d.mkdir(),
                (d / MANIFEST).write_text('{"format_version": 1, "name": "x", "corruption": {"name": "melt"}}'),
            ),
            "unknown corruption",
        ),
        (
            lambda d: (d.mkdir(), (d / MANIFEST).write_text('{"format_version": 1, "name": "x", "surprise": 1}')),
            "surprise: Extra inputs",
        ),
        (
            lambda d: (
                d.mkdir(),
                (d / MANIFEST).write_text('{"format_version": 1, "name": "x", "gate": {"kind": "keyword"}}'),
            ),
            "needs at least one keyword",
        ),
    ],
)
def test_bad_bundles_give_clear_errors(tmp_path, write, match):
    d = tmp_path / "bundle"
    if write:
        write(d)
    with pytest.raises(BundleError, match=match):
        Target.load(d)


def test_saving_over_an_existing_bundle_replaces_the_manifest(tmp_path):
    _target().save(tmp_path / "t")
    t2 = _target()
    t2.manifest.corruption.dims = 8
    t2.save(tmp_path / "t")
    assert json.loads((tmp_path / "t" / MANIFEST).read_text())["corruption"]["dims"] == 8


def test_load_targets_from_a_parent_directory_and_duplicates(tmp_path):
    _target("a").save(tmp_path / "all" / "a")
    _target("b").save(tmp_path / "all" / "b")
    assert [t.name for t in load_targets([tmp_path / "all"])] == ["a", "b"]
    _target("a").save(tmp_path / "other")
    with pytest.raises(BundleError, match="duplicate target names: a"):
        load_targets([tmp_path / "all", tmp_path / "other"])
