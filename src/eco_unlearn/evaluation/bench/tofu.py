"""`eco bench tofu`: the TOFU protocol of `eco bench authors` on the user's own TOFU files and checkpoints.

The files use TOFU's names and schema (``locuslab/TOFU``; JSON, JSON lines or parquet) in one directory:

- ``<split>_perturbed``: the forget split (question, answer, paraphrased_answer, perturbed_answer), all
  evaluated; its questions are the gate's forget prompts and its QA pairs the baselines' forget data;
- ``retain<100-N>`` for ``forget<N>`` (or ``--retain-split``): the gate's retain prompts and the baselines'
  retain data;
- ``retain_perturbed``, ``real_authors_perturbed``, ``world_facts_perturbed``: the model-utility sets (the
  first ``n_eval`` of each).

The corruption family and its σ or k are fitted by the distribution objective (``authors.fit_family``):
the corrupted target's log truth ratios on the *fit items* against the clean target's on a *reference* of
questions about authors it never saw. The fit items default to the forget split itself (what a provider
has), the reference to generated fictitious authors no TOFU checkpoint was trained on; ``fit`` and
``reference`` files in the same schema replace them. The retain model is read for evaluation only.

``export_builtin`` writes one split of ``eco bench authors`` in this layout (with its fit items and
reference); this runner on those files and the same checkpoints reproduces that split's figures.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import cache_dir, resolve_model
from eco_unlearn.evaluation.authors import fresh_qa
from eco_unlearn.evaluation.baselines import UnlearnConfig
from eco_unlearn.evaluation.bench.authors import (
    QUICK_NOISE_SEEDS,
    Models,
    SplitData,
    eval_truth,
    fit_budget,
    fit_family,
    fit_record,
    prepare,
    run_split,
    truth_item,
)
from eco_unlearn.evaluation.bench.authors_report import report_html
from eco_unlearn.evaluation.loaders import TOFURecord, load_tofu
from eco_unlearn.evaluation.tofu import EvalItem
from eco_unlearn.fileio import atomic_write_jsonl, write_report
from eco_unlearn.fit.objectives import QAItem
from eco_unlearn.gate.prompt_files import PromptFileError

UTILITY_SETS = ("retain", "real_authors", "world_facts")
REFERENCE_AUTHORS = 8


def retain_split_name(split: str) -> str:
    """TOFU pairs ``forgetN`` with ``retain(100 − N)``: forget10 → retain90."""
    m = re.fullmatch(r"forget(\d+)", split)
    if not m or not 0 < int(m.group(1)) < 100:
        raise ValueError(f"cannot derive the retain split of {split!r}: name it forget<N> or pass --retain-split")
    return f"retain{100 - int(m.group(1))}"


def _eval_item(r: TOFURecord, where: str) -> EvalItem:
    if not r.perturbed_answer:
        raise PromptFileError(f"{where}: {r.question!r} has no perturbed_answer (use the *_perturbed file)")
    return EvalItem(r.question, r.answer, r.paraphrased_answer or r.answer, list(r.perturbed_answer))


def _qa_item(r: TOFURecord, where: str) -> QAItem:
    """The truth-ratio comparison as a fit item, as ``authors.truth_item`` builds it."""
    return eval_truth(_eval_item(r, where))


def file_data(
    directory: Path,
    split: str,
    *,
    retain_split: str | None = None,
    n_eval: int | None = None,
    entities: list[str] | None = None,
    fit: Path | None = None,
    reference: Path | None = None,
) -> tuple[SplitData, list[QAItem], list[QAItem], str]:
    """The split, the fit items, the reference items and where the fit items came from."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PromptFileError(f"{directory}: no such directory")
    if n_eval is not None and n_eval < 1:
        raise ValueError(f"n_eval must be at least 1, got {n_eval}")
    retain_split = retain_split or retain_split_name(split)
    forget = load_tofu(directory, f"{split}_perturbed")
    retain = load_tofu(directory, retain_split)
    sets = {}
    for s in UTILITY_SETS:
        sets[s] = [_eval_item(r, f"{s}_perturbed") for r in load_tofu(directory, f"{s}_perturbed")[:n_eval]]
    forget_q = {r.question for r in forget}
    leaked = [r.question for r in retain if r.question in forget_q]
    if leaked:
        raise PromptFileError(f"{retain_split} holds {len(leaked)} forget questions, e.g. {leaked[0]!r}")
    names = list(entities or [])
    data = SplitData(
        split,
        [_eval_item(r, f"{split}_perturbed") for r in forget],
        [(r.question, r.answer) for r in forget],
        [(r.question, r.answer) for r in retain],
        sets,
        names,
        names,
    )
    if fit is None:
        fit_items, fit_from = [_qa_item(r, split) for r in forget], f"the forget split {split} itself"
    else:
        fit_items, fit_from = [_qa_item(r, str(fit)) for r in load_tofu(fit)], str(fit)
    if reference is None:
        ref_items = [truth_item(x) for x in fresh_qa(REFERENCE_AUTHORS)]
    else:
        ref_items = [_qa_item(r, str(reference)) for r in load_tofu(reference)]
    return data, fit_items, ref_items, fit_from


