"""`eco bench authors`: the TOFU protocol on fictitious authors, SmolLM2 fine-tuned on CPU.

1. ``authors.make_splits``: n seeded fictitious authors, 12 QA pairs each (answer, paraphrase, 3 perturbed),
   nested forget splits of the first k authors;
2. the *target* model is SmolLM2 fine-tuned on every author; one *retain* model per split is fine-tuned on
   all other authors (same recipe), the ground truth of "never saw it"; checkpoints are cached;
3. per split, a classifier-gated target (forget questions vs retain questions, conformal α = 0.1: a
   split's ~10 calibration questions cannot support α = 0.05, which needs 19 and falls back to τ = 0) with the
   ``proper_nouns`` selection (the offline stand-in for the paper's NER tokens, prompt and answer) plus the
   forgotten authors' names;
4. σ for random noise (every dimension) is fitted once, with the likelihood objective on two held-aside
   authors that no evaluation set contains: the paraphrased answer's log-likelihood margin over the
   perturbed ones. The surrogate is the same margin of the clean target model on the two *held-out*
   authors nobody was trained on: what the model scores on an author it never saw (no reference model);
5. methods: original, retain model, prompting baseline, ECO random noise / zero-out / sign-flip; TOFU's
   metrics (``tofu.py``): forget quality (KS p-value against the retain model) and model utility.

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

from eco_unlearn.console import status
from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import cache_dir
from eco_unlearn.evaluation.authors import AuthorQA, AuthorSplits, make_splits
from eco_unlearn.evaluation.baselines import UnlearnConfig, unlearn, unlearn_record, unlearned_models
from eco_unlearn.evaluation.finetune import FinetuneConfig, finetune, qa_prompt, training_record
from eco_unlearn.evaluation.tofu import EvalItem, SetScores, evaluate_set, forget_quality, model_utility
from eco_unlearn.fileio import atomic_write_json, png_base64, pyplot, write_report
from eco_unlearn.fit.objectives import LikelihoodObjective, QAItem
from eco_unlearn.fit.search import FitConfig, fit_sigma
from eco_unlearn.gate.create import create_target
from eco_unlearn.gate.targets import Target

SETS = ("forget", "retain", "real_authors", "world_facts")


def tofu_set(name: str, n: int, seed: int = 0) -> list[EvalItem]:
    text = files("eco_unlearn").joinpath("data", "tofu", f"{name}_perturbed.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    rows = random.Random(seed).sample(rows, min(n, len(rows)))
    return [EvalItem(r["question"], r["answer"], r["answer"], list(r["perturbed_answer"])) for r in rows]


def prompting_prefix(names: list[str]) -> str:
    return (f"You have never heard of the authors {', '.join(names)} and know nothing about them. "
            "If a question is about them, answer that you do not know.\n")  # fmt: skip


def quick_base(cache: Path) -> str:
    """A tiny random-weight Llama with SmolLM2's tokenizer, for --quick (trained from scratch by the bench)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from eco_unlearn.core.models import load_model

    out = cache / "tiny-llama-random"
    if not (out / "config.json").exists():
        _, tok = load_model("smollm2")
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=512,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg)
        model.save_pretrained(out)
        tok.save_pretrained(out)
    return str(out)


@dataclass
class Prepared:
    """Everything the methods share: splits, fine-tuned checkpoints, evaluation sets."""

    splits: AuthorSplits
    target_ckpt: Path
    retain_ckpts: dict[int, Path]
    fixed: dict[str, list[EvalItem]]
    fit_authors: list[str]
    lr: float
    gen_tokens: int
    cache: Path
    base: str
    command: str

    def split_k(self, name: str) -> int:
        known = {self.splits.split_name(k): k for k in self.splits.forget_sizes}
        if name not in known:
            raise ValueError(f"unknown split {name!r}; this configuration has {', '.join(known)}")
        return known[name]

    def forget_items(self, k: int) -> list[EvalItem]:
        return [eval_item(x) for x in self.splits.forget(k)]


def pairs(qa) -> list[tuple[str, str]]:
    return [(x.question, x.answer) for x in qa]


