"""Loaders for the published benchmark formats: TOFU, WMDP / MMLU and MUSE.

Each reads local files in the dataset's own schema (JSON lines, a JSON array, or a HF ``datasets`` export)
or, where the user has network and the ``datasets`` package, the hub dataset itself (``source="hub"``).
Records are validated at the boundary: a missing field or a wrong type names the file and the record.

- TOFU (``locuslab/TOFU``): ``question``, ``answer``, and in the ``*_perturbed`` splits
  ``paraphrased_answer`` and ``perturbed_answer`` (a list).
- WMDP (``cais/wmdp``) and MMLU (``cais/mmlu``): ``question``, ``choices``, ``answer`` (index, or a letter).
- MUSE (``muse-bench/MUSE-News`` / ``MUSE-Books``): ``verbmem`` (``prompt``, ``gt``), ``knowmem``
  (``question``, ``answer``), ``raw`` (``text``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eco_unlearn.fit.objectives import MCQItem, QAItem, TextItem
from eco_unlearn.gate.prompt_files import PromptFileError

HUB = {"tofu": "locuslab/TOFU", "wmdp": "cais/wmdp", "mmlu": "cais/mmlu", "muse-news": "muse-bench/MUSE-News",
       "muse-books": "muse-bench/MUSE-Books"}  # fmt: skip


@dataclass
class TOFURecord:
    question: str
    answer: str
    paraphrased_answer: str | None = None
    perturbed_answer: list[str] | None = None

    def qa_item(self) -> QAItem:
        """For the likelihood objective and truth ratios (needs a perturbed split)."""
        if not self.perturbed_answer:
            raise ValueError(f"no perturbed answers for {self.question!r}: load a *_perturbed split")
        return QAItem(self.question, self.answer, list(self.perturbed_answer))


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """JSON lines or a JSON array of objects (UTF-8), or a parquet file (the hub's exports); an empty file is
    an error."""
    path = Path(path)
    if not path.is_file():
        raise PromptFileError(f"{path}: no such file")
    if path.suffix == ".parquet":
        return _parquet_records(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PromptFileError(f"{path}: not UTF-8") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            records = json.loads(stripped)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise PromptFileError(f"{path}: not JSON lines or a JSON array: {e}") from None
    if not records:
        raise PromptFileError(f"{path}: empty file")
    if not all(isinstance(r, dict) for r in records):
        raise PromptFileError(f"{path}: every record must be a JSON object")
    return records


def split_file(directory: str | Path, name: str) -> Path:
    """``directory/name`` as ``.json``, ``.jsonl`` or ``.parquet`` (the forms the hub's splits come in)."""
    directory = Path(directory)
    for ext in (".json", ".jsonl", ".parquet"):
        if (p := directory / f"{name}{ext}").is_file():
            return p
    raise PromptFileError(f"{directory}: no {name}.json, .jsonl or .parquet")


def _parquet_records(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise PromptFileError(f"{path}: reading parquet needs pyarrow (pip install -e '.[lm-eval]')") from None
    try:
        records = pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a file that is not parquet
        raise PromptFileError(f"{path}: not a readable parquet file: {e}") from None
    if not records:
        raise PromptFileError(f"{path}: empty file")
    return records


def _from_hub(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise RuntimeError(f"loading {name} from the hub needs `pip install datasets` and network; "
                           "or download the files and pass their path") from None  # fmt: skip
    return [dict(r) for r in datasets.load_dataset(name, config, split=split)]


def _field(r: dict, key: str, kind: type | tuple, where: str):
    if key not in r:
        raise PromptFileError(f"{where}: missing field {key!r} (has: {', '.join(sorted(r))})")
    value = r[key]
    if not isinstance(value, kind):
        raise PromptFileError(f"{where}: field {key!r} has type {type(value).__name__}")
    return value


def load_tofu(source: str | Path, split: str = "forget10_perturbed") -> list[TOFURecord]:
    """A TOFU split from a file, a directory holding ``<split>.json`` (or ``.jsonl``, ``.parquet``), or ``"hub"``."""
    if str(source) == "hub":
        records, where = _from_hub(HUB["tofu"], split, "train"), f"{HUB['tofu']}/{split}"
    else:
        path = split_file(source, split) if Path(source).is_dir() else Path(source)
        records, where = read_records(path), str(path)
    out = []
    for i, r in enumerate(records):
        at = f"{where}[{i}]"
        pert = r.get("perturbed_answer")
        if pert is not None:
            pert = [pert] if isinstance(pert, str) else _field(r, "perturbed_answer", list, at)
        para = r.get("paraphrased_answer")
        out.append(TOFURecord(_field(r, "question", str, at), _field(r, "answer", str, at),
                              para if isinstance(para, str) else None, pert))  # fmt: skip
    return out


def load_mcq(source: str | Path, *, dataset: str = "wmdp", config: str | None = None, split: str = "test"):
    """WMDP or MMLU multiple choice as cloze items (``answer``: index, or a letter A-…)."""
    if str(source) == "hub":
        records, where = _from_hub(HUB[dataset], config, split), f"{HUB[dataset]}/{config}"
    else:
        records, where = read_records(source), str(source)
    items = []
    for i, r in enumerate(records):
        at = f"{where}[{i}]"
        choices = _field(r, "choices", list, at)
        if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise PromptFileError(f"{at}: choices must be at least two strings")
        answer = _field(r, "answer", (int, str), at)
        if isinstance(answer, str):
            letter = answer.strip().upper()
            if len(letter) != 1 or not 0 <= ord(letter) - ord("A") < len(choices):
                raise PromptFileError(f"{at}: answer {answer!r} is not a letter A-{chr(ord('A') + len(choices) - 1)}")
            answer = ord(letter) - ord("A")
        if not 0 <= answer < len(choices):
            raise PromptFileError(f"{at}: answer index {answer} out of range for {len(choices)} choices")
        items.append(MCQItem(_field(r, "question", str, at), list(choices), answer))
    return items


def load_muse(source: str | Path, kind: str, *, corpus: str = "news", split: str = "forget"):
    """MUSE ``verbmem`` → TextItem (prompt, gold continuation), ``knowmem`` → (question, answer), ``raw`` → text."""
    if kind not in ("verbmem", "knowmem", "raw"):
        raise ValueError(f"kind must be verbmem, knowmem or raw, got {kind!r}")
    if str(source) == "hub":
        name = HUB[f"muse-{corpus}"]
        records, where = _from_hub(name, kind, split), f"{name}/{kind}/{split}"
    else:
        records, where = read_records(source), str(source)
    at = [f"{where}[{i}]" for i in range(len(records))]
    if kind == "verbmem":
        return [TextItem(_field(r, "prompt", str, w), _field(r, "gt", str, w)) for r, w in zip(records, at)]
    if kind == "knowmem":
        return [(_field(r, "question", str, w), _field(r, "answer", str, w)) for r, w in zip(records, at)]
    return [_field(r, "text", str, w) for r, w in zip(records, at)]
