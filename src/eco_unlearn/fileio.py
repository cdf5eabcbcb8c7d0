"""Atomic file writes: a crash or a full disk never leaves a half-written bundle or report behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """One JSON object per line (UTF-8), written atomically: what the benchmark exports write."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def replace_dir(staged: Path, final: Path, *, overwrite: bool) -> None:
    """Move a fully written staging directory into place; an existing one is swapped out, not merged."""
    import shutil

    if final.exists():
        if not overwrite:
            raise FileExistsError(f"{final} already exists (use --overwrite to replace it)")
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(staged, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend: reports are drawn on headless machines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(out_dir: str | Path, result: dict, html: str) -> None:
    """A benchmark run's ``results.json`` and ``report.html`` under ``out_dir``, each written atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "results.json", result)
    atomic_write_text(out_dir / "report.html", html)


_REPORT_CSS = (
    "body{font-family:sans-serif;max-width:%dpx;margin:2em auto}"
    " td,th{padding:4px 8px;border-bottom:1px solid #ddd;font-size:90%%}"
    " table{border-collapse:collapse;margin:1em 0}"
)


def html_page(title: str, body: str, width: int = 1100) -> str:
    """A self-contained report page: every ``eco bench`` report shares this head and stylesheet, so they
    read alike and a change of style is made once. ``title`` is escaped; ``body`` is HTML."""
    import html

    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_REPORT_CSS % width}</style></head><body>\n{body}\n</body></html>"
    )


def _lay_out(fig) -> None:
    """Lay a figure out tightly, unless it has a layout engine of its own (a constrained one, say)."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()


def save_figure(fig, path: str | Path, dpi: int = 110) -> None:
    """Save a matplotlib figure atomically (PNG) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    _lay_out(fig)
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)


def png_base64(fig, dpi: int = 100) -> str:
    """A matplotlib figure as base64 PNG (for self-contained HTML reports), closed afterwards."""
    import base64
    import io

    import matplotlib.pyplot as plt

    _lay_out(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()
