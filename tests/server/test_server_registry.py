"""Run-time targets: loaded from a directory, changed copy-on-write, all-or-nothing reloads."""

from __future__ import annotations

import pytest

from eco_unlearn.gate.targets import BundleError, Target
from eco_unlearn.server.registry import TargetRegistry, UnknownTarget


def save(root, name, **kw):
    Target.create(name, gate={"kind": "keyword", "keywords": [name]}, **kw).save(root / name)


def test_loads_every_bundle_and_narrows_per_request(tmp_path):
    save(tmp_path, "a")
    save(tmp_path, "b", mandatory=True)
    save(tmp_path, "c")
    reg = TargetRegistry(tmp_path)
    assert reg.names() == ["a", "b", "c"]
    assert [t.name for t in reg.active(None)] == ["a", "b", "c"]
    assert [t.name for t in reg.active(["c"])] == ["b", "c"]  # b is mandatory
    assert [t.name for t in reg.active([])] == ["b"]
    with pytest.raises(UnknownTarget):
        reg.active(["zzz"])


def test_snapshots_do_not_change_under_a_request(tmp_path):
    save(tmp_path, "a")
    reg = TargetRegistry(tmp_path)
    before = reg.snapshot()
    save(tmp_path, "b")
    reg.add("b")
    reg.remove("a")
    assert [t.name for t in before] == ["a"] and reg.names() == ["b"]


def test_a_failed_reload_or_add_changes_nothing(tmp_path):
    save(tmp_path, "a")
    reg = TargetRegistry(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "target.json").write_text('{"format_version": 1, "name": 5}')
    with pytest.raises(BundleError):
        reg.reload()
    with pytest.raises(BundleError):
        reg.add("bad")
    with pytest.raises(BundleError, match="bad target name"):
        reg.add("../a")
    assert reg.names() == ["a"]


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        TargetRegistry(tmp_path / "nope")
    assert TargetRegistry(None).names() == []
