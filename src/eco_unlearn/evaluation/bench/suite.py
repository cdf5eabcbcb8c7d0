"""`eco bench all`: the three benchmark tasks in one run, and an index page linking their reports."""

from __future__ import annotations

import time
from pathlib import Path

from eco_unlearn.fileio import atomic_write_text, html_page


def run_all(out_dir: Path, *, quick: bool = False, curves: bool = False) -> dict[str, Path]:
    """hazard (its trade-off curves always drawn), authors and copyright; ``curves`` adds the opt-in trade-off
    curves of authors and copyright."""
    from eco_unlearn.evaluation.bench import authors, copyright, hazard

    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    hazard.run(out_dir=out_dir / "hazard", quick=quick)
    seconds["hazard"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    authors.run(out_dir=out_dir / "authors", quick=quick, curves=curves)
    seconds["authors"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    copyright.run(out_dir=out_dir / "copyright", quick=quick, curves=curves)
    seconds["copyright"] = time.perf_counter() - t0
    links = "".join(f'<li><a href="{name}/report.html">{name}</a> ({s:.0f} s)</li>' for name, s in seconds.items())
    mode = "quick (tiny random models: mechanics only)" if quick else "full"
    page = html_page("eco-unlearn benchmarks", f"<h1>eco-unlearn benchmarks ({mode})</h1><ul>{links}</ul>")
    atomic_write_text(out_dir / "index.html", page)
    return {name: out_dir / name / "report.html" for name in seconds} | {"index": out_dir / "index.html"}
