"""`eco bench authors`: the TOFU protocol on fictitious authors, SmolLM2 fine-tuned on CPU.

1. ``authors.make_splits``: n seeded fictitious authors, 12 QA pairs each (answer, paraphrase, 3 perturbed),
   nested forget splits of the first k authors;
2. the *target* model is SmolLM2 fine-tuned on every author; one *retain* model per split is fine-tuned on
   all other authors (same recipe), the ground truth of "never saw it"; checkpoints are cached;
3. per split, a target made by ``create_target`` (forget questions vs retain questions, α = 0.1) with the
   ``proper_nouns`` selection (the offline stand-in for the paper's NER tokens, prompt and answer) plus the
   forgotten authors' names;
4. the corruption is fitted once (``fit_eco``): family (random noise, zero-out top-k, sign-flip top-k), its
   σ or k, and which tokens (the names and other proper nouns, or every token), by the distribution
   objective on the fit questions: every question of six trained authors in no forget split (two held
   aside from every set, four from the retain pool) minus those sampled for the retain utility set. Their
   log truth ratios under corruption should be distributed (KS) as the clean target's on eight authors
   nobody was trained on (the held-out two and six more), i.e. as on an author it never saw. No retain
   model is read;
5. methods: original, retain model, prompting baseline, one ECO row per (family, selection) at its fitted
   parameter, each with the real gate and with an oracle gate (exactly the forget questions flagged), noise
   rows over several noise draws; TOFU's metrics (``tofu.py``): forget quality (KS p-value against the retain
   model) and model utility; fluency of the forget answers (``fluency.py``) against the retain model's;
6. a diagnostic row, ``hidden_name``: the original model asked about the forget authors under names it never
   saw (no corruption). It is perfect prompt-side concealment of *who* is asked about, so its forget quality
   bounds what hiding the name can achieve when the answers' own values (a birthplace, a prize) are what the
   truth ratio tests.

An ECO method whose gate flags nothing in a set runs exactly as the original model there (unflagged
traffic is the plain model), so those scores are reused rather than recomputed; the report says how many
prompts each gate flagged.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
from scipy import stats

from eco_unlearn.console import status
from eco_unlearn.core.corruptions import get_corruption
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import cache_dir
from eco_unlearn.core.selection import check_modes
from eco_unlearn.evaluation.authors import AuthorQA, AuthorSplits, hidden_names, make_splits, unseen_qa
from eco_unlearn.evaluation.baselines import UnlearnConfig, unlearn, unlearn_record, unlearned_models
from eco_unlearn.evaluation.bench import flag_rate
from eco_unlearn.evaluation.bench.authors_report import report_html
from eco_unlearn.evaluation.bench.tradeoff import points_around, strength_curves
from eco_unlearn.evaluation.finetune import FinetuneConfig, finetune, qa_prompt, save_checkpoint, training_record
from eco_unlearn.evaluation.fluency import fluency, fluent_check
from eco_unlearn.evaluation.tofu import (
    UTILITY_SETS,
    EvalItem,
    SetScores,
    evaluate_set,
    forget_quality,
    model_utility,
    set_utility,
)
from eco_unlearn.fileio import atomic_write_json, write_report
from eco_unlearn.fit.distribution import DistributionObjective
from eco_unlearn.fit.family import FamilyFit, fit_corruption
from eco_unlearn.fit.objectives import QAItem
from eco_unlearn.fit.search import FitConfig
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.targets import Target

SETS = ("forget", "retain", "real_authors", "world_facts")


def tofu_set(name: str, n: int, seed: int = 0) -> list[EvalItem]:
    text = files("eco_unlearn").joinpath("data", "tofu", f"{name}_perturbed.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    rows = random.Random(seed).sample(rows, min(n, len(rows)))
    return [EvalItem(r["question"], r["answer"], r["answer"], list(r["perturbed_answer"])) for r in rows]


def prompting_prefix(names: list[str]) -> str:
    """The prompting baseline's instruction; without names (user files with no entity list) it names none."""
    who = f"the authors {', '.join(names)}" if names else "the fictitious authors you may be asked about"
    return (f"You have never heard of {who} and know nothing about them. "
            "If a question is about them, answer that you do not know.\n")  # fmt: skip


