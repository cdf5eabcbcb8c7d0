"""Reading prompt files for target creation: JSONL, CSV or TXT, validated at the boundary.

- ``.jsonl``: one JSON object per line with a ``prompt``, ``question`` or ``text`` field (other fields, such
  as ``answer``, are ignored);
- ``.csv``: a header row with one of those column names;
- ``.txt`` (or anything else): one prompt per line.

Blank lines are skipped and repeated prompts kept once. Every problem raises :class:`PromptFileError` with
the file, and the line where there is one.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

TEXT_FIELDS = ("prompt", "question", "text")
MIN_PER_CLASS = 10


class PromptFileError(ValueError):
    pass


def _read_text(path: Path) -> str:
    if not path.exists():
        raise PromptFileError(f"{path}: no such file")
    if not path.is_file():
        raise PromptFileError(f"{path}: not a file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PromptFileError(f"{path}: not UTF-8 (invalid byte at line {line}); re-save it as UTF-8") from None


def _field(record: dict, path: Path, where: str) -> str:
    for f in TEXT_FIELDS:
        if f in record:
            value = record[f]
            if not isinstance(value, str):
                raise PromptFileError(f"{path}{where}: field {f!r} must be a string, got {type(value).__name__}")
            return value
    fields = ", ".join(map(repr, record)) or "none"
    raise PromptFileError(f"{path}{where}: unknown fields ({fields}); expected one of {', '.join(TEXT_FIELDS)}")


def _jsonl_records(path: Path, text: str) -> list[tuple[int, dict]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise PromptFileError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise PromptFileError(f"{path}:{n}: expected a JSON object")
        out.append((n, record))
    return out


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a UTF-8 JSONL file; an empty file is an error."""
    path = Path(path)
    records = _jsonl_records(path, _read_text(path))
    if not records:
        raise PromptFileError(f"{path}: empty file")
    return records


def read_prompts(path: str | Path) -> list[str]:
    path = Path(path)
    text = _read_text(path)
    suffix = path.suffix.lower()
    prompts: list[str] = []
    if suffix == ".jsonl":
        prompts = [_field(record, path, f":{n}") for n, record in _jsonl_records(path, text)]
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise PromptFileError(f"{path}: empty file")
        for n, row in enumerate(reader, 2):
            prompts.append(_field({k: v for k, v in row.items() if k is not None}, path, f":{n}"))
    else:
        prompts = text.splitlines()
    prompts = list(dict.fromkeys(p.strip() for p in prompts if p and p.strip()))
    if not prompts:
        raise PromptFileError(f"{path}: empty file (no prompts)")
    return prompts


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def check_classes(forget: list[str], retain: list[str], general: list[str] | None = None) -> None:
    """Enough examples per class, and no prompt both forgotten and retained."""
    for name, items in (("forget", forget), ("retain", retain)):
        if len(items) < MIN_PER_CLASS:
            raise PromptFileError(f"the {name} set has {len(items)} prompts; at least {MIN_PER_CLASS} are needed")
    both = sorted({_norm(p) for p in forget} & {_norm(p) for p in retain})
    if both:
        shown = "; ".join(repr(p) for p in both[:5]) + (f" (+{len(both) - 5} more)" if len(both) > 5 else "")
        raise PromptFileError(f"{len(both)} prompt(s) are in both the forget and the retain set: {shown}")
    if general is not None and not general:
        raise PromptFileError("the general set is empty")
