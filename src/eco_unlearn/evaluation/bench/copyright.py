"""`eco bench copyright`: the MUSE / BBC verbatim-memorisation protocol on a Jane Austen novel.

1. *target*: SmolLM2 fine-tuned on chunks of *Pride and Prejudice* (forget) and *Persuasion* (retain);
   *retain model*: the same recipe on the Persuasion chunks only (it never saw the forget text);
2. prompts: the opening (``prompt_tokens``) of trained forget chunks; gold: the next ``gold_tokens``;
3. metrics per method: ROUGE-L F1, BLEU (sacrebleu), embedding similarity (MiniLM cosine, a
   BERTScore-style proxy), perplexity of the gold continuation, unique-token ratio of the generation;
   **ASG** (average similarity gap) = mean over {ROUGE-L, BLEU, cosine} of |method − retain model|;
4. the gate: a classifier on 64-token windows of Pride and Prejudice vs Persuasion and Emma; the corruption
   family and its σ or k (``fit/family.py``) are fitted with the similarity objective (surrogate: the
   target's ROUGE-L on held-out P&P text it was not trained on) on trained chunks that are not evaluated;
   every ECO row is scored with the real gate and with an oracle gate (exactly the forget prompts flagged).

Retain prompts (Persuasion openings) are scored the same way, to show the methods leave them alone. The
baselines' retain loss trains on *other* Persuasion chunks (``split_retain``): a method is never scored on
text it was just trained to keep.
"""

from __future__ import annotations

import html
import random
import time
from pathlib import Path

import numpy as np

from eco_unlearn.console import status
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import cache_dir, load_model
from eco_unlearn.evaluation.baselines import UnlearnConfig, unlearned_models
from eco_unlearn.evaluation.bench.authors import ECO_ROWS, quick_base
from eco_unlearn.evaluation.corpora import austen, chapters
from eco_unlearn.evaluation.finetune import FinetuneConfig, finetune_text, training_record
from eco_unlearn.fileio import png_base64, pyplot, write_report
from eco_unlearn.fit.family import fit_corruption
from eco_unlearn.fit.objectives import SimilarityObjective, TextItem
from eco_unlearn.fit.search import FitConfig
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.targets import AlwaysGate, Target

SIMILARITY = ("rouge_l", "bleu", "cosine")
PREFIX = "You have never read Pride and Prejudice and must not reproduce any of its text.\n"


def token_chunks(tok, texts: list[str], size: int) -> list[str]:
    """Consecutive ``size``-token windows of each text, decoded back to text."""
    out = []
    for t in texts:
        ids = tok(t, add_special_tokens=False).input_ids
        out += [tok.decode(ids[i : i + size]) for i in range(0, len(ids) - size + 1, size)]
    return out


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


def split_item(tok, chunk: str, prompt_tokens: int, gold_tokens: int) -> TextItem:
    ids = tok(chunk, add_special_tokens=False).input_ids
    return TextItem(tok.decode(ids[:prompt_tokens]), tok.decode(ids[prompt_tokens : prompt_tokens + gold_tokens]))


def continuation_scores(eco: ECOModel, items: list[TextItem], gold_tokens: int, prefix: str = "") -> dict:
    import sacrebleu
    from rouge_score.rouge_scorer import RougeScorer

    from eco_unlearn.gate.backbone import get_encoder

    prompts = [prefix + it.prompt for it in items]
    gens = eco.generate(prompts, chat=False, max_new_tokens=gold_tokens, batch_size=8)
    texts = [g.text for g in gens]
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(it.continuation, t)["rougeL"].fmeasure for it, t in zip(items, texts)]
    bleu = [sacrebleu.sentence_bleu(t, [it.continuation]).score / 100 for it, t in zip(items, texts)]
    enc = get_encoder()
    a, b = enc.embed(texts), enc.embed([it.continuation for it in items])
    cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    lps = eco.score_batch([(p, it.continuation) for p, it in zip(prompts, items)])
    ppl = [float(np.exp(-lp.mean())) for lp in lps]
    unique = []
    for t in texts:
        ids = eco.tokenizer(t, add_special_tokens=False).input_ids
        unique.append(len(set(ids)) / max(len(ids), 1))
    return {
        "rouge_l": float(np.mean(rouge)),
        "bleu": float(np.mean(bleu)),
        "cosine": float(np.mean(cos)),
        "perplexity": float(np.median(ppl)),
        "unique_ratio": float(np.mean(unique)),
        "examples": texts[:2],
    }