def quick_base(cache: Path, hidden: int = 64, layers: int = 2) -> str:
    """A tiny random-weight Llama with SmolLM2's tokenizer, for --quick (trained from scratch by the bench);
    other sizes make a ladder of tiny models (``eco bench cost --quick``)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from eco_unlearn.core.models import load_tokenizer

    out = cache / ("tiny-llama-random" if (hidden, layers) == (64, 2) else f"tiny-llama-random-h{hidden}-l{layers}")
    if not (out / "init.json").exists():  # the record is written last: it marks a complete checkpoint
        tok = load_tokenizer("smollm2")
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                          num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                          head_dim=hidden // 2, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                          eos_token_id=tok.eos_token_id)  # fmt: skip
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg)
        # staged and moved into place whole: a crash or a second process never sees half a checkpoint
        save_checkpoint(model, tok, out, "init.json", {"init": "random", "seed": 0, "hidden": hidden, "layers": layers})
    return str(out)


@dataclass
class Prepared:
    """Everything the methods share: splits, fine-tuned checkpoints, evaluation sets."""

    splits: AuthorSplits
    target_ckpt: Path
    retain_ckpts: dict[int, Path]
    fixed: dict[str, list[EvalItem]]
    fit_authors: list[str]
    fit_qa: list[AuthorQA]
    """The fit questions: ``fit_authors``' questions minus the retain utility set's."""
    lr: float
    gen_tokens: int
    cache: Path
    base: str
    command: str
    finetune_cfg: FinetuneConfig
    """The recipe every checkpoint was fine-tuned with."""

    def split_k(self, name: str) -> int:
        known = {self.splits.split_name(k): k for k in self.splits.forget_sizes}
        if name not in known:
            raise ValueError(f"unknown split {name!r}; this configuration has {', '.join(known)}")
        return known[name]

    def forget_items(self, k: int) -> list[EvalItem]:
        return [eval_item(x) for x in self.splits.forget(k)]


def fit_budget(quick: bool) -> tuple[int, int]:
    """(grid points per family, refinement steps) of the corruption fit: smaller for ``--quick`` (CI)."""
    return (3, 1) if quick else (7, 4)


FIT_AUTHORS = 6
"""Authors whose questions the corruption fit reads (two held aside from every set, the rest from the retain
pool): two authors' 24 questions ranked the candidates by their idiosyncrasies, not by what generalises."""
FIT_SELECTIONS = ("answer_facts", "all_but_last")
"""Token selections the fit searches: the question's names and the scored answer's content words (the
paper's NER stand-in, plus the lower-case facts an NER misses; in generation, the names only), or every token.
``proper_nouns`` (names in question and answer) stays available through ``--selections``."""
FIT_TIES, FIT_PREFER = 0.9, ("zero_out_top_k",)
"""How the fit breaks ties (``fit_corruption``'s ``ties``): candidates whose KS lies within the lowest one's
90 % bootstrap interval are tied, and zero-out top-k, the family the paper reports best on TOFU, wins a tie.
Fixed after author sets 0 and 1, where the fit questions could not separate sign-flip (chosen) from zero-out
(KS 0.056 vs 0.113, each with a 5–95 % bootstrap range of about 0.09–0.27) but the forget sets could; set 2
was its first held-out test (README)."""
QUICK_NOISE_SEEDS = 2


def pairs(qa) -> list[tuple[str, str]]:
    return [(x.question, x.answer) for x in qa]


def truth_item(x: AuthorQA) -> QAItem:
    """The truth-ratio comparison as a fit item: paraphrased answer vs the perturbed ones (one template)."""
    return eval_truth(eval_item(x))


def eval_truth(it: EvalItem) -> QAItem:
    """``truth_item`` of an evaluation item (``eco bench tofu`` reads those from files)."""
    return QAItem(qa_prompt(it.question), it.paraphrased, it.perturbed)