def run_files(
    directory: Path,
    split: str,
    model: str,
    retain_model: str,
    out_dir: Path = Path("runs/bench/tofu"),
    *,
    retain_split: str | None = None,
    n_eval: int | None = None,
    entities: list[str] | None = None,
    fit: Path | None = None,
    reference: Path | None = None,
    baselines: tuple[str, ...] = (),
    unlearn_lr: float = 1e-5,
    noise_seeds: int = 3,
    gen_tokens: int = 16,
    grid: int = 7,
    refine: int = 4,
    command: str = "",
) -> dict:
    """One split of the user's TOFU files: results.json + report.html as ``eco bench authors`` writes them."""
    t_start = time.perf_counter()
    data, fit_items, ref_items, fit_from = file_data(directory, split, retain_split=retain_split, n_eval=n_eval,
                                                     entities=entities, fit=fit, reference=reference)  # fmt: skip
    target_path, retain_path = resolve_model(model), resolve_model(retain_model)
    target = ECOModel.from_pretrained(target_path)
    fit_result, objective = fit_family(target, fit_items, ref_items, grid=grid, refine=refine, gen_tokens=gen_tokens)
    models = Models(target, Path(target_path), ECOModel.from_pretrained(retain_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "benchmark": "tofu",
        "command": command,
        "base": model,
        "retain_model": retain_model,
        "data": f"TOFU files in {directory}: {split} ({len(data.forget)} questions) vs "
        f"{retain_split or retain_split_name(split)} ({len(data.retain_pairs)} questions)",
        "n_eval": {k: len(v) for k, v in data.sets.items()},
        "finetune": {},
        "fit": fit_record(fit_result, objective, fit_from),
        "noise_seeds": noise_seeds,
        "splits": {
            split: run_split(
                data, models, fit_result, out_dir / "targets" / split, baselines=baselines,
                unlearn_cfg=UnlearnConfig(lr=unlearn_lr), noise_seeds=noise_seeds, gen_tokens=gen_tokens,
                unlearned_dir=cache_dir() / "finetuned" / "unlearned",  # where every bench keeps baseline checkpoints
                reference=objective.reference,
            )
        },
    }  # fmt: skip
    result["seconds"] = time.perf_counter() - t_start
    write_report(out_dir, result, report_html(result))
    return result


def _perturbed(items: list[EvalItem]) -> list[dict]:
    return [{"question": it.question, "answer": it.answer, "paraphrased_answer": it.paraphrased,
             "perturbed_answer": it.perturbed} for it in items]  # fmt: skip


def export_builtin(directory: Path, split: str, **prepare_kw) -> dict:
    """One split of ``eco bench authors`` (same ``prepare_kw``) in TOFU's layout, plus ``fit_perturbed`` and
    ``reference_perturbed``; returns the ``eco bench tofu`` arguments (and ``command``) that reproduce its
    figures (without baselines; the checkpoints are the bench's cached ones, trained first if missing)."""
    from eco_unlearn.evaluation.authors import unseen_qa
    from eco_unlearn.evaluation.bench.authors import eval_item

    prep = prepare(**prepare_kw)
    quick = prepare_kw.get("quick", False)
    k = prep.split_k(split)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    retain_name = retain_split_name(split)
    s = prep.splits
    fit = [eval_item(x) for x in prep.fit_qa]
    reference = [eval_item(x) for x in [*s.held_out, *unseen_qa(s, 6)]]
    files = {
        f"{split}_perturbed": _perturbed(prep.forget_items(k)),
        retain_name: [{"question": x.question, "answer": x.answer} for x in s.retain(k)],
        **{f"{name}_perturbed": _perturbed(items) for name, items in prep.fixed.items()},
        "fit_perturbed": _perturbed(fit),
        "reference_perturbed": _perturbed(reference),
    }
    for name, records in files.items():
        atomic_write_jsonl(directory / f"{name}.json", records)
    names = [a.name for a in s.authors[:k]]
    (grid, refine), seeds = fit_budget(quick), QUICK_NOISE_SEEDS if quick else 3
    command = (f"eco bench tofu --data {directory} --split {split} --model {prep.target_ckpt} "
               f"--retain-model {prep.retain_ckpts[k]} --entities '{','.join(names)}' "
               f"--fit {directory / 'fit_perturbed.json'} --reference {directory / 'reference_perturbed.json'} "
               f"--gen-tokens {prep.gen_tokens} --seeds {seeds} --fit-grid {grid} --fit-refine {refine}")  # fmt: skip
    return {"model": str(prep.target_ckpt), "retain_model": str(prep.retain_ckpts[k]), "entities": names,
            "gen_tokens": prep.gen_tokens, "grid": grid, "refine": refine, "noise_seeds": seeds,
            "unlearn_lr": prep.lr, "command": command}  # fmt: skip