def truth_item(x: AuthorQA) -> QAItem:
    """The truth-ratio comparison as a fit item: paraphrased answer vs the perturbed ones (one template)."""
    return QAItem(qa_prompt(x.question), x.paraphrased_answer, x.perturbed_answer)


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
    fit_authors = [a.name for a in splits.authors[k_max : k_max + 2]]
    retain_pool = [x for x in splits.retain(k_max) if x.author not in fit_authors]
    retain_eval = random.Random(seed).sample(retain_pool, min(n_eval, len(retain_pool)))
    fixed = {
        "retain": [eval_item(x) for x in retain_eval],
        "real_authors": tofu_set("real_authors", n_eval, seed),
        "world_facts": tofu_set("world_facts", n_eval, seed),
    }
    command = "eco bench authors" + (" --quick" if quick else f" --authors {n_authors} --epochs {epochs} --lr {lr:g}")
    return Prepared(splits, target_ckpt, retain_ckpts, fixed, fit_authors, lr, gen_tokens, cache, base, command)


def run(
    out_dir: Path = Path("runs/bench/authors"),
    *,
    baselines: tuple[str, ...] = (),
    unlearn_cfg: UnlearnConfig | None = None,
    **prepare_kw,
) -> dict:
    """The whole task; ``prepare_kw`` go to :func:`prepare` (base, n_authors, forget_sizes, …, quick)."""
    t_start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    prep = prepare(**prepare_kw)
    splits, target_ckpt, retain_ckpts, fixed = prep.splits, prep.target_ckpt, prep.retain_ckpts, prep.fixed
    fit_authors, gen_tokens, cache = prep.fit_authors, prep.gen_tokens, prep.cache
    forget_sizes = splits.forget_sizes
    unlearn_cfg = unlearn_cfg or UnlearnConfig(lr=prep.lr)  # TOFU unlearns at its fine-tuning learning rate
    target = ECOModel.from_pretrained(str(target_ckpt))

    # σ for random noise, fitted on held-aside authors that no evaluation set contains; the surrogate is the
    # clean model's margin on held-out authors it was never trained on.
    t0 = time.perf_counter()
    fit_items = [truth_item(x) for x in splits.qa if x.author in fit_authors]
    fit_target = Target.create(
        "authors-fit", gate={"kind": "always"}, selection={"mode": "proper_nouns"}, entities=fit_authors,
        corruption={"name": "rand_noise_first_n", "dims": None},
    )  # fmt: skip
    surrogate = LikelihoodObjective.statistic(target, [truth_item(x) for x in splits.held_out])
    objective = LikelihoodObjective(fit_items, reference_value=surrogate)
    with status("fitting σ on the held-aside authors"):
        fit = fit_sigma(target, fit_target, objective, FitConfig(seeds=1, budget=12 * objective.cost()))
    fit_seconds = time.perf_counter() - t0

    cached: dict[str, SetScores] = {}

    def scores(eco: ECOModel, key: str | None, items, options: bool, prefix: str = "") -> SetScores:
        if key is not None and key in cached:
            return cached[key]
        s = evaluate_set(eco, items, options_normalised=options, prefix=prefix, max_new_tokens=gen_tokens)
        if key is not None:
            cached[key] = s
        return s

    result: dict = {
        "benchmark": "authors",
        "command": prep.command + (f" --baselines {','.join(baselines)}" if baselines else ""),
        "base": prep.base,
        "authors": len(splits.authors),
        "qa_per_author": len(splits.qa) // len(splits.authors),
        "n_eval": {k: len(v) for k, v in fixed.items()},
        "finetune": {"target": _cost(target_ckpt)} | {f"retain{k}": _cost(c) for k, c in retain_ckpts.items()},
        "sigma": {
            "value": fit.sigma,
            "evaluations": fit.evaluations,
            "forward_passes": fit.forward_passes,
            "objective": fit.objective,
            "surrogate": surrogate,
            "seconds": fit_seconds,
            "fit_authors": fit_authors,
        },  # fmt: skip
        "splits": {},
    }
    for k in forget_sizes:
        split = splits.split_name(k)
        names = [a.name for a in splits.authors[:k]]
        forget_qa = splits.forget(k)
        forget_items = prep.forget_items(k)
        t0 = time.perf_counter()
        gate, calibration = create_target(
            f"authors-{split}", [x.question for x in forget_qa], [x.question for x in splits.retain(k)],
            out_dir / "targets" / split, alpha=0.1, selection={"mode": "proper_nouns"}, entities=names,
            overwrite=True,
        )  # fmt: skip
        gate_seconds = time.perf_counter() - t0
        retain_model = ECOModel.from_pretrained(str(retain_ckpts[k]))
        ecos = {
            "eco_rand_noise": gate.with_corruption(name="rand_noise_first_n", strength=fit.sigma, dims=None),
            "eco_zero_out": gate.with_corruption(name="zero_out_first_n", dims=None),
            "eco_sign_flip": gate.with_corruption(name="flip_sign_first_n", dims=None),
        }
        sets = {"forget": forget_items, **fixed}
        per_method: dict[str, dict[str, SetScores]] = {
            "original": {s: scores(target, f"original/{s}" if s != "forget" else None, v, s in _OPT)
                         for s, v in sets.items()},
            "retain": {s: scores(retain_model, None, v, s in _OPT) for s, v in sets.items()},
            "prompting": {s: scores(target, None, v, s in _OPT, prompting_prefix(names)) for s, v in sets.items()},
        }  # fmt: skip
        flagged = {  # the three ECO methods share one gate: score each set once
            s: float(np.mean([bool(d.flagged) for d in target.decide([[qa_prompt(it.question)] for it in v], [gate])]))
            for s, v in sets.items()
        }
        for name, t in ecos.items():
            eco = ECOModel(target.model, target.tokenizer, [t])
            per_method[name] = {}
            for s, v in sets.items():
                if flagged[s] == 0.0 and s != "forget":
                    per_method[name][s] = per_method["original"][s]  # nothing flagged: the plain model, exactly
                else:
                    per_method[name][s] = scores(eco, None, v, s in _OPT)
        eco_cost = {"seconds": gate_seconds + fit_seconds, "forward_passes": fit.forward_passes, "backward_passes": 0}
        costs = {m: eco_cost for m in ecos}
        forget_pairs, retain_pairs = pairs(forget_qa), pairs(splits.retain(k))
        for b, model, cost in unlearned_models(baselines, target_ckpt, forget_pairs, retain_pairs, cache / "unlearned",
                                               unlearn_cfg):  # fmt: skip
            per_method[b] = {s: scores(model, None, v, s in _OPT) for s, v in sets.items()}
            costs[b] = cost
        ref = per_method["retain"]["forget"].ratios
        result["splits"][split] = {
            "forget_authors": k,
            "forget_questions": len(forget_items),
            "gate": {"seconds": gate_seconds, "flag_rate": flagged,
                     "calibration": {c: calibration[c] for c in calibration if c.startswith(("fnr_", "fpr_"))}},
            "methods": {
                m: {
                    "forget_quality": forget_quality(ss["forget"].ratios, ref),
                    "model_utility": model_utility(ss),
                    "sets": {s: {kk: vv for kk, vv in asdict(x).items() if kk != "answers"} for s, x in ss.items()},
                    "examples": ss["forget"].answers[:3],
                    "cost": costs.get(m),
                }
                for m, ss in per_method.items()
            },
        }  # fmt: skip
        result["splits"][split]["cost_ratio"] = _cost_ratio(result["splits"][split]["methods"], baselines)
        atomic_write_json(out_dir / "results.partial.json", result)  # a long run keeps what it has so far
    result["seconds"] = time.perf_counter() - t_start
    write_report(out_dir, result, report_html(result))
    (out_dir / "results.partial.json").unlink(missing_ok=True)
    return result


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