def eval_item(x: AuthorQA) -> EvalItem:
    return EvalItem(x.question, x.answer, x.paraphrased_answer, x.perturbed_answer)


def prepare(
    base: str = "smollm2",
    n_authors: int = 20,
    forget_sizes: tuple[int, ...] = (4, 6, 8),
    n_eval: int = 20,
    epochs: int = 4,
    lr: float = 1e-4,
    quick: bool = False,
    seed: int = 0,
) -> Prepared:
    """Generate the authors, fine-tune (or load cached) target and retain models, draw evaluation sets."""
    cache = cache_dir() / "finetuned"
    gen_tokens = 16
    if quick:
        base, n_authors, forget_sizes, n_eval, epochs, lr, gen_tokens = quick_base(cache), 8, (2, 3), 12, 3, 3e-3, 8
    splits = make_splits(n_authors, forget_sizes, seed)
    cfg = FinetuneConfig(epochs=epochs, lr=lr, seed=seed)
    target_ckpt = finetune(base, pairs(splits.qa), cache, "authors-target", cfg)
    retain_ckpts = {k: finetune(base, pairs(splits.retain(k)), cache, f"authors-retain{k}", cfg) for k in forget_sizes}
    k_max = max(forget_sizes)
    held_aside = [a.name for a in splits.authors[k_max : k_max + 2]]
    retain_pool = [x for x in splits.retain(k_max) if x.author not in held_aside]
    retain_eval = random.Random(seed).sample(retain_pool, min(n_eval, len(retain_pool)))
    fit_authors = [a.name for a in splits.authors[k_max : k_max + FIT_AUTHORS]]
    fit_qa = [x for x in splits.qa if x.author in fit_authors and x not in retain_eval]
    fixed = {
        "retain": [eval_item(x) for x in retain_eval],
        "real_authors": tofu_set("real_authors", n_eval, seed),
        "world_facts": tofu_set("world_facts", n_eval, seed),
    }
    command = "eco bench authors" + (" --quick" if quick else f" --authors {n_authors} --epochs {epochs} --lr {lr:g}")
    command += f" --seed {seed}" if seed else ""
    return Prepared(splits, target_ckpt, retain_ckpts, fixed, fit_authors, fit_qa, lr, gen_tokens, cache, base,
                    command, cfg)  # fmt: skip


ECO_ROWS = {"rand_noise_first_n": "eco_rand_noise", "zero_out_top_k": "eco_zero_out",
            "flip_sign_top_k": "eco_sign_flip"}  # fmt: skip


def fit_eco(target: ECOModel, splits: AuthorSplits, fit_qa: list[AuthorQA], *, seeds: int = 1, grid: int = 7,
            refine: int = 4, reference_authors: int = 6, gen_tokens: int = 16,
            selections: tuple[str, ...] = FIT_SELECTIONS) -> tuple[FamilyFit, DistributionObjective]:  # fmt: skip
    """Choose the corruption family, its σ or k and the token selection on the fit questions, by the
    distribution objective.

    The corrupted target's log truth ratios on the fit questions (trained, in no evaluation set) are
    matched, as a distribution (KS), to the clean target's on authors nobody was trained on: the splits'
    held-out authors plus ``reference_authors`` more (``unseen_qa``; two authors alone skew the sample by
    their idiosyncrasies). Its inputs are the target and generated QA only: no retain model is read (tested).
    """
    fit_items, unseen = fit_inputs(splits, fit_qa, reference_authors)
    return fit_family(target, fit_items, unseen, seeds=seeds, grid=grid, refine=refine, gen_tokens=gen_tokens,
                      selections=selections)  # fmt: skip


def fit_inputs(splits: AuthorSplits, fit_qa: list[AuthorQA], reference_authors: int = 6,
               ) -> tuple[list[QAItem], list[QAItem]]:  # fmt: skip
    """The fit items and the never-seen reference items of ``fit_eco`` (``scripts/authors_ties.py`` rebuilds a
    recorded fit's from them)."""
    unseen = [*splits.held_out, *unseen_qa(splits, reference_authors)]
    return [truth_item(x) for x in fit_qa], [truth_item(x) for x in unseen]


