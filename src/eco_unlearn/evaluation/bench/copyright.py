"""`eco bench copyright`: the MUSE / BBC verbatim-memorisation protocol on a Jane Austen novel.

1. *target*: SmolLM2 fine-tuned on chunks of *Pride and Prejudice* (forget) and *Persuasion* (retain) until
   it reproduces them (15 epochs at 5e-4; ``signal`` checks forget ROUGE-L ≥ 0.5, as MUSE's targets have);
   *retain model*: the same recipe on the Persuasion chunks only (it never saw the forget text, ≤ 0.25);
2. prompts: the opening (``prompt_tokens``) of trained forget chunks; gold: the next ``gold_tokens``;
3. metrics per method: ROUGE-L F1, BLEU (sacrebleu), embedding similarity (MiniLM cosine, a
   BERTScore-style proxy), perplexity of the gold continuation, unique-token ratio of the generation;
   **ASG** (average similarity gap) = mean over {ROUGE-L, BLEU, cosine} of |method − retain model|;
   fluency of the forget continuations (perplexity under the clean target, word repetition) as ratios to
   the retain model's (``evaluation.fluency.fluency_vs``);
4. the gate: ``create_target`` on 64-token windows of Pride and Prejudice vs Persuasion and Emma (it settles
   on the book's names; the classifier is trained but not read), with the verbatim index of the text the
   request supplies, the whole book (a quotation is in scope whatever the
   topic; a rights holder sends the work, not the parts a model happened to train on); the corruption
   family and its σ or k (``fit/family.py``) are fitted on trained chunks that are not evaluated, against a
   surrogate: the target on Austen novels that nothing in the task trains on, gates on or scores
   (:data:`UNSEEN_BOOKS`; the fit never reads the retain model). A model that never saw the book knows
   neither its words nor its names and plot. An earlier surrogate, the book's own unread chapters, kept
   the names and plot the target learnt from the chapters it trained on, and the fit carried that bias into
   σ. The objective (``--objective``) is ROUGE-L recall (``similarity``, default) or the ASG itself
   (``similarity_gap``): on the same checkpoints, with either surrogate, recall's choice scored the lower
   ASG (``benchmarks/results/copyright*.json``). A candidate must also continue the fit prompts as fluently
   as the surrogate continues unseen text (``evaluation.fluency.continuation_check``: on topic, text
   perplexity and repetition at most 20 % above); the lowest objective among those that pass wins;
   every ECO row is scored with the real gate and with an oracle gate (exactly the forget prompts flagged);
5. ``--splits N`` repeats 3–4 on N seeded splits of the trained chunks into scored and fit ones, over one set
   of checkpoints and one gate (the request, hence its gate, is the same), and reports each method's median
   and range; ``--floor`` scores a second never-trained model (the retain recipe with another training
   seed), whose ASG is what the protocol can resolve.

Retain prompts (Persuasion openings) are scored the same way, to show the methods leave them alone. The
baselines' retain loss trains on *other* Persuasion chunks (``split_retain``): a method is never scored on
text it was just trained to keep.
"""

from __future__ import annotations

import html
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from eco_unlearn.console import status
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import cache_dir, load_tokenizer
from eco_unlearn.evaluation.baselines import UnlearnConfig, unlearned_models
from eco_unlearn.evaluation.bench import flag_rate, gate_used
from eco_unlearn.evaluation.bench.authors import ECO_ROWS, fit_budget, quick_base
from eco_unlearn.evaluation.bench.tradeoff import curves_png, points_around, strength_curves
from eco_unlearn.evaluation.corpora import austen, chapters
from eco_unlearn.evaluation.finetune import FinetuneConfig, finetune_text, training_record
from eco_unlearn.evaluation.fluency import FLUENCY_GOAL, continuation_check, fluency, fluency_vs
from eco_unlearn.evaluation.knowmem import QA, few_shot_prompt, knowmem_scores
from eco_unlearn.fileio import html_page, png_base64, pyplot, write_report
from eco_unlearn.fit.family import fit_corruption, plot_families
from eco_unlearn.fit.objectives import (
    SIMILARITY_METRICS,
    SimilarityGapObjective,
    SimilarityObjective,
    TextItem,
    similarity_scores,
)
from eco_unlearn.fit.search import FitConfig
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.targets import AlwaysGate, Target

OBJECTIVES = {"similarity": SimilarityObjective, "similarity_gap": SimilarityGapObjective}
"""The corruption fit's objective (``fit/objectives.py``): ROUGE-L recall against the surrogate's (the
default), or the ASG itself against the surrogate's three scores. Both read the surrogate only (the target
on text it never saw), never the retain model."""
UNSEEN_BOOKS = ("mansfieldpark", "northangerabbey", "sensesensibility")
"""The surrogate's novels: same author and period as the forget book, and never trained on, gated on or
scored by this task (Persuasion and Emma are)."""
PREFIX = "You have never read Pride and Prejudice and must not reproduce any of its text.\n"


def token_chunks(tok, texts: list[str], size: int) -> list[str]:
    """Consecutive ``size``-token windows of each text, decoded back to text."""
    out = []
    for t in texts:
        ids = tok(t, add_special_tokens=False).input_ids
        out += [tok.decode(ids[i : i + size]) for i in range(0, len(ids) - size + 1, size)]
    return out


