"""The targets a running gateway enforces, loaded from one directory and changed without a restart.

Changes are copy-on-write: a request takes one snapshot (a tuple) when it starts, so an admin call never
changes the targets under a request in flight, and a bundle that fails to load leaves the set as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from eco_unlearn.gate.targets import MANIFEST, BundleError, Target


class UnknownTarget(KeyError):
    pass


class TargetRegistry:
    def __init__(self, directory: str | Path | None):
        self.directory = Path(directory) if directory is not None else None
        self._lock = threading.Lock()
        self._targets: tuple[Target, ...] = ()
        if self.directory is not None:
            if not self.directory.is_dir():
                raise BundleError(f"targets directory {self.directory} does not exist")
            self.reload()

    def snapshot(self) -> tuple[Target, ...]:
        return self._targets

    def names(self) -> list[str]:
        return [t.name for t in self._targets]

    def _bundle_dirs(self) -> list[Path]:
        if self.directory is None:
            return []
        if (self.directory / MANIFEST).exists():  # the directory is itself one bundle
            return [self.directory]
        return sorted(c for c in self.directory.iterdir() if (c / MANIFEST).exists())

    def reload(self) -> list[str]:
        """Re-read every bundle in the directory; all of them load, or nothing changes."""
        loaded = [Target.load(d) for d in self._bundle_dirs()]
        names = [t.name for t in loaded]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise BundleError(f"duplicate target names in {self.directory}: {', '.join(dupes)}")
        with self._lock:
            self._targets = tuple(loaded)
        return names

    def add(self, name: str) -> Target:
        """Load (or replace) the bundle ``<directory>/<name>``."""
        if self.directory is None:
            raise BundleError("this gateway was started without a targets directory")
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise BundleError(f"bad target name {name!r}: give the name of a bundle directory under {self.directory}")
        target = Target.load(self.directory / name)
        self.add_target(target)
        return target

    def add_target(self, target: Target) -> None:
        """Register an in-memory target (library use and tests; admin calls go through :meth:`add`)."""
        with self._lock:
            self._targets = tuple(t for t in self._targets if t.name != target.name) + (target,)

    def remove(self, name: str) -> None:
        """Stop enforcing a target; its bundle stays on disk (a reload brings it back)."""
        with self._lock:
            if name not in [t.name for t in self._targets]:
                raise UnknownTarget(name)
            self._targets = tuple(t for t in self._targets if t.name != name)

    def active(self, requested: Sequence[str] | None) -> list[Target]:
        """The targets for one request: all of them, or the requested ones plus every mandatory one."""
        snap = self._targets
        if requested is None:
            return list(snap)
        known = {t.name for t in snap}
        missing = [n for n in requested if n not in known]
        if missing:
            raise UnknownTarget(", ".join(missing))
        return [t for t in snap if t.name in requested or t.manifest.mandatory]