def fit_base_target() -> Target:
    """The target every candidate of the authors fit is derived from (its gate flags everything: the fit
    items are all in scope; the selection and corruption are what the search sets)."""
    return Target.create("authors-fit", gate={"kind": "always"}, selection={"mode": "proper_nouns"},
                         corruption={"name": "rand_noise_first_n", "dims": None})  # fmt: skip


def fit_family(target: ECOModel, fit_items: list[QAItem], reference: list[QAItem], *, seeds: int = 1, grid: int = 7,
               refine: int = 4, selections: tuple[str, ...] = FIT_SELECTIONS, gen_tokens: int = 16,
               ) -> tuple[FamilyFit, DistributionObjective]:  # fmt: skip
    """The distribution fit on any fit items against any never-seen reference (``fit_eco``, ``eco bench tofu``).

    Each family is searched under each of ``selections``: ``answer_facts`` corrupts the question's names and
    the scored answer's content words, no entity list needed; ``all_but_last`` every token. The
    candidate chosen is the lowest objective among those whose ``gen_tokens``-token answers to the fit
    questions pass :func:`fluent_check`, ties within its bootstrap interval going to zero-out
    (``FIT_TIES``)."""
    fit_target = fit_base_target()
    objective = DistributionObjective.from_unseen(target, fit_items, reference)
    with status("fitting the corruption family, strength and token selection on the fit items"):
        check = fluent_check(target, [it.question for it in fit_items], gen_tokens, chat=False)
        fit = fit_corruption(target, fit_target, objective, cfg=FitConfig(seeds=seeds), grid=grid, refine=refine,
                             selections=selections, admissible=check, ties=FIT_TIES,
                             prefer=FIT_PREFER)  # fmt: skip
    return fit, objective


def eco_row(candidate: dict) -> str:
    """The method row of a fitted candidate: ``eco_<family>``, suffixed by its selection unless it is the
    first default one (the names and facts)."""
    mode = candidate["selection"]  # fit_corruption records every candidate's selection
    return ECO_ROWS[candidate["name"]] + ("" if mode == FIT_SELECTIONS[0] else f"_{mode}")


def fit_record(fit: FamilyFit, objective: DistributionObjective, fit_items: str) -> dict:
    """What the results JSON keeps of a fit; ``fit_items`` says where the fit items came from."""
    return {
        "chosen": fit.name,
        "selection": fit.selection,
        "strength": fit.strength,
        "dims": fit.dims,
        "objective": fit.objective,
        "distance": objective.distance,
        "reason": fit.reason,
        "candidates": fit.candidates,
        "evaluations": fit.evaluations,
        "forward_passes": fit.forward_passes,
        "seconds": fit.seconds,
        "fit_items": fit_items,
        "reference_items": len(objective.reference),
        "reference_sample": objective.reference,
        "trajectory": fit.trajectory,
    }


@dataclass
class SplitData:
    """One forget split as the protocol reads it, from the built-in generator or from the user's TOFU files."""

    split: str
    forget: list[EvalItem]
    forget_pairs: list[tuple[str, str]]
    """The forget questions with their answers: the gate's forget prompts and the baselines' forget data."""
    retain_pairs: list[tuple[str, str]]
    """The retain questions with their answers: the gate's retain prompts and the baselines' retain data."""
    sets: dict[str, list[EvalItem]]
    """The utility sets: ``retain``, ``real_authors``, ``world_facts``."""
    entities: list[str]
    """Names the gate matches as entity evidence (may be empty)."""
    prompting_names: list[str]
    """Who the prompting baseline is told it never heard of."""
    hidden_forget: list[EvalItem] | None = None
    """The forget questions about authors renamed to names nobody was trained on (the ``hidden_name`` row;
    generated data only)."""


@dataclass
class Models:
    """The checkpoints one split is evaluated with."""

    target: ECOModel
    target_ckpt: Path
    retain: ECOModel