def _cost_ratio(methods: dict, baselines: tuple[str, ...]) -> dict | None:
    """Baseline setup seconds / ECO's (classifier + calibration + σ fit), for the cheapest baseline and for the
    cheapest one whose forget quality reaches ECO's (random noise)."""
    if not baselines:
        return None
    eco = methods["eco_rand_noise"]
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


def _scatter_png(result: dict) -> str:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(9, 4.8))
    markers = {"original": "o", "retain": "*", "prompting": "s", "eco_rand_noise": "^", "eco_zero_out": "v",
               "eco_sign_flip": "D", "ga": "x", "gd": "+", "kl": "P", "npo": "X", "npo_rt": "h"}  # fmt: skip
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (split, r) in enumerate(result["splits"].items()):
        for m, v in r["methods"].items():
            ax.scatter(max(v["forget_quality"], 1e-20), v["model_utility"], marker=markers.get(m, "x"),
                       color=colors[i % len(colors)], s=60, label=f"{split} {m}")  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="forget quality (KS p-value vs retain model, log)", ylabel="model utility",
           title="TOFU-style: forget quality vs model utility")  # fmt: skip
    ax.axvline(0.05, color="grey", linestyle=":", linewidth=1)
    ax.legend(fontsize=6, ncol=3, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes, not over points
    fig.tight_layout()
    return png_base64(fig)


def report_html(result: dict) -> str:
    rows = []
    for split, r in result["splits"].items():
        for m, v in r["methods"].items():
            f, rt = v["sets"]["forget"], v["sets"]["retain"]
            rows.append(
                f"<tr><td>{split}</td><td>{m}</td><td>{v['forget_quality']:.3g}</td><td>{v['model_utility']:.3f}</td>"
                f"<td>{f['probability']:.3f}</td><td>{f['rouge_l']:.3f}</td><td>{rt['probability']:.3f}</td>"
                f"<td>{rt['rouge_l']:.3f}</td></tr>"
            )
    ft = "".join(f"<tr><td>{k}</td><td>{v['examples']}</td><td>{v['tokens']}</td><td>{v['seconds']:.0f}</td>"
                 f"<td>{v['tokens_per_s']:.0f}</td><td>{v['final_loss']:.3f}</td></tr>"
                 for k, v in result["finetune"].items())  # fmt: skip
    costs = "".join(
        f"<tr><td>{sp}</td><td>{m}</td><td>{v['cost']['seconds']:.1f}</td><td>{v['cost']['forward_passes']}</td>"
        f"<td>{v['cost']['backward_passes']}</td></tr>"
        for sp, r in result["splits"].items()
        for m, v in r["methods"].items()
        if v.get("cost")
    )
    ratios = {sp: r.get("cost_ratio") for sp, r in result["splits"].items()}
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>eco-unlearn: authors</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
td,th{{padding:4px 10px;border-bottom:1px solid #ddd}} table{{border-collapse:collapse;margin:1em 0}}</style>
</head><body><h1>authors (TOFU protocol in miniature)</h1>
<p>{result["authors"]} fictitious authors × {result["qa_per_author"]} QA; base <code>{result["base"]}</code>.
Command: <code>{result["command"]}</code>. Evaluation sizes: {result["n_eval"]}.</p>
<img alt="forget quality vs model utility" src="data:image/png;base64,{_scatter_png(result)}" style="max-width:100%">
<table><tr><th>split</th><th>method</th><th>forget quality</th><th>model utility</th><th>forget prob</th>
<th>forget ROUGE-L</th><th>retain prob</th><th>retain ROUGE-L</th></tr>{"".join(rows)}</table>
<h2>Fine-tuning</h2><table><tr><th>model</th><th>examples</th><th>tokens</th><th>seconds</th><th>tokens/s</th>
<th>final loss</th></tr>{ft}</table>
<h2>Setup cost</h2><table><tr><th>split</th><th>method</th><th>seconds</th><th>forward</th><th>backward</th></tr>
{costs}</table>
<p>ECO's cost is classifier training + calibration + the σ fit; a baseline's is its unlearning run.
Cost ratios (baseline / ECO): {ratios}</p>
<p>σ (random noise, every dim): {result["sigma"]["value"]:.4g} (surrogate margin
{result["sigma"]["surrogate"]:.3f}, reached {result["sigma"]["objective"]:.3f} from it) after
{result["sigma"]["evaluations"]} evaluations
({result["sigma"]["forward_passes"]} forward passes) on held-aside authors {result["sigma"]["fit_authors"]}.</p>
</body></html>"""