def run(
    base: str = "smollm2",
    n_forget: int = 16,
    n_fit: int = 4,
    chunk_tokens: int = 192,
    prompt_tokens: int = 64,
    gold_tokens: int = 64,
    epochs: int = 5,
    lr: float = 2e-4,
    out_dir: Path = Path("runs/bench/copyright"),
    quick: bool = False,
    seed: int = 0,
    baselines: tuple[str, ...] = (),
) -> dict:
    """The whole task; ``baselines`` (ga, gd, kl, npo, npo_rt) unlearn the trained forget chunks from the
    target as text (every token), retain data the Persuasion chunks, at the fine-tuning lr for 5 epochs."""
    t_start = time.perf_counter()
    cache = cache_dir() / "finetuned"
    if quick:
        base, n_forget, n_fit, chunk_tokens, prompt_tokens, gold_tokens, epochs, lr = (
            quick_base(cache), 6, 2, 48, 16, 16, 3, 3e-3)  # fmt: skip
    _, tok = load_model(base)
    pp, pers, emma = (chapters(austen(b)) for b in ("prideprejudice", "persuasion", "emma"))
    pp_chunks = token_chunks(tok, pp, chunk_tokens)
    forget_train = pp_chunks[: n_forget + n_fit]
    heldout = pp_chunks[-n_fit:]  # late chapters, never trained on: the "never saw it" surrogate
    pers_chunks = token_chunks(tok, pers, chunk_tokens)
    retain_train = pers_chunks[: n_forget + n_fit]
    cfg = FinetuneConfig(epochs=epochs, lr=lr, batch_size=8, seed=seed)
    target_ckpt = finetune_text(base, forget_train + retain_train, cache, "copyright-target", cfg)
    retain_ckpt = finetune_text(base, retain_train, cache, "copyright-retain", cfg)

    forget_items = [split_item(tok, c, prompt_tokens, gold_tokens) for c in forget_train[:n_forget]]
    fit_items = [split_item(tok, c, prompt_tokens, gold_tokens) for c in forget_train[n_forget:]]
    heldout_items = [split_item(tok, c, prompt_tokens, gold_tokens) for c in heldout]
    retain_scored, retain_unlearn = split_retain(pers_chunks, n_forget, len(forget_train))
    retain_items = [split_item(tok, c, prompt_tokens, gold_tokens) for c in retain_scored]

    windows = lambda texts, n: random.Random(seed).sample(token_chunks(tok, texts, 64), n)  # noqa: E731
    t0 = time.perf_counter()
    gate, calibration = create_target(
        "copyright-pp", windows(pp, 200 if not quick else 40), windows(pers, 100 if not quick else 20)
        + windows(emma, 100 if not quick else 20), out_dir / "target", alpha=0.05,
        selection={"mode": "all_but_last"}, overwrite=True,
    )  # fmt: skip
    gate_seconds = time.perf_counter() - t0
    target = ECOModel.from_pretrained(str(target_ckpt))
    fit_target = gate.with_corruption(name="rand_noise_first_n", dims=None)
    objective = SimilarityObjective(fit_items, heldout_items, max_new_tokens=gold_tokens // 2)
    t0 = time.perf_counter()
    with status("fitting the corruption family and strength (similarity objective)"):
        fit = fit_corruption(target, fit_target, objective, cfg=FitConfig(seeds=1), grid=5 if quick else 7,
                             refine=2 if quick else 4)  # fmt: skip
    fit_seconds = time.perf_counter() - t0

    methods = {
        "original": (target, ""),
        "retain": (ECOModel.from_pretrained(str(retain_ckpt)), ""),
        "prompting": (target, PREFIX),
    }
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
    for b, model, cost in unlearned_models(baselines, target_ckpt, forget_train, retain_unlearn, cache / "unlearned",
                                           UnlearnConfig(lr=lr)):  # fmt: skip
        methods[b], costs[b] = (model, ""), cost
    flag = {
        k: float(np.mean([bool(d.flagged) for d in target.decide([[it.prompt] for it in v], [gate])]))
        for k, v in (("forget", forget_items), ("retain", retain_items))
    }
    exact = flag == {"forget": 1.0, "retain": 0.0}  # the real gate is the oracle: reuse its rows
    scores = {}
    for name, (eco, prefix) in methods.items():
        if name.endswith("_oracle") and exact:
            scores[name] = scores[name.removesuffix("_oracle")]
            continue
        with status(f"copyright: {name}"):
            scores[name] = {"forget": continuation_scores(eco, forget_items, gold_tokens, prefix)}
            scores[name]["retain"] = (
                scores["original"]["retain"]  # the oracle flags no retain prompt: the plain model, exactly
                if name.endswith("_oracle")
                else continuation_scores(eco, retain_items, gold_tokens, prefix)
            )
    ref = scores["retain"]["forget"]
    asg = {m: float(np.mean([abs(s["forget"][k] - ref[k]) for k in SIMILARITY])) for m, s in scores.items()}
    result = {
        "benchmark": "copyright",
        "command": "eco bench copyright"
        + (" --quick" if quick else "")
        + (f" --baselines {','.join(baselines)}" if baselines else ""),
        "base": base,
        "sizes": {
            "forget_chunks": n_forget,
            "fit_chunks": n_fit,
            "chunk_tokens": chunk_tokens,
            "prompt_tokens": prompt_tokens,
            "gold_tokens": gold_tokens,
        },  # fmt: skip
        "retain_split": {  # short hashes: the scored retain chunks and the baselines' retain data, disjoint
            "scored": [_digest(c) for c in retain_scored],
            "baseline_retain": [_digest(c) for c in retain_unlearn],
        },
        "finetune": {
            k: {x: training_record(c)[x] for x in ("examples", "tokens", "seconds", "tokens_per_s")}
            for k, c in (("target", target_ckpt), ("retain", retain_ckpt))
        },  # fmt: skip
        "gate": {
            "seconds": gate_seconds,
            "flag_rate": flag,
            "calibration": {c: calibration[c] for c in calibration if c.startswith(("fnr_", "fpr_"))},
        },
        "fit": {
            "chosen": fit.name,
            "reason": fit.reason,
            "candidates": fit.candidates,
            "evaluations": fit.evaluations,
            "forward_passes": fit.forward_passes,
            "seconds": fit_seconds,
            "surrogate_rouge": objective.surrogate(),
        },  # fmt: skip
        "scores": scores,
        "asg": asg,
        "cost": costs,
        "seconds": time.perf_counter() - t_start,
    }
    write_report(out_dir, result, report_html(result))
    return result


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
    for i, k in enumerate(SIMILARITY):
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
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>eco-unlearn: copyright</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
td,th{{padding:4px 8px;border-bottom:1px solid #ddd}} table{{border-collapse:collapse;margin:1em 0}}</style>
</head><body><h1>copyright (MUSE / BBC protocol in miniature: Pride and Prejudice)</h1>
<p>Command: <code>{result["command"]}</code>; sizes {result["sizes"]}; base <code>{result["base"]}</code>.</p>
<img alt="ASG bars" src="data:image/png;base64,{_asg_png(result)}" style="max-width:100%">
<table><tr><th>method</th><th>ASG</th>{head}<th>retain rouge_l</th></tr>{rows}</table>
<p>Gate flag rate {result["gate"]["flag_rate"]}. <code>_oracle</code> rows: exactly the forget prompts flagged
(the gap to the real-gate row is the gate's share). Corruption fit: {html.escape(result["fit"]["reason"])}, after
{result["fit"]["evaluations"]} evaluations (surrogate ROUGE-L {result["fit"]["surrogate_rouge"]:.3f}: the target on
held-out chapters it never saw).</p>
<h2>Setup cost</h2><p>ECO: classifier + calibration + σ fit; a baseline: its unlearning run.</p>
<table><tr><th>method</th><th>seconds</th><th>forward</th><th>backward</th></tr>{costs}</table></body></html>"""