def run(
    out_dir: Path = Path("runs/bench/authors"),
    *,
    baselines: tuple[str, ...] = (),
    unlearn_cfg: UnlearnConfig | None = None,
    noise_seeds: int = 3,
    selections: tuple[str, ...] = FIT_SELECTIONS,
    curves: bool = False,
    **prepare_kw,
) -> dict:
    """The whole task; ``prepare_kw`` go to :func:`prepare` (base, n_authors, forget_sizes, …, quick).
    ``selections`` are the token selections the corruption fit searches (each gets its method rows);
    ``curves`` adds the strength trade-off (:func:`trade_off`, about 80 s a point on SmolLM2).

    Every ECO row is reported twice: with the target's real gate and with an *oracle* gate (exactly the
    forget questions flagged); the gap is the gate's share. Noise-based rows run ``noise_seeds`` noise draws:
    forget quality is their median, with the range.
    """
    t_start = time.perf_counter()
    check_modes(selections)  # before any fine-tuning
    out_dir.mkdir(parents=True, exist_ok=True)
    prep = prepare(**prepare_kw)
    splits, target_ckpt = prep.splits, prep.target_ckpt
    unlearn_cfg = unlearn_cfg or UnlearnConfig(lr=prep.lr)  # TOFU unlearns at its fine-tuning learning rate
    target = ECOModel.from_pretrained(str(target_ckpt))
    quick = prepare_kw.get("quick", False)
    grid, refine = fit_budget(quick)
    fit, objective = fit_eco(target, splits, prep.fit_qa, grid=grid, refine=refine, gen_tokens=prep.gen_tokens,
                             selections=selections)  # fmt: skip
    noise_seeds = min(noise_seeds, QUICK_NOISE_SEEDS) if quick else noise_seeds
    result: dict = {
        "benchmark": "authors",
        "command": prep.command
        + (f" --selections {','.join(selections)}" if tuple(selections) != FIT_SELECTIONS else "")
        + (f" --baselines {','.join(baselines)}" if baselines else "")
        + (" --curves" if curves else ""),
        "base": prep.base,
        "seed": prepare_kw.get("seed", 0),
        "data": f"{len(splits.authors)} fictitious authors × {len(splits.qa) // len(splits.authors)} QA",
        "n_eval": {k: len(v) for k, v in prep.fixed.items()},
        "finetune": {"target": _cost(target_ckpt)} | {f"retain{k}": _cost(c) for k, c in prep.retain_ckpts.items()},
        "fit": fit_record(fit, objective, f"{len(prep.fit_qa)} questions of authors {', '.join(prep.fit_authors)}"),
        "noise_seeds": noise_seeds,
        "splits": {},
    }
    cache: dict[str, SetScores] = {}  # the original model's scores on the fixed sets, shared by the splits
    for k in splits.forget_sizes:
        names = [a.name for a in splits.authors[:k]]
        data = SplitData(splits.split_name(k), prep.forget_items(k), pairs(splits.forget(k)),
                         pairs(splits.retain(k)), prep.fixed, names, names,
                         [eval_item(x) for x in hidden_names(splits, splits.forget(k))])  # fmt: skip
        models = Models(target, target_ckpt, ECOModel.from_pretrained(str(prep.retain_ckpts[k])))
        result["splits"][data.split] = run_split(
            data, models, fit, out_dir / "targets" / data.split, baselines=baselines, unlearn_cfg=unlearn_cfg,
            noise_seeds=noise_seeds, gen_tokens=prep.gen_tokens, cache=cache, unlearned_dir=prep.cache / "unlearned",
            reference=objective.reference,
        )  # fmt: skip
        atomic_write_json(out_dir / "results.partial.json", result)  # a long run keeps what it has so far
    if curves:
        result |= trade_off(target, prep, fit, result["splits"])
    result["seconds"] = time.perf_counter() - t_start
    write_report(out_dir, result, report_html(result))
    (out_dir / "results.partial.json").unlink(missing_ok=True)
    return result