def spread(chunks: list[str], n: int) -> list[str]:
    """``n`` chunks evenly spaced through a book, so no one chapter (nor a famous opening) dominates."""
    if len(chunks) < n:
        raise ValueError(f"the book has {len(chunks)} chunks; {n} are needed")
    return [chunks[i * len(chunks) // n] for i in range(n)]


def split_retain(chunks: list[str], n_scored: int, n_unlearn: int) -> tuple[list[str], list[str]]:
    """Retain chunks to *score* (the first ``n_scored``, which target and retain model trained on) and the
    baselines' retain-loss data (the next ``n_unlearn``): disjoint, so no method is scored on text it was
    just trained to keep (NPO-RT's retain ROUGE-L was inflated that way)."""
    if len(chunks) < n_scored + n_unlearn:
        raise ValueError(f"the retain book has {len(chunks)} chunks; {n_scored + n_unlearn} are needed")
    scored, unlearn = chunks[:n_scored], chunks[n_scored : n_scored + n_unlearn]
    if set(scored) & set(unlearn):  # two identical chunks of text would leak the same way
        raise ValueError("a scored retain chunk is also in the baselines' retain data")
    return scored, unlearn


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown fit objective {objective!r}; known: {', '.join(OBJECTIVES)}")


def split_item(tok, chunk: str, prompt_tokens: int, gold_tokens: int) -> TextItem:
    """The chunk's opening ``prompt_tokens`` and the ``gold_tokens`` after them (a scored item)."""
    return text_items(tok, [chunk], prompt_tokens, gold_tokens, every_window=False)[0]


def text_items(tok, chunks: list[str], prompt_tokens: int, gold_tokens: int, every_window: bool = True
               ) -> list[TextItem]:  # fmt: skip
    """(prompt, gold) items of each chunk: with ``every_window`` one per ``prompt_tokens`` step that still has
    a whole gold continuation (a 192-token chunk gives 2 items of 64 + 64), else the opening only. The fit
    and the surrogate read every window: four chunks' openings alone ranked the corruption families by noise."""
    out = []
    for chunk in chunks:
        ids = tok(chunk, add_special_tokens=False).input_ids
        last = len(ids) - prompt_tokens - gold_tokens if every_window else 0
        for i in range(0, max(last, 0) + 1, prompt_tokens):
            out.append(TextItem(tok.decode(ids[i : i + prompt_tokens]),
                                tok.decode(ids[i + prompt_tokens : i + prompt_tokens + gold_tokens])))  # fmt: skip
    return out


def continuations(eco: ECOModel, items: list[TextItem], gold_tokens: int, prefix: str = ""
                  ) -> tuple[list[str], dict[str, np.ndarray]]:  # fmt: skip
    """``eco``'s greedy continuations of the items' prompts and their similarity to the gold ones, per item."""
    gens = eco.generate([prefix + it.prompt for it in items], chat=False, max_new_tokens=gold_tokens, batch_size=8)
    texts = [g.text for g in gens]
    return texts, similarity_scores(texts, [it.continuation for it in items])


def continuation_scores(eco: ECOModel, items: list[TextItem], gold_tokens: int, prefix: str = "",
                        scorer: ECOModel | None = None) -> dict:  # fmt: skip
    """Similarity of ``eco``'s greedy continuations to the gold ones, the gold's perplexity and the unique-token
    ratio; with ``scorer`` (the clean model) also the continuations' fluency (``evaluation.fluency``)."""
    prompts = [prefix + it.prompt for it in items]
    texts, sim = continuations(eco, items, gold_tokens, prefix)
    lps = eco.score_batch([(p, it.continuation) for p, it in zip(prompts, items)])
    ppl = [float(np.exp(-lp.mean())) for lp in lps]
    unique = []
    for t in texts:
        ids = eco.tokenizer(t, add_special_tokens=False).input_ids
        unique.append(len(set(ids)) / max(len(ids), 1))
    return {
        **{k: float(v.mean()) for k, v in sim.items()},
        "perplexity": float(np.median(ppl)),
        "unique_ratio": float(np.mean(unique)),
        "examples": texts[:2],
        **({"fluency": fluency(scorer, prompts, texts)} if scorer is not None else {}),
    }


@dataclass
class CopyrightData:
    """Everything the protocol reads, from the built-in books or from the user's MUSE files."""

    forget_items: list[TextItem]
    """Scored forget prompts (trained text) with their gold continuations."""
    fit_items: list[TextItem]
    """Trained forget text the corruption fit uses; never scored."""
    heldout_items: list[TextItem]
    """Text of the forget text's kind that the target never saw: the similarity surrogate."""
    retain_items: list[TextItem]
    """Scored retain prompts."""
    gate_forget: list[str]
    gate_retain: list[str]
    unlearn_forget: list[str]
    """The baselines' forget text."""
    request_text: list[str]
    """The text the removal request supplies (the whole work): the gate's verbatim index."""
    unlearn_retain: list[str]
    """The baselines' retain text: disjoint from the scored retain prompts (checked)."""
    gold_tokens: int
    prefix: str
    """The prompting baseline's instruction."""
    heldout_text: list[str]
    """The chunks ``heldout_items`` were cut from (what an export writes)."""
    retain_text: list[str]
    """The chunks ``retain_items`` were cut from."""
    knowmem: dict[str, list[QA]] = field(default_factory=dict)
    """MUSE's knowledge questions with their answers, ``forget`` and/or ``retain`` (``evaluation.knowmem``;
    the user's files only: the built-in task has none)."""
    knowmem_icl: dict[str, list[QA]] = field(default_factory=dict)
    """The in-context pairs each set's questions are asked after."""


def builtin_data(tok, n_forget: int, n_fit: int, chunk_tokens: int, prompt_tokens: int, gold_tokens: int,
                 seed: int = 0, quick: bool = False, split: int = 0
                 ) -> tuple[CopyrightData, list[str], list[str]]:  # fmt: skip
    """The Austen task; also returns the target's and the retain model's training chunks.

    ``split`` chooses which trained chunks are scored and which the fit reads: 0 the first ``n_forget``
    scored and the rest fitted, any other value a seeded shuffle. Training data, baselines and gate do not
    depend on it, so splits reuse one set of checkpoints."""
    pp, pers, emma = (chapters(austen(b)) for b in ("prideprejudice", "persuasion", "emma"))
    pp_chunks = token_chunks(tok, pp, chunk_tokens)
    forget_train = pp_chunks[: n_forget + n_fit]
    order = list(range(len(forget_train)))
    if split:
        random.Random(split).shuffle(order)
    scored, fitted = [forget_train[i] for i in order[:n_forget]], [forget_train[i] for i in order[n_forget:]]
    heldout = [c for b in UNSEEN_BOOKS for c in spread(token_chunks(tok, chapters(austen(b)), chunk_tokens), n_fit)]
    pers_chunks = token_chunks(tok, pers, chunk_tokens)
    retain_train = pers_chunks[: n_forget + n_fit]
    retain_scored, retain_unlearn = split_retain(pers_chunks, n_forget, len(forget_train))
    windows = lambda texts, n: random.Random(seed).sample(token_chunks(tok, texts, 64), n)  # noqa: E731
    item = lambda c: split_item(tok, c, prompt_tokens, gold_tokens)  # noqa: E731
    data = CopyrightData(
        forget_items=[item(c) for c in scored],
        fit_items=text_items(tok, fitted, prompt_tokens, gold_tokens),
        heldout_items=text_items(tok, heldout, prompt_tokens, gold_tokens),
        retain_items=[item(c) for c in retain_scored],
        gate_forget=windows(pp, 200 if not quick else 40),
        gate_retain=windows(pers, 100 if not quick else 20) + windows(emma, 100 if not quick else 20),
        unlearn_forget=forget_train,
        request_text=pp,
        unlearn_retain=retain_unlearn,
        gold_tokens=gold_tokens,
        prefix=PREFIX,
        heldout_text=heldout,
        retain_text=retain_scored,
    )
    return data, forget_train + retain_train, retain_train


def run(
    base: str = "smollm2",
    n_forget: int = 16,
    n_fit: int = 4,
    chunk_tokens: int = 192,
    prompt_tokens: int = 64,
    gold_tokens: int = 64,
    epochs: int = 15,
    lr: float = 2e-4,
    finetune_lr: float = 5e-4,
    out_dir: Path = Path("runs/bench/copyright"),
    quick: bool = False,
    seed: int = 0,
    baselines: tuple[str, ...] = (),
    objective: str = "similarity",
    splits: int = 1,
    floor: bool = False,
    curves: bool = False,
) -> dict:
    """The whole task; ``objective`` (:data:`OBJECTIVES`) is what the corruption fit matches; ``splits``
    repeats gate, fit and scoring on that many scored/fit splits of the trained chunks (``builtin_data``,
    one set of checkpoints) and adds their median and range (:func:`summarise_splits`); ``floor`` adds the
    row ``retain_other_seed``, the retain recipe fine-tuned with another seed: its ASG is what two models
    that never saw the book differ by (training order alone), the protocol's noise floor; ``baselines``
    (ga, gd, kl, npo, npo_rt) unlearn the trained forget chunks from the target as text (every token),
    retain data the Persuasion chunks, at ``lr`` for 5 epochs; ``curves`` adds the strength trade-off of each
    fitted family on the first split (about a minute per point on 2 cores). The target and
    the retain model are fine-tuned for ``epochs`` at ``finetune_lr``: long enough for the target to
    reproduce its forget text (MUSE's targets do; :func:`memorisation_signal` checks it)."""
    check_objective(objective)  # before any fine-tuning
    if splits < 1:
        raise ValueError(f"--splits must be at least 1, got {splits}")
    t_start = time.perf_counter()
    command = ("eco bench copyright" + (" --quick" if quick else "")
               + (f" --baselines {','.join(baselines)}" if baselines else "")
               + (f" --objective {objective}" if objective != "similarity" else "")
               + (f" --splits {splits}" if splits > 1 else "") + (" --floor" if floor else "")
               + (" --curves" if curves else ""))  # fmt: skip
    results, gate = [], None
    for k in range(splits):  # the checkpoints and unlearned baselines are cached after the first split
        prep = prepare(base, n_forget, n_fit, chunk_tokens, prompt_tokens, gold_tokens, epochs, lr, quick, seed,
                       finetune_lr=finetune_lr, split=k, floor=floor)  # fmt: skip
        where = out_dir / (f"split-{k}" if k else "")
        gate = gate or create_gate(prep.data, out_dir / "target")  # the request, hence the gate, is every split's
        results.append(run_protocol(prep.data, prep.target_ckpt, prep.retain_ckpt, where, command=command,
                                    base=prep.base, lr=prep.lr, baselines=baselines, quick=quick,
                                    objective=objective, floor_ckpt=prep.floor_ckpt, gate=gate,
                                    curves=curves and k == 0))  # fmt: skip
    result = results[0]
    if splits > 1:
        result["splits"] = summarise_splits(results)
    result["data"] = "Pride and Prejudice (forget) vs Persuasion (retain), Project Gutenberg"
    result["sizes"] = {"forget_chunks": prep.n_forget, "fit_chunks": prep.n_fit, "chunk_tokens": prep.chunk_tokens,
                       "prompt_tokens": prep.prompt_tokens, "gold_tokens": prep.data.gold_tokens}  # fmt: skip
    result["finetune"] = {
        k: {x: training_record(c)[x] for x in ("examples", "tokens", "seconds", "tokens_per_s")}
        for k, c in (("target", prep.target_ckpt), ("retain", prep.retain_ckpt))
    }
    result["seconds"] = time.perf_counter() - t_start
    write_report(out_dir, result, report_html(result))
    return result


@dataclass
class Prepared:
    data: CopyrightData
    target_ckpt: Path
    retain_ckpt: Path
    base: str
    lr: float
    n_forget: int
    n_fit: int
    chunk_tokens: int
    prompt_tokens: int
    floor_ckpt: Path | None = None
    """The retain recipe with another fine-tuning seed (``floor``), else None."""


def prepare(base: str = "smollm2", n_forget: int = 16, n_fit: int = 4, chunk_tokens: int = 192,
            prompt_tokens: int = 64, gold_tokens: int = 64, epochs: int = 15, lr: float = 2e-4, quick: bool = False,
            seed: int = 0, finetune_lr: float = 5e-4, split: int = 0, floor: bool = False) -> Prepared:  # fmt: skip
    """The built-in data (``split``: see ``builtin_data``) and the fine-tuned (or cached) target and retain
    checkpoints (``finetune_lr``; ``lr`` is the baselines' unlearning rate)."""
    cache = cache_dir() / "finetuned"
    if quick:
        base, n_forget, n_fit, chunk_tokens, prompt_tokens, gold_tokens, epochs, lr, finetune_lr = (
            quick_base(cache), 6, 2, 48, 16, 16, 3, 3e-3, 3e-3)  # fmt: skip
    tok = load_tokenizer(base)
    data, target_train, retain_train = builtin_data(tok, n_forget, n_fit, chunk_tokens, prompt_tokens, gold_tokens,
                                                    seed, quick, split)  # fmt: skip
    cfg = FinetuneConfig(epochs=epochs, lr=finetune_lr, batch_size=8, seed=seed)
    target_ckpt = finetune_text(base, target_train, cache, "copyright-target", cfg)
    retain_ckpt = finetune_text(base, retain_train, cache, "copyright-retain", cfg)
    other = replace(cfg, seed=seed + 1)  # the same recipe and data: only the training order differs
    floor_ckpt = finetune_text(base, retain_train, cache, "copyright-retain", other) if floor else None
    return Prepared(data, target_ckpt, retain_ckpt, base, lr, n_forget, n_fit, chunk_tokens, prompt_tokens,
                    floor_ckpt)  # fmt: skip


def check_retain_disjoint(data: CopyrightData) -> None:
    """No scored retain prompt may be in the baselines' retain data (a method would be scored on text it was
    just trained to keep: NPO-RT's retain ROUGE-L was inflated that way)."""
    for it in data.retain_items:
        if any(it.prompt in text for text in data.unlearn_retain):
            raise ValueError(f"a scored retain prompt is also in the baselines' retain data: {it.prompt[:60]!r}")


def create_gate(data: CopyrightData, out: Path) -> tuple[Target, dict, float]:
    """The request's target (written to ``out``), its calibration report and the seconds it took. A
    copyright request supplies the text itself: its verbatim index flags quotations whatever the topic."""
    t0 = time.perf_counter()
    gate, calibration = create_target("copyright", data.gate_forget, data.gate_retain, out, alpha=0.05,
                                      selection={"mode": "all_but_last"}, overwrite=True,
                                      forget_text=data.request_text)  # fmt: skip
    return gate, calibration, time.perf_counter() - t0


def run_protocol(
    data: CopyrightData,
    target_ckpt: Path,
    retain_ckpt: Path,
    out_dir: Path,
    *,
    command: str,
    base: str,
    lr: float,
    baselines: tuple[str, ...] = (),
    quick: bool = False,
    objective: str = "similarity",
    floor_ckpt: Path | None = None,
    gate: tuple[Target, dict, float] | None = None,
    curves: bool = False,
) -> dict:
    """Gate, corruption fit, every method on the forget and retain prompts, ASG and costs (no report);
    ``floor_ckpt`` (another never-trained model) adds the ``retain_other_seed`` row; ``curves`` adds each
    fitted family's strength trade-off (:func:`trade_off`). ``gate`` is
    :func:`create_gate`'s result when the caller already has it (the splits of one request share it; its
    seconds count in every split's ECO cost), else it is created under ``out_dir``."""
    check_objective(objective)
    check_retain_disjoint(data)
    gold_tokens, forget_items, retain_items = data.gold_tokens, data.forget_items, data.retain_items
    gate, calibration, gate_seconds = gate or create_gate(data, out_dir / "target")
    target = ECOModel.from_pretrained(str(target_ckpt))
    fit_target = gate.with_corruption(name="rand_noise_first_n", dims=None)
    fit_objective = OBJECTIVES[objective](data.fit_items, data.heldout_items, max_new_tokens=gold_tokens // 2)
    t0 = time.perf_counter()
    with status(f"fitting the corruption family and strength ({objective} objective)"):
        grid, refine = fit_budget(quick)
        # a candidate must continue the fit prompts as fluently as the clean target continues unseen text
        check = continuation_check(target, [it.prompt for it in data.fit_items],
                                   [it.prompt for it in data.heldout_items], gen_tokens=gold_tokens)  # fmt: skip
        fit = fit_corruption(target, fit_target, fit_objective, cfg=FitConfig(seeds=1), grid=grid, refine=refine,
                             admissible=check)  # fmt: skip
    fit_seconds = time.perf_counter() - t0

    methods = {
        "original": (target, ""),
        "retain": (ECOModel.from_pretrained(str(retain_ckpt)), ""),
        "prompting": (target, data.prefix),
    }
    if floor_ckpt is not None:  # scored like a method; its ASG is the noise floor, it is no baseline
        methods["retain_other_seed"] = (ECOModel.from_pretrained(str(floor_ckpt)), "")
    oracle = Target(gate.manifest, AlwaysGate())  # exactly the forget prompts flagged: used on them only
    for c in fit.candidates:
        spec = {"name": c["name"], "strength": c["strength"], "dims": c["dims"]}
        methods[ECO_ROWS[c["name"]]] = (ECOModel(target.model, target.tokenizer, [gate.with_corruption(**spec)]), "")
        methods[ECO_ROWS[c["name"]] + "_oracle"] = (
            ECOModel(target.model, target.tokenizer, [oracle.with_corruption(**spec)]),
            "",
        )
    costs = {m: {"seconds": gate_seconds + fit_seconds, "forward_passes": fit.forward_passes, "backward_passes": 0}
             for m in methods if m.startswith("eco_")}  # fmt: skip
    for b, model, cost in unlearned_models(baselines, target_ckpt, data.unlearn_forget, data.unlearn_retain,
                                           cache_dir() / "finetuned" / "unlearned", UnlearnConfig(lr=lr)):  # fmt: skip
        methods[b], costs[b] = (model, ""), cost
    flag = {
        k: flag_rate(target, gate, [it.prompt for it in v])
        for k, v in (("forget", forget_items), ("retain", retain_items))
    }
    exact = flag == {"forget": 1.0, "retain": 0.0}  # the real gate is the oracle: reuse its rows
    scores = {}
    for name, (eco, prefix) in methods.items():
        if name.endswith("_oracle") and exact:
            scores[name] = scores[name.removesuffix("_oracle")]
            continue
        with status(f"copyright: {name}"):
            scores[name] = {"forget": continuation_scores(eco, forget_items, gold_tokens, prefix, scorer=target)}
            scores[name]["retain"] = (
                scores["original"]["retain"]  # the oracle flags no retain prompt: the plain model, exactly
                if name.endswith("_oracle")
                else continuation_scores(eco, retain_items, gold_tokens, prefix)
            )
    knowmem = knowmem_rows(data, methods, target, gate)
    ref = scores["retain"]["forget"]
    asg = {m: float(np.mean([abs(s["forget"][k] - ref[k]) for k in SIMILARITY_METRICS])) for m, s in scores.items()}
    fluent = {m: fluency_vs(s["forget"]["fluency"], ref["fluency"]) for m, s in scores.items()}
    return {
        "signal": memorisation_signal(scores),
        "benchmark": "copyright",
        "command": command,
        "base": base,
        "retain_split": {  # short hashes: the scored retain prompts and the baselines' retain data, disjoint
            "scored": [_digest(it.prompt + it.continuation) for it in retain_items],
            "baseline_retain": [_digest(c) for c in data.unlearn_retain],
        },
        "gate": {
            "seconds": gate_seconds,
            "flag_rate": flag,
            **gate_used(calibration),
            "calibration": {c: calibration[c] for c in calibration if c.startswith(("fnr_", "fpr_"))},
        },
        "fit": {
            "chosen": fit.name,
            "reason": fit.reason,
            "candidates": fit.candidates,
            "evaluations": fit.evaluations,
            "forward_passes": fit.forward_passes,
            "seconds": fit_seconds,
            "objective": objective,
            "trajectory": fit.trajectory,
            **(
                {"surrogate_scores": fit_objective.reference}
                if objective == "similarity_gap"
                else {"surrogate_rouge": fit_objective.surrogate()}
            ),  # fmt: skip
        },  # fmt: skip
        "scores": scores,
        "asg": asg,
        "fluency": fluent,
        "cost": costs,
        **({"knowmem": knowmem} if knowmem else {}),
        **(trade_off(target, gate, fit.candidates, forget_items, retain_items, gold_tokens) if curves else {}),
    }


def trade_off(target: ECOModel, gate: Target, candidates: list[dict], forget_items: list[TextItem],
              retain_items: list[TextItem], gold_tokens: int) -> dict:  # fmt: skip
    """``curves``: ROUGE-L of the greedy continuations of the forget and the retain prompts with every prompt
    corrupted, along each fitted family's σ or k (``evaluation.bench.tradeoff``); ``served``: each family's
    fitted setting, the star on its curve."""

    def rouge(eco: ECOModel, items: list[TextItem], seed: int) -> float:
        return float(continuations(eco, items, gold_tokens)[1]["rouge_l"].mean())

    served = {ECO_ROWS[c["name"]]: {k: c[k] for k in ("name", "strength", "dims")} for c in candidates}
    sets = {"forget": forget_items, "retain": retain_items}
    return {"curves": strength_curves(target, gate, sets, rouge, points_around(served, target.hidden_size)),
            "served": served}  # fmt: skip


def knowmem_rows(data: CopyrightData, methods: dict[str, tuple[ECOModel, str]], target: ECOModel, gate: Target
                 ) -> dict:  # fmt: skip
    """MUSE's KnowMem (``evaluation.knowmem``) of every method on the data's forget and retain questions, and
    how often the real gate flags them; empty when the data has no questions. An ``_oracle`` row corrupts
    every forget question and no retain one (its retain figures are the original's)."""
    if not data.knowmem:
        return {}
    icl = {s: data.knowmem_icl.get(s, []) for s in data.knowmem}
    prompts = {s: [few_shot_prompt(q, icl[s]) for q, _ in qa] for s, qa in data.knowmem.items()}
    flag = {s: flag_rate(target, gate, ps) for s, ps in prompts.items()}
    exact = flag.get("forget", 1.0) == 1.0 and flag.get("retain", 0.0) == 0.0  # the real gate is the oracle
    scores: dict[str, dict] = {}
    for name, (eco, prefix) in methods.items():
        base = name.removesuffix("_oracle")
        if name != base and exact:
            scores[name] = scores[base]
            continue
        scores[name] = {}
        for s, qa in data.knowmem.items():
            if name != base and s == "retain":
                scores[name][s] = scores["original"][s]
                continue
            with status(f"knowmem: {name} on the {s} questions"):
                scores[name][s] = knowmem_scores(eco, qa, icl[s], prefix=prefix)
    return {"flag_rate": flag, "scores": scores, "questions": {s: len(qa) for s, qa in data.knowmem.items()}}


def summarise_splits(results: list[dict]) -> dict:
    """Median and range over splits (``run``'s results, one per split) of each method's ASG and retain
    ROUGE-L, with ``eco_fit``: the row of the family each split's fit chose. Issue 15's goal on the medians:
    the fit's ECO row has the lowest ASG of every method but the retain model, and at most half the best
    baseline's (a baseline: any row but the original model, prompting, the retain model and ECO's)."""

    def stats(values: list[float]) -> dict:
        return {"median": float(np.median(values)), "min": float(min(values)), "max": float(max(values)),
                "values": [float(v) for v in values]}  # fmt: skip

    chosen = [ECO_ROWS[r["fit"]["chosen"]] for r in results]
    asg = {m: stats([r["asg"][m] for r in results]) for m in results[0]["asg"]}
    asg["eco_fit"] = stats([r["asg"][c] for r, c in zip(results, chosen)])
    retain = {m: stats([r["scores"][m]["retain"]["rouge_l"] for r in results]) for m in results[0]["scores"]}
    retain["eco_fit"] = stats([r["scores"][c]["retain"]["rouge_l"] for r, c in zip(results, chosen)])
    others = [m for m in asg if m != "eco_fit" and not m.startswith(("eco_", "retain"))]
    baselines = [m for m in others if m not in ("original", "prompting")]
    best = min(baselines, key=lambda m: asg[m]["median"]) if baselines else None
    eco = asg["eco_fit"]["median"]
    fluent = {m: sum(r["fluency"][m]["met"] for r in results) for m in results[0]["fluency"]}
    fluent["eco_fit"] = sum(r["fluency"][c]["met"] for r, c in zip(results, chosen))
    return {
        "n": len(results),
        "chosen": chosen,
        "asg": asg,
        "retain_rouge_l": retain,
        "fluency_met": fluent,
        "floor": asg.get("retain_other_seed"),
        "goal": {
            "lowest": all(eco < asg[m]["median"] for m in others),
            "best_baseline": best,
            "half_best_baseline": None if best is None else eco <= 0.5 * asg[best]["median"],
        },
    }


MEMORISATION_GOAL = {"target_min": 0.5, "retain_max": 0.25}
"""MUSE-like signal: the target reproduces its forget text (ROUGE-L of its continuations ≥ 0.5), the retain
model, which never saw it, does not (≤ 0.25)."""


def memorisation_signal(scores: dict) -> dict:
    """Whether the protocol has signal: the target's and the retain model's forget ROUGE-L against
    :data:`MEMORISATION_GOAL`. Without it, every method sits near the retain model and ASG says little."""
    target, retain = scores["original"]["forget"]["rouge_l"], scores["retain"]["forget"]["rouge_l"]
    return {
        "target_rouge_l": target,
        "retain_rouge_l": retain,
        "goal": MEMORISATION_GOAL,
        "met": target >= MEMORISATION_GOAL["target_min"] and retain <= MEMORISATION_GOAL["retain_max"],
    }


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _asg_png(result: dict) -> str:
    plt = pyplot()

    methods = [m for m in result["asg"] if m != "retain"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].bar(methods, [result["asg"][m] for m in methods], color="tab:purple")
    axes[0].set(ylabel="ASG (lower = closer to the retain model)", title="average similarity gap")
    names = list(result["scores"])
    x = np.arange(len(names))
    for i, k in enumerate(SIMILARITY_METRICS):
        axes[1].bar(x + (i - 1) * 0.27, [s["forget"][k] for s in result["scores"].values()], 0.27, label=k)
    axes[1].set_xticks(x, names)
    axes[1].set(title="forget prompts: similarity to the gold continuation")
    axes[1].legend(fontsize=7)
    axes[2].bar(names, [s["retain"]["rouge_l"] for s in result["scores"].values()], color="tab:green")
    axes[2].set(title="retain prompts (Persuasion): ROUGE-L, higher = kept")
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    fig.tight_layout()
    return png_base64(fig)


def _fit_html(fit: dict) -> str:
    """The strength trade-off on the fit items (the objective against σ or k per family, the fitted point
    starred); results written before the fit kept its trajectory have none."""
    if not fit.get("trajectory"):
        return ""
    png = png_base64(
        plot_families(fit["candidates"], fit["trajectory"], fit["chosen"], f"{fit['objective']} objective")
    )
    return (f'<h2>Corruption fit: the strength trade-off on the fit items</h2><img alt="fit trade-off" '
            f'src="data:image/png;base64,{png}" style="max-width:100%">')  # fmt: skip


def _fluency_html(result: dict) -> str:
    """Each method's continuation fluency against the retain model's (results written before it have none)."""
    if "fluency" not in result:
        return ""
    rows = "".join(
        f"<tr><td>{m}</td><td>{f['perplexity_ratio']:.2f}</td><td>{f['repetition_ratio']:.2f}</td>"
        f"<td>{'yes' if f['met'] else 'no'}</td></tr>"
        for m, f in result["fluency"].items()
    )
    head = "<tr><th>method</th><th>perplexity ratio</th><th>repetition ratio</th><th>within</th></tr>"
    return (f"<h2>Fluency on the forget prompts</h2><p>Continuations' perplexity under the clean target and word "
            f"repetition, as ratios to the retain model's (goal: both within {FLUENCY_GOAL:.0%}).</p>"
            f"<table>{head}{rows}</table>")  # fmt: skip


def _splits_html(result: dict) -> str:
    """ASG and retain ROUGE-L over the scored/fit splits: median [range] per method and every split's value
    drawn (results of one split have none)."""
    sp = result.get("splits")
    if not sp:
        return ""
    plt = pyplot()
    methods = [m for m in sp["asg"] if m != "retain" and not m.endswith("_oracle")]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for i, m in enumerate(methods):
        v = sp["asg"][m]["values"]
        ax.scatter([i] * len(v), v, color="tab:purple", alpha=0.6, s=18)
        ax.plot([i - 0.3, i + 0.3], [sp["asg"][m]["median"]] * 2, color="black")
    ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=8)
    ax.set(yscale="log", ylabel="ASG (log; dots: splits, bar: median)", title=f"ASG over {sp['n']} scored/fit splits")
    fig.tight_layout()
    rng = lambda d: f"{d['median']:.3f} [{d['min']:.3f}, {d['max']:.3f}]"  # noqa: E731
    rows = "".join(f"<tr><td>{m}</td><td>{rng(sp['asg'][m])}</td><td>{rng(sp['retain_rouge_l'][m])}</td>"
                   f"<td>{sp['fluency_met'][m]}/{sp['n']}</td></tr>" for m in sp["asg"])  # fmt: skip
    g = sp["goal"]
    floor = sp.get("floor")
    floor_text = ("" if not floor else f" The noise floor, retain_other_seed (the retain recipe with another "
                  f"training seed; a model that never saw the book either): ASG {rng(floor)}.")  # fmt: skip
    verdict = (f"the fit's ECO row (eco_fit; chosen per split: {', '.join(sp['chosen'])}) is "
               f"{'the lowest' if g['lowest'] else '<b>not the lowest</b>'}; at most half the best baseline "
               f"({g['best_baseline']}): {'met' if g['half_best_baseline'] else '<b>missed</b>'}")  # fmt: skip
    return (f"<h2>Over {sp['n']} splits of the trained chunks into scored and fit ones</h2><p>Median [range]; "
            f"one set of checkpoints; the figures above are the first split's. Goal on the medians: {verdict}."
            f"{floor_text}</p>"
            f'<img alt="ASG over splits" src="data:image/png;base64,{png_base64(fig)}" style="max-width:100%">'
            "<table><tr><th>method</th><th>ASG</th><th>retain ROUGE-L</th><th>fluency within goal</th></tr>"
            f"{rows}</table>")  # fmt: skip


def _surrogate_text(fit: dict) -> str:
    """The fit's reference scores as a phrase (older results recorded ROUGE-L recall alone)."""
    if "surrogate_scores" in fit:
        return ", ".join(f"{k} {v:.3f}" for k, v in (fit["surrogate_scores"] or {}).items())
    return f"ROUGE-L recall {fit['surrogate_rouge']:.3f}"


def _knowmem_html(result: dict) -> str:
    """MUSE's KnowMem per method, when the data had knowledge questions."""
    k = result.get("knowmem")
    if not k:
        return ""
    sets = list(k["questions"])
    rows = "".join(f"<tr><td>{m}</td>" + "".join(f"<td>{v[s]['rouge_l_recall']:.3f}</td>" for s in sets) + "</tr>"
                   for m, v in k["scores"].items())  # fmt: skip
    return (
        f"<h2>Knowledge memorisation (MUSE KnowMem)</h2><p>ROUGE-L recall of the greedy answer, few-shot; "
        f"questions {k['questions']}; gate flag rate {k['flag_rate']}. Lower on forget, kept on retain.</p>"
        "<table><tr><th>method</th>" + "".join(f"<th>{s}</th>" for s in sets) + f"</tr>{rows}</table>"
    )


def _curves_html(result: dict) -> str:
    """The strength trade-off (``--curves``): forget and retain ROUGE-L with every prompt corrupted."""
    if "curves" not in result:
        return ""
    scores = result["scores"]
    levels = {"forget": scores["retain"]["forget"]["rouge_l"], "retain": scores["original"]["retain"]["rouge_l"]}
    png = curves_png(result["curves"], result["served"], levels, "ROUGE-L")
    return ("<h2>Strength trade-off (first split)</h2><p>ROUGE-L of the greedy continuations with <em>every</em> "
            "prompt corrupted, against each fitted family's σ or k; the star is the fitted setting. Dashed: the "
            "retain model's forget ROUGE-L (where forgetting should land) and the original's retain ROUGE-L (what "
            "a gate false positive would lose below it).</p>"
            f'<img alt="strength trade-off" src="data:image/png;base64,{png}" style="max-width:100%">')  # fmt: skip


def report_html(result: dict) -> str:
    keys = ("rouge_l", "bleu", "cosine", "perplexity", "unique_ratio")
    rows = "".join(
        f"<tr><td>{m}</td><td>{result['asg'][m]:.3f}</td>"
        + "".join(f"<td>{s['forget'][k]:.3f}</td>" for k in keys)
        + f"<td>{s['retain']['rouge_l']:.3f}</td></tr>"
        for m, s in result["scores"].items()
    )
    head = "".join(f"<th>forget {k}</th>" for k in keys)
    costs = "".join(
        f"<tr><td>{m}</td><td>{c['seconds']:.1f}</td><td>{c['forward_passes']}</td><td>{c['backward_passes']}</td></tr>"
        for m, c in result.get("cost", {}).items()
    )
    return html_page(
        f"eco-unlearn: {result['benchmark']}",
        f"""<h1>{result["benchmark"]} (MUSE / BBC verbatim-memorisation protocol)</h1>
<p>Data: {html.escape(result["data"])}. Command: <code>{html.escape(result["command"])}</code>; sizes {result["sizes"]};
base <code>{html.escape(result["base"])}</code>.</p>
<img alt="ASG bars" src="data:image/png;base64,{_asg_png(result)}" style="max-width:100%">
<table><tr><th>method</th><th>ASG</th>{head}<th>retain rouge_l</th></tr>{rows}</table>
<p>Memorisation signal: the target's forget ROUGE-L {result["signal"]["target_rouge_l"]:.3f}, the retain
model's {result["signal"]["retain_rouge_l"]:.3f} (goal ≥ {result["signal"]["goal"]["target_min"]} / ≤
{result["signal"]["goal"]["retain_max"]}: {"met" if result["signal"]["met"] else "<b>missed</b>"}).</p>
<p>Gate flag rate {result["gate"]["flag_rate"]}. <code>_oracle</code> rows: exactly the forget prompts flagged
(the gap to the real-gate row is the gate's share). Corruption fit: {html.escape(result["fit"]["reason"])}, after
{result["fit"]["evaluations"]} evaluations (the surrogate: the target on text it never saw,
{html.escape(_surrogate_text(result["fit"]))}).</p>
{_splits_html(result)}
{_fit_html(result["fit"])}
{_curves_html(result)}
{_fluency_html(result)}
{_knowmem_html(result)}
<h2>Setup cost</h2><p>ECO: classifier + calibration + σ fit; a baseline: its unlearning run.</p>
<table><tr><th>method</th><th>seconds</th><th>forward</th><th>backward</th></tr>{costs}</table>""",
        width=1000,
    )
