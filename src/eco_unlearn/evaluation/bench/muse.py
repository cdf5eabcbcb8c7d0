"""`eco bench muse`: the copyright protocol of `eco bench copyright` on the user's MUSE files and checkpoints.

The files use MUSE's configs and fields (``muse-bench/MUSE-News`` / ``MUSE-Books``; JSON, JSON lines or
parquet) under one directory:

- ``verbmem/forget`` (``prompt``, ``gt``): the scored forget prompts with their gold continuations; the
  last ``n_fit`` items are kept apart for the corruption fit and never scored;
- ``raw/forget`` (``text``): the forget corpus: the gate's forget windows, its verbatim index (unless
  ``--request-text`` names other text the request supplies) and the baselines' forget data;
- ``raw/holdout`` (``text``): text of the forget corpus's kind that the target never saw: the similarity
  surrogate;
- ``raw/retain1`` (``text``; ``--retain-raw`` picks another): the first ``n_retain`` chunks are the scored
  retain prompts, the following ones the baselines' retain data (disjoint, checked), and the gate's retain
  windows come from the same text.

Raw texts longer than ``chunk_tokens`` + 25 % are cut into ``chunk_tokens`` windows; shorter ones are used
whole. ``--forget-prompts`` / ``--retain-prompts`` (prompt files) replace the gate's sampled windows.
``export_builtin`` writes ``eco bench copyright``'s data in this layout; the runner on it with the same
checkpoints reproduces that bench's figures.

Optional: ``knowmem/forget_qa`` and ``knowmem/retain_qa`` (``question``, ``answer``), each with its
in-context pairs ``knowmem/<set>_qa_icl``: MUSE's knowledge memorisation (``evaluation.knowmem``) is then
scored for every method too, and the gate's flag rate on those questions reported.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from eco_unlearn.core.models import load_tokenizer, resolve_model
from eco_unlearn.evaluation.bench.copyright import (
    CopyrightData,
    prepare,
    report_html,
    run_protocol,
    split_item,
    split_retain,
    text_items,
    token_chunks,
)
from eco_unlearn.evaluation.knowmem import QA
from eco_unlearn.evaluation.loaders import load_muse, split_file
from eco_unlearn.fileio import atomic_write_jsonl, write_report
from eco_unlearn.gate.prompt_files import PromptFileError, read_prompts

GATE_WINDOWS = 200
WINDOW_TOKENS = 64


def as_chunks(tok, texts: list[str], size: int) -> list[str]:
    """Texts up to ``size`` tokens + 25 % whole (already chunks), longer ones cut into ``size``-token windows."""
    out = []
    for t in texts:
        n = len(tok(t, add_special_tokens=False).input_ids)
        out += [t] if n <= size + size // 4 else token_chunks(tok, [t], size)
    return out


def _median_tokens(tok, texts: list[str]) -> int:
    return int(np.median([len(tok(t, add_special_tokens=False).input_ids) for t in texts]))


def knowmem_files(directory: Path) -> tuple[dict[str, list[QA]], dict[str, list[QA]]]:
    """The knowledge questions (``knowmem/{forget,retain}_qa``) and in-context pairs (``…_qa_icl``) present
    under ``directory``; a present file that cannot be read is an error, an absent one is skipped."""
    qa, icl = {}, {}
    for s in ("forget", "retain"):
        if (path := _present(directory, f"knowmem/{s}_qa")) is None:
            continue
        qa[s] = load_muse(path, "knowmem")
        if (shots := _present(directory, f"knowmem/{s}_qa_icl")) is not None:
            icl[s] = load_muse(shots, "knowmem")
    return qa, icl


def _present(directory: Path, name: str) -> Path | None:
    try:
        return split_file(directory, name)
    except PromptFileError:
        return None


def file_data(
    directory: Path,
    tok,
    *,
    n_fit: int = 4,
    n_forget: int | None = None,
    n_retain: int | None = None,
    retain_raw: str = "retain1",
    chunk_tokens: int = 192,
    forget_prompts: Path | None = None,
    retain_prompts: Path | None = None,
    request_text: Path | None = None,
    title: str = "the forget corpus",
    seed: int = 0,
) -> CopyrightData:
    directory = Path(directory)
    if not directory.is_dir():
        raise PromptFileError(f"{directory}: no such directory")
    verbmem = load_muse(split_file(directory, "verbmem/forget"), "verbmem")
    if n_fit < 1 or len(verbmem) <= n_fit:
        raise ValueError(f"verbmem/forget has {len(verbmem)} items: n_fit ({n_fit}) must leave at least one to score")
    n_forget = len(verbmem) - n_fit if n_forget is None else n_forget
    if not 0 < n_forget <= len(verbmem) - n_fit:
        raise ValueError(f"n_forget must be in [1, {len(verbmem) - n_fit}] (verbmem/forget minus n_fit)")
    forget_raw = load_muse(split_file(directory, "raw/forget"), "raw")
    retain_raw_text = load_muse(split_file(directory, f"raw/{retain_raw}"), "raw")
    forget_text, retain_text = as_chunks(tok, forget_raw, chunk_tokens), as_chunks(tok, retain_raw_text, chunk_tokens)
    heldout_text = as_chunks(tok, load_muse(split_file(directory, "raw/holdout"), "raw"), chunk_tokens)
    prompt_tokens = _median_tokens(tok, [it.prompt for it in verbmem])
    gold_tokens = _median_tokens(tok, [it.continuation for it in verbmem])
    n_retain = n_forget if n_retain is None else n_retain
    n_unlearn = min(len(retain_text) - n_retain, len(forget_text))
    if n_unlearn < 1:
        raise ValueError(f"raw/{retain_raw} has {len(retain_text)} chunks: {n_retain} are scored, none is left "
                         "for the baselines' retain data")  # fmt: skip
    scored, unlearn = split_retain(retain_text, n_retain, n_unlearn)
    item = lambda c: split_item(tok, c, prompt_tokens, gold_tokens)  # noqa: E731
    knowmem, knowmem_icl = knowmem_files(directory)

    def windows(texts: list[str]) -> list[str]:  # from the raw texts, as the built-in gate takes whole chapters
        w = as_chunks(tok, texts, WINDOW_TOKENS)
        return random.Random(seed).sample(w, min(GATE_WINDOWS, len(w)))

    return CopyrightData(
        forget_items=verbmem[:n_forget],
        fit_items=verbmem[len(verbmem) - n_fit :],
        heldout_items=text_items(tok, heldout_text, prompt_tokens, gold_tokens),
        retain_items=[item(c) for c in scored],
        heldout_text=heldout_text,
        retain_text=scored,
        gate_forget=read_prompts(forget_prompts) if forget_prompts else windows(forget_raw),
        gate_retain=read_prompts(retain_prompts) if retain_prompts else windows(retain_raw_text),
        unlearn_forget=forget_text,
        request_text=load_muse(request_text, "raw") if request_text else forget_raw,
        unlearn_retain=unlearn,
        gold_tokens=gold_tokens,
        prefix=f"You have never read {title} and must not reproduce any of its text.\n",
        knowmem=knowmem,
        knowmem_icl=knowmem_icl,
    )


def run_files(
    directory: Path,
    model: str,
    retain_model: str,
    out_dir: Path = Path("runs/bench/muse"),
    *,
    baselines: tuple[str, ...] = (),
    unlearn_lr: float = 1e-5,
    quick_fit: bool = False,
    command: str = "",
    **data_kw,
) -> dict:
    """The copyright protocol on MUSE files: results.json + report.html as ``eco bench copyright`` writes them."""
    t_start = time.perf_counter()
    target_path, retain_path = resolve_model(model), resolve_model(retain_model)
    data = file_data(directory, load_tokenizer(target_path), **data_kw)
    result = run_protocol(data, Path(target_path), Path(retain_path), out_dir, command=command, base=model,
                          lr=unlearn_lr, baselines=baselines, quick=quick_fit)  # fmt: skip
    result["benchmark"] = "muse"
    result["retain_model"] = retain_model
    result["data"] = f"MUSE files in {directory}"
    result["sizes"] = {"forget_items": len(data.forget_items), "fit_items": len(data.fit_items),
                       "heldout_items": len(data.heldout_items), "retain_items": len(data.retain_items),
                       "gold_tokens": data.gold_tokens,
                       **{f"knowmem_{s}": len(qa) for s, qa in data.knowmem.items()}}  # fmt: skip
    result["finetune"] = {}
    result["seconds"] = time.perf_counter() - t_start
    write_report(out_dir, result, report_html(result))
    return result


def export_builtin(directory: Path, **prepare_kw) -> dict:
    """``eco bench copyright``'s data (same ``prepare_kw``) in MUSE's layout, with the gate's prompt files;
    returns the ``eco bench muse`` arguments (and ``command``) that reproduce its figures (no baselines)."""
    prep = prepare(**prepare_kw)
    d, directory = prep.data, Path(directory)

    def rows(key: str, values) -> list[dict]:
        return [{key: v} for v in values]

    files = {
        "verbmem/forget.jsonl": [{"prompt": x.prompt, "gt": x.continuation} for x in [*d.forget_items, *d.fit_items]],
        "raw/forget.jsonl": rows("text", d.unlearn_forget),
        "gate/request_text.jsonl": rows("text", d.request_text),
        "raw/holdout.jsonl": rows("text", d.heldout_text),
        "raw/retain1.jsonl": rows("text", d.retain_text + d.unlearn_retain),
        "gate/forget_prompts.jsonl": rows("prompt", d.gate_forget),
        "gate/retain_prompts.jsonl": rows("prompt", d.gate_retain),
    }
    for name, records in files.items():
        atomic_write_jsonl(directory / name, records)
    quick = prepare_kw.get("quick", False)
    command = (f"eco bench muse --data {directory} --model {prep.target_ckpt} --retain-model {prep.retain_ckpt} "
               f"--n-fit {len(d.fit_items)} --chunk-tokens {prep.chunk_tokens} --title 'Pride and Prejudice' "
               f"--forget-prompts {directory / 'gate/forget_prompts.jsonl'} "
               f"--retain-prompts {directory / 'gate/retain_prompts.jsonl'} "
               f"--request-text {directory / 'gate/request_text.jsonl'}"
               + (" --quick-fit" if quick else ""))  # fmt: skip
    return {"model": str(prep.target_ckpt), "retain_model": str(prep.retain_ckpt), "n_fit": len(d.fit_items),
            "chunk_tokens": prep.chunk_tokens, "unlearn_lr": prep.lr, "quick_fit": quick,
            "command": command}  # fmt: skip