def oracle_target(split: str, entities: list[str]) -> Target:
    """The oracle gate of a split's ``_oracle`` rows: every prompt flagged, the real target's entities."""
    return Target.create(f"authors-{split}-oracle", gate={"kind": "always"}, selection={"mode": "proper_nouns"},
                         entities=entities)  # fmt: skip


def trade_off(target: ECOModel, prep: Prepared, fit: FamilyFit, splits: dict) -> dict:
    """``curves``: along each family's σ or k, at the token selection the fit chose, forget quality on every
    split (every forget question corrupted, as the oracle gate serves them) and, with every utility question
    corrupted, each utility set's figure (:func:`set_utility`) and the model utility (their harmonic mean):
    what a gate false positive would cost; served through a precise gate, utility stays the original's at
    any strength. ``served``: each family's fitted setting, the star on its curve. One noise draw, the rows'
    first (``forget_quality_seeds[0]``): about 80 s a point on SmolLM2. Forget quality reads the recorded
    retain model's truth ratios, evaluation only, as the rows do."""
    chosen = [c for c in fit.candidates if c["selection"] == fit.selection]
    served = {eco_row(c): {k: c[k] for k in ("name", "strength", "dims")} for c in chosen}
    points = {row: [p | {"selection": fit.selection} for p in ps]
              for row, ps in points_around(served, target.hidden_size).items()}  # fmt: skip

    def quality(split: str):
        ref = splits[split]["methods"]["retain"]["sets"]["forget"]["ratios"]
        return lambda eco, items, seed: forget_quality(
            evaluate_set(eco, items, options_normalised=False, generate=False).ratios, ref
        )

    def utility(s: str):
        return lambda eco, items, seed: set_utility(
            evaluate_set(eco, items, options_normalised=s in _OPT, max_new_tokens=prep.gen_tokens)
        )

    def oracle(k: int) -> Target:
        return oracle_target(prep.splits.split_name(k), [a.name for a in prep.splits.authors[:k]])

    curves = {row: [{k: v for k, v in p.items() if k != "name"} for p in ps] for row, ps in points.items()}
    runs = [(oracle(k), {prep.splits.split_name(k): prep.forget_items(k)}, quality(prep.splits.split_name(k)))
            for k in prep.splits.forget_sizes]  # fmt: skip
    # utility: a false positive of the largest split's gate (its entities name the most authors)
    runs.append((oracle(max(prep.splits.forget_sizes)), prep.fixed, {s: utility(s) for s in prep.fixed}))
    for t, sets, score in runs:
        for row, rows in strength_curves(target, t, sets, score, points).items():
            for mine, theirs in zip(curves[row], rows):
                mine |= {s: theirs[s] for s in sets}
    for p in (p for ps in curves.values() for p in ps):
        p["model_utility"] = float(stats.hmean([p[s] for s in UTILITY_SETS]))
    return {"curves": curves, "served": served}


def run_split(
    data: SplitData,
    models: Models,
    fit: FamilyFit,
    target_dir: Path,
    *,
    baselines: tuple[str, ...],
    unlearn_cfg: UnlearnConfig,
    noise_seeds: int,
    gen_tokens: int,
    unlearned_dir: Path,
    cache: dict[str, SetScores] | None = None,
    reference: list[float] | None = None,
) -> dict:
    """One split: the gate, every method on every set, TOFU's metrics, fluency and costs.

    ``cache`` keeps the original model's scores on the utility sets across splits (they do not change).
    ``reference``: the fit's never-seen reference sample (log truth ratios); its forget quality against the
    retain model, ``surrogate_forget_quality``, is what a corruption reproducing the reference exactly would
    score: how far the fit's aim itself is from the model that never saw the forget authors.
    An ECO method whose gate flags nothing in a set runs exactly as the original model there (unflagged
    traffic is the plain model), so those scores are reused rather than recomputed.
    """
    cache = {} if cache is None else cache
    target = models.target

    def scores(eco: ECOModel, key: str | None, items, options: bool, prefix: str = "") -> SetScores:
        if key is not None and key in cache:
            return cache[key]
        s = evaluate_set(eco, items, options_normalised=options, prefix=prefix, max_new_tokens=gen_tokens)
        if key is not None:
            cache[key] = s
        return s

    forget_items = data.forget
    t0 = time.perf_counter()
    gate, calibration = create_target(
        f"authors-{data.split}", [q for q, _ in data.forget_pairs], [q for q, _ in data.retain_pairs], target_dir,
        alpha=0.1, selection={"mode": "proper_nouns"}, entities=data.entities, overwrite=True,
    )  # fmt: skip
    gate_seconds = time.perf_counter() - t0
    sets = {"forget": forget_items, **data.sets}
    per_method: dict[str, dict[str, SetScores]] = {
        "original": {s: scores(target, f"original/{s}" if s != "forget" else None, v, s in _OPT)
                     for s, v in sets.items()},
        "retain": {s: scores(models.retain, None, v, s in _OPT) for s, v in sets.items()},
        "prompting": {s: scores(target, None, v, s in _OPT, prompting_prefix(data.prompting_names))
                      for s, v in sets.items()},
    }  # fmt: skip
    if data.hidden_forget:  # unflagged utility sets: the original model's scores
        per_method["hidden_name"] = per_method["original"] | {"forget": scores(target, None, data.hidden_forget, False)}
    flagged = {  # the ECO rows share one gate: score each set once
        s: flag_rate(target, gate, [qa_prompt(it.question) for it in v]) for s, v in sets.items()
    }
    oracle = oracle_target(data.split, data.entities)
    exact = flagged["forget"] == 1.0 and not any(flagged[s] for s in sets if s != "forget")
    seeds_fq: dict[str, list[float]] = {}
    ref = per_method["retain"]["forget"].ratios
    for c in fit.candidates:
        spec = {"name": c["name"], "strength": c["strength"], "dims": c["dims"]}
        mode = c["selection"]
        n_seeds = noise_seeds if get_corruption(c["name"]).uses_strength else 1
        row = eco_row(c)
        for name, t in ((row, gate.with_corruption(**spec).with_selection(mode=mode)),
                        (row + "_oracle", oracle.with_corruption(**spec).with_selection(mode=mode))):  # fmt: skip
            if name.endswith("_oracle") and exact:  # the real gate flagged exactly the forget set: it is the oracle
                per_method[name], seeds_fq[name] = per_method[row], seeds_fq[row]
                continue
            per_method[name] = {}
            for s, v in sets.items():
                if s != "forget" and (name.endswith("_oracle") or flagged[s] == 0.0):
                    per_method[name][s] = per_method["original"][s]  # nothing flagged: the plain model, exactly
                else:
                    per_method[name][s] = scores(ECOModel(target.model, target.tokenizer, [t]), None, v, s in _OPT)
            more = [evaluate_set(ECOModel(target.model, target.tokenizer, [t], seed=sd), forget_items,
                                 options_normalised=False, generate=False) for sd in range(1, n_seeds)]  # fmt: skip
            seeds_fq[name] = [forget_quality(x.ratios, ref) for x in [per_method[name]["forget"], *more]]
    eco_cost = {"seconds": gate_seconds + fit.seconds, "forward_passes": fit.forward_passes, "backward_passes": 0}
    costs = {m: eco_cost for m in per_method if m.startswith("eco_")}
    for b, model, cost in unlearned_models(baselines, models.target_ckpt, data.forget_pairs, data.retain_pairs,
                                           unlearned_dir, unlearn_cfg):  # fmt: skip
        per_method[b] = {s: scores(model, None, v, s in _OPT) for s, v in sets.items()}
        costs[b] = cost
    prompts = [qa_prompt(it.question) for it in forget_items]
    fluent, scored = {}, {}  # the clean target scores; an oracle row reusing a real-gate row is scored once
    for m, ss in per_method.items():
        key = id(ss["forget"])
        if key not in scored:
            scored[key] = fluency(target, prompts, ss["forget"].answers)
        fluent[m] = scored[key]
    methods = {}
    for m, ss in per_method.items():
        fq = seeds_fq.get(m) or [forget_quality(ss["forget"].ratios, ref)]
        methods[m] = {
            "forget_quality": float(np.median(fq)),
            "forget_quality_seeds": fq,
            "model_utility": model_utility(ss),
            "fluency": fluent[m],
            "sets": {s: {kk: vv for kk, vv in asdict(x).items() if kk != "answers"} for s, x in ss.items()},
            "examples": ss["forget"].answers[:3],
            "cost": costs.get(m),
        }
    return {
        "forget_authors": len(data.prompting_names) or None,  # None: the files named no authors
        "forget_questions": len(forget_items),
        "gate": {"seconds": gate_seconds, "flag_rate": flagged,
                 "calibration": {c: calibration[c] for c in calibration if c.startswith(("fnr_", "fpr_"))}},
        "methods": methods,
        "surrogate_forget_quality": None if reference is None else forget_quality(np.exp(reference).tolist(), ref),
        "cost_ratio": _cost_ratio(methods, baselines, eco_row({"name": fit.name, "selection": fit.selection})),
    }  # fmt: skip


def run_baseline(
    method: str, split: str, *, quick: bool = False, unlearn_cfg: UnlearnConfig | None = None, **prepare_kw
) -> dict:
    """One weight-editing baseline on one split (``eco baseline run``): unlearn, then TOFU's two numbers."""
    prep = prepare(quick=quick, **prepare_kw)
    unlearn_cfg = unlearn_cfg or UnlearnConfig(lr=prep.lr)
    k = prep.split_k(split)
    forget, retain = pairs(prep.splits.forget(k)), pairs(prep.splits.retain(k))
    ckpt = unlearn(method, prep.target_ckpt, forget, retain, prep.cache / "unlearned", unlearn_cfg)
    model = ECOModel.from_pretrained(str(ckpt))
    sets = {"forget": prep.forget_items(k), **prep.fixed}
    ss = {
        s: evaluate_set(model, v, options_normalised=s in _OPT, max_new_tokens=prep.gen_tokens) for s, v in sets.items()
    }
    reference = evaluate_set(ECOModel.from_pretrained(str(prep.retain_ckpts[k])), sets["forget"],
                             options_normalised=False, max_new_tokens=prep.gen_tokens)  # fmt: skip
    return {
        "method": method,
        "split": split,
        "checkpoint": str(ckpt),
        "forget_quality": forget_quality(ss["forget"].ratios, reference.ratios),
        "model_utility": model_utility(ss),
        "forget_rouge_l": ss["forget"].rouge_l,
        "cost": unlearn_record(ckpt)["cost"],
    }


def _cost_ratio(methods: dict, baselines: tuple[str, ...], eco_row: str) -> dict | None:
    """Baseline setup seconds / ECO's (classifier + calibration + fit), for the cheapest baseline and for the
    cheapest one whose forget quality reaches ECO's (the fitted family's row)."""
    if not baselines:
        return None
    eco = methods[eco_row]
    secs = {b: methods[b]["cost"]["seconds"] for b in baselines}
    reaching = [b for b in baselines if methods[b]["forget_quality"] >= eco["forget_quality"]]
    cheapest = min(secs, key=secs.get)
    out = {"eco_seconds": eco["cost"]["seconds"], "cheapest": cheapest,
           "cheapest_ratio": secs[cheapest] / eco["cost"]["seconds"]}  # fmt: skip
    if reaching:
        best = min(reaching, key=secs.get)
        out |= {"cheapest_comparable": best, "comparable_ratio": secs[best] / eco["cost"]["seconds"]}
    return out


_OPT = {"real_authors", "world_facts"}  # option-normalised probability (no paraphrase in those sets)


def _cost(ckpt: Path) -> dict:
    r = training_record(ckpt)
    return {k: r[k] for k in ("examples", "steps", "tokens", "seconds", "tokens_per_s")} | {"final_loss": r["loss"][-1]}
