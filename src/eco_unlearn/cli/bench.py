"""`eco bench …`: benchmarks are commands, not tests; each writes its figures under --out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from eco_unlearn.cli.common import (
    DeviceOpt,
    DtypeOpt,
    ModelOpt,
    baselines_option,
    fail,
    need_lm_eval,
    out,
    place,
    wrote,
)

app = typer.Typer(help="Benchmarks (commands, not tests); each writes JSON under --out.", no_args_is_help=True)


@app.command("overhead")
def bench_overhead(
    model: ModelOpt = "smollm2",
    batch: Annotated[int, typer.Option()] = 4,
    new_tokens: Annotated[int, typer.Option()] = 64,
    repeats: Annotated[int, typer.Option()] = 5,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Latency of ECOModel.generate vs raw model.generate (same prompts, same batch, one run)."""
    place(device, dtype)
    from eco_unlearn.evaluation.bench.overhead import run

    r = run(model, batch, new_tokens, repeats, out_dir / "overhead.json")
    t = Table("arm", "median s", "vs raw")
    for arm, s in r["median_seconds"].items():
        t.add_row(arm, f"{s:.3f}", f"{s / r['median_seconds']['raw'] - 1:+.1%}")
    out.print(t)
    out.print(json.dumps({k: r[k] for k in ("overhead_unflagged", "overhead_flagged")}))


@app.command("fluency")
def bench_fluency(
    model: ModelOpt = "smollm2",
    prompts: Annotated[int, typer.Option(help="Held-out questions per request.")] = 24,
    new_tokens: Annotated[int, typer.Option()] = 40,
    quick: Annotated[bool, typer.Option(help="Tiny random model, 4 prompts (CI: mechanics only).")] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/fluency"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Fluency and leak of answers to flagged chat questions under each corruption setting."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.fluency import run

    try:
        r = run(model, n_prompts=prompts, new_tokens=new_tokens, quick=quick, out_dir=out_dir)
    except (ValueError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    t = Table("request", "setting", "perplexity ÷ clean", "repetition", "leak", title="fluency of flagged answers")
    for req, v in r["requests"].items():
        for s, x in v["settings"].items():
            leak = "" if x["leak"] is None else f"{x['leak']:.2f}"
            t.add_row(req, s, f"{x['perplexity_ratio']:.2f}", f"{x['repetition']:.3f}", leak)
    out.print(t)
    wrote(out_dir / "results.json", out_dir / "report.html")


@app.command("classifier")
def bench_classifier(
    kinds: Annotated[str, typer.Option(help="Comma-separated classifier kinds.")] = "embedding,finetune",
    n_per_class: Annotated[int, typer.Option(help="Forget and retain prompts each (before augmentation).")] = 500,
    repeats: Annotated[int, typer.Option()] = 3,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
) -> None:
    """Classifier training time, latency, FNR/FPR (plain vs wrapped), 1 vs 100 targets."""
    from eco_unlearn.evaluation.bench.classifier import run

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


@app.command("fit")
def bench_fit(
    model: ModelOpt = "smollm2",
    n_items: Annotated[int, typer.Option(help="Fit items (and as many held-out items).")] = 40,
    seeds: Annotated[int, typer.Option()] = 2,
    grid_points: Annotated[int, typer.Option()] = 20,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """σ fit (bracketing + ZO) vs a dense log-grid: evaluations, forward passes, wall time, held-out."""
    place(device, dtype)
    from eco_unlearn.evaluation.bench.fit import run

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


@app.command("hazard")
def bench_hazard(
    models: Annotated[str, typer.Option(help="Comma-separated embedded names or paths.")] = "smollm2",
    n_eval: Annotated[int, typer.Option(help="Forget and retain evaluation items each.")] = 60,
    n_fit: Annotated[int, typer.Option(help="Separate chemistry items that fit σ.")] = 40,
    seeds: Annotated[int, typer.Option(help="Noise draws per accuracy.")] = 2,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    baseline_lr: Annotated[float, typer.Option(help="Learning rate of the baselines (5 epochs).")] = 1e-4,
    gate_questions: Annotated[
        int, typer.Option(min=1, help="Questions per chemistry element the gate is created from (half per country).")
    ] = 4,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/hazard"),
    quick: Annotated[
        bool, typer.Option(help="Tiny random model, 12 items per set, one seed (mechanics only; CI).")
    ] = False,
    export: Annotated[
        Path | None, typer.Option(help="Only write the task's data in WMDP's schema here (for eco bench wmdp).")
    ] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """WMDP-style: chemistry forget, geography retain, TOFU world facts general; results.json + report.html."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.hazard import export_builtin, run

    if export is not None:
        export_builtin(export, n_eval, n_fit, gate_questions=gate_questions)
        out.print(f"wrote forget/retain/general.jsonl and the gate's prompt files to {export}: eco bench wmdp "
                  f"--forget {export}/forget.jsonl --retain {export}/retain.jsonl --general {export}/general.jsonl "
                  f"--forget-prompts {export}/forget_prompts.jsonl --retain-prompts {export}/retain_prompts.jsonl "
                  f"--topic chemistry --n-eval {n_eval} --n-fit {n_fit}")  # fmt: skip
        return
    try:
        chosen = baselines_option(baselines)
        r = run(tuple(m.strip() for m in models.split(",") if m.strip()), n_eval, n_fit, seeds, out_dir,
                baselines=chosen, baseline_lr=baseline_lr, gate_questions=gate_questions, quick=quick)  # fmt: skip
    except (ValueError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    _print_hazard(r, out_dir)


def _print_hazard(r: dict, out_dir: Path) -> None:
    t = Table("model", "method", "forget", "retain", "general", title="hazard: cloze accuracy (chance 0.25)")
    for model, m in r["models"].items():
        for name, a in m["accuracy"].items():
            t.add_row(model, name, f"{a['forget']:.3f}", f"{a['retain']:.3f}", f"{a['general']:.3f}")
    out.print(t)
    wrote(out_dir / "results.json", out_dir / "report.html")


@app.command("wmdp")
def bench_wmdp(
    forget: Annotated[
        Path, typer.Option(help="Forget items: WMDP/MMLU schema (question, choices, answer), JSON(L) or parquet.")
    ],
    retain: Annotated[Path, typer.Option(help="Retain items, same schema (a near neighbour of the forget domain).")],
    general: Annotated[Path, typer.Option(help="General items, same schema (e.g. your MMLU copy).")],
    models: Annotated[
        str, typer.Option("--models", "--model", help="Comma-separated embedded names or paths.")
    ] = "smollm2",
    forget_prompts: Annotated[
        Path | None, typer.Option(help="What the gate trains on as forget (default: the fit items' questions).")
    ] = None,
    retain_prompts: Annotated[
        Path | None, typer.Option(help="... as retain (default: unevaluated retain items' questions).")
    ] = None,
    topic: Annotated[
        str, typer.Option(help="What the prompting baseline is told to know nothing about.")
    ] = "the forget topic",
    n_eval: Annotated[int, typer.Option(help="Forget and retain items evaluated (the first ones of each file).")] = 60,
    n_fit: Annotated[int, typer.Option(help="Forget items that fit σ (the last ones of the forget file).")] = 40,
    seeds: Annotated[int, typer.Option(help="Noise draws per accuracy.")] = 2,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    baseline_lr: Annotated[float, typer.Option(help="Learning rate of the baselines (5 epochs).")] = 1e-4,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/wmdp"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """The hazard protocol on your WMDP / MMLU files: same results.json + report.html as eco bench hazard."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.hazard import file_data, run_protocol
    from eco_unlearn.gate.prompt_files import PromptFileError

    chosen_models = tuple(m.strip() for m in models.split(",") if m.strip())
    command = (f"eco bench wmdp --forget {forget} --retain {retain} --general {general}"
               + f" --models {','.join(chosen_models)}"
               + (f" --forget-prompts {forget_prompts}" if forget_prompts else "")
               + (f" --retain-prompts {retain_prompts}" if retain_prompts else "")
               + f" --topic {topic!r} --n-eval {n_eval} --n-fit {n_fit} --seeds {seeds}"
               + (f" --baselines {baselines} --baseline-lr {baseline_lr:g}" if baselines else ""))  # fmt: skip
    try:
        chosen = baselines_option(baselines)
        data = file_data(forget, retain, general, n_eval=n_eval, n_fit=n_fit, forget_prompts=forget_prompts,
                         retain_prompts=retain_prompts, topic=topic)  # fmt: skip
        r = run_protocol(data, chosen_models, seeds, out_dir, command, baselines=chosen, baseline_lr=baseline_lr)
    except (ValueError, ModelNotAvailable, PromptFileError) as e:
        raise fail(str(e)) from None
    _print_hazard(r, out_dir)


@app.command("authors")
def bench_authors(
    model: ModelOpt = "smollm2",
    authors: Annotated[int, typer.Option(help="Fictitious authors (12 QA pairs each).")] = 20,
    forget: Annotated[str, typer.Option(help="Nested forget split sizes, in authors.")] = "4,6,8",
    n_eval: Annotated[int, typer.Option(help="Questions per retain / real-authors / world-facts set.")] = 20,
    epochs: Annotated[int, typer.Option()] = 4,
    lr: Annotated[float, typer.Option(help="Fine-tuning learning rate; the baselines unlearn at it too.")] = 1e-4,
    seed: Annotated[
        int, typer.Option(help="Which authors are generated, and the fine-tuning seed: another author set.")
    ] = 0,
    quick: Annotated[bool, typer.Option(help="Tiny random model trained from scratch (CI, about a minute).")] = False,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    selections: Annotated[
        str, typer.Option(help="Token selections the corruption fit searches, comma-separated (e.g. + content_words).")
    ] = "answer_facts,all_but_last",
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/authors"),
    export: Annotated[
        Path | None, typer.Option(help="Only write --export-split in TOFU's file layout here (for eco bench tofu).")
    ] = None,
    export_split: Annotated[str, typer.Option(help="The split --export writes.")] = "forget20",
    floor: Annotated[
        bool,
        typer.Option(
            help="Only the noise floor: the retain recipe fine-tuned with another seed, scored against "
            "the retain model as a method is (default --out runs/bench/authors-floor)."
        ),
    ] = False,
    combine: Annotated[
        str,
        typer.Option(
            help="Only combine recorded runs: comma-separated results.json of `eco bench authors --seed N` runs "
            "(median and range over the author sets; default --out runs/bench/authors-sets)."
        ),
    ] = "",
    curves: Annotated[
        bool,
        typer.Option(
            help="Also draw the strength trade-off: forget quality per split and each utility set against each "
            "family's σ or k (about 80 s a point, some 22 min on SmolLM2)."
        ),
    ] = False,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """TOFU-style: fine-tuned target and retain models, forget quality vs model utility; results.json + report.html."""
    if combine:
        _combine_authors(combine, out_dir, floor or export is not None or bool(baselines) or curves)
        return
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench import authors_floor
    from eco_unlearn.evaluation.bench.authors import run
    from eco_unlearn.evaluation.bench.tofu import export_builtin

    try:
        sizes = tuple(int(x) for x in forget.split(","))
        kw = dict(base=model, n_authors=authors, forget_sizes=sizes, n_eval=n_eval, epochs=epochs, lr=lr, quick=quick,
                  seed=seed)  # fmt: skip
        if export is not None:
            a = export_builtin(export, export_split, **kw)
            out.print(f"wrote {export_split} in TOFU's layout to {export}; the same figures:")
            out.print(a["command"], soft_wrap=True)  # one line: copy and paste
            return
        if floor:
            if baselines or curves:
                raise ValueError("--floor scores no method: drop --baselines and --curves")
            out_dir = Path("runs/bench/authors-floor") if out_dir == Path("runs/bench/authors") else out_dir
            _print_floor(authors_floor.run(out_dir, **kw))
            wrote(out_dir / "results.json", out_dir / "report.html")
            return
        chosen = baselines_option(baselines)
        modes = tuple(x.strip() for x in selections.split(",") if x.strip())
        r = run(out_dir, baselines=chosen, selections=modes, curves=curves, **kw)
    except (ValueError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    _print_tofu(r)
    wrote(out_dir / "results.json", out_dir / "report.html")


def _combine_authors(paths: str, out_dir: Path, other_mode: bool) -> None:
    """``eco bench authors --combine``: arithmetic on recorded runs, nothing is loaded or trained."""
    from eco_unlearn.evaluation.bench.authors_sets import run

    if other_mode:
        raise fail("--combine reads recorded runs only: drop --floor, --export, --baselines and --curves")
    out_dir = Path("runs/bench/authors-sets") if out_dir == Path("runs/bench/authors") else out_dir
    try:
        c = run([Path(p.strip()) for p in paths.split(",") if p.strip()], out_dir)
    except ValueError as e:
        raise fail(str(e)) from None
    splits = list(c["splits"])
    title = f"forget quality over {len(c['sets'])} author sets: median \\[range]"  # escaped: not rich markup
    t = Table("method", *splits, "goal met", title=title)
    for m, met in c["meets_goal"].items():
        cells = [c["splits"][s][m]["forget_quality"] for s in splits]
        t.add_row(m, *(f"{x['median']:.3g} [{x['min']:.3g}, {x['max']:.3g}]" for x in cells), "yes" if met else "no")
    out.print(t)
    wrote(out_dir / "results.json", out_dir / "report.html")


def _print_floor(f: dict) -> None:
    t = Table("split", "forget questions", "forget quality", "text perplexity ratio", "repetition ratio",
              title="noise floor: the retain recipe with another seed vs the retain model")  # fmt: skip
    for name, sp in f["splits"].items():
        fl = sp["fluency"]
        t.add_row(name, str(sp["forget_questions"]), f"{sp['forget_quality']:.3g}",
                  f"{fl['text_perplexity_ratio']:.2f}", f"{fl['repetition_ratio']:.2f}")  # fmt: skip
    out.print(t)


@app.command("tofu")
def bench_tofu(
    data: Annotated[Path, typer.Option(help="Directory of TOFU files (<split>_perturbed, retain<100-N>, …).")],
    model: Annotated[str, typer.Option(help="The target checkpoint (trained on the forget split).")],
    retain_model: Annotated[str, typer.Option(help="The retain checkpoint (never saw it): evaluation only.")],
    split: Annotated[str, typer.Option(help="The forget split (forget01, forget05, forget10, …).")] = "forget10",
    retain_split: Annotated[str | None, typer.Option(help="Default: retain<100-N> for forget<N>.")] = None,
    n_eval: Annotated[int | None, typer.Option(help="First N of each utility set (default: all).")] = None,
    entities: Annotated[str, typer.Option(help="Comma-separated names of the forget authors (gate evidence).")] = "",
    fit: Annotated[Path | None, typer.Option(help="Fit items, TOFU perturbed schema (default: the split).")] = None,
    reference: Annotated[
        Path | None, typer.Option(help="Never-seen reference QA, same schema (default: generated authors).")
    ] = None,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    unlearn_lr: Annotated[float, typer.Option(help="The baselines' learning rate (TOFU: 1e-5).")] = 1e-5,
    seeds: Annotated[int, typer.Option(help="Noise draws per noise-based row.")] = 3,
    gen_tokens: Annotated[int, typer.Option(help="Greedy answer length for ROUGE-L.")] = 16,
    fit_grid: Annotated[int, typer.Option(help="Grid points per corruption family.")] = 7,
    fit_refine: Annotated[int, typer.Option(help="Refinement steps around the best grid point.")] = 4,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/tofu"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """The TOFU protocol on your TOFU files and checkpoints: same results.json + report.html as eco bench authors."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.tofu import run_files
    from eco_unlearn.gate.prompt_files import PromptFileError

    names = [x.strip() for x in entities.split(",") if x.strip()]
    command = (f"eco bench tofu --data {data} --split {split} --model {model} --retain-model {retain_model}"
               + (f" --retain-split {retain_split}" if retain_split else "")
               + (f" --n-eval {n_eval}" if n_eval else "")
               + (f" --entities {entities!r}" if names else "")
               + (f" --fit {fit}" if fit else "") + (f" --reference {reference}" if reference else "")
               + (f" --baselines {baselines} --unlearn-lr {unlearn_lr:g}" if baselines else "")
               + f" --seeds {seeds} --gen-tokens {gen_tokens}"
               + f" --fit-grid {fit_grid} --fit-refine {fit_refine}")  # fmt: skip
    try:
        r = run_files(data, split, model, retain_model, out_dir, retain_split=retain_split, n_eval=n_eval,
                      entities=names, fit=fit, reference=reference, baselines=baselines_option(baselines),
                      unlearn_lr=unlearn_lr, noise_seeds=seeds, gen_tokens=gen_tokens, grid=fit_grid,
                      refine=fit_refine, command=command)  # fmt: skip
    except (ValueError, ModelNotAvailable, PromptFileError) as e:
        raise fail(str(e)) from None
    _print_tofu(r)
    wrote(out_dir / "results.json", out_dir / "report.html")


def _print_tofu(r: dict) -> None:
    t = Table("split", "method", "forget quality \\[range]", "model utility", "forget ROUGE-L", "repetition",
              title=f"{r['benchmark']} (TOFU); _oracle: exactly the forget questions flagged")  # fmt: skip
    t.columns[1].no_wrap = True
    for split, s in r["splits"].items():
        for m, v in s["methods"].items():
            seeds = v["forget_quality_seeds"]
            rng = f" [{min(seeds):.2g}, {max(seeds):.2g}]" if len(seeds) > 1 else ""
            t.add_row(
                split, m, f"{v['forget_quality']:.3g}{rng}", f"{v['model_utility']:.3f}",
                f"{v['sets']['forget']['rouge_l']:.3f}", f"{v['fluency']['repetition']:.3f}",
            )  # fmt: skip
    out.print(t)
    out.print(f"corruption fit: {r['fit']['reason']}")
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


@app.command("copyright")
def bench_copyright(
    model: ModelOpt = "smollm2",
    n_forget: Annotated[int, typer.Option(help="Trained Pride and Prejudice chunks used as prompts.")] = 16,
    epochs: Annotated[
        int, typer.Option(help="Fine-tuning epochs of the target and the retain model (the target must memorise).")
    ] = 15,
    quick: Annotated[bool, typer.Option(help="Tiny random model trained from scratch (CI, under a minute).")] = False,
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    objective: Annotated[
        str, typer.Option(help="The corruption fit's objective: similarity (ROUGE-L recall) or similarity_gap (ASG).")
    ] = "similarity",
    splits: Annotated[
        int, typer.Option(help="Scored/fit splits of the trained chunks (one set of checkpoints): median and range.")
    ] = 1,
    floor: Annotated[
        bool,
        typer.Option(help="Also fine-tune the retain model with another seed: its ASG is the noise floor (6 min)."),
    ] = False,
    curves: Annotated[
        bool,
        typer.Option(help="Also draw each fitted family's strength trade-off on the first split (~1 min a point)."),
    ] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/copyright"),
    export: Annotated[
        Path | None, typer.Option(help="Only write the task's data in MUSE's file layout here (for eco bench muse).")
    ] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """MUSE-style verbatim memorisation on Austen: ROUGE-L, BLEU, cosine, PPL, ASG; results.json + report.html."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.copyright import run
    from eco_unlearn.evaluation.bench.muse import export_builtin
    from eco_unlearn.evaluation.corpora import CorpusNotAvailable

    try:
        if export is not None:
            a = export_builtin(export, base=model, n_forget=n_forget, epochs=epochs, quick=quick)
            out.print(f"wrote the task in MUSE's layout to {export}; the same figures:")
            out.print(a["command"], soft_wrap=True)
            return
        chosen = baselines_option(baselines)
        r = run(model, n_forget, epochs=epochs, out_dir=out_dir, quick=quick, baselines=chosen, objective=objective,
                splits=splits, floor=floor, curves=curves)  # fmt: skip
    except (ValueError, ModelNotAvailable, CorpusNotAvailable) as e:
        raise fail(str(e)) from None
    _print_copyright(r)
    if "splits" in r:
        sp = r["splits"]
        t = Table("method", "ASG median", "range", "retain ROUGE-L", title=f"over {sp['n']} scored/fit splits")
        for m, a in sp["asg"].items():
            if not m.endswith("_oracle"):
                t.add_row(m, f"{a['median']:.3f}", f"[{a['min']:.3f}, {a['max']:.3f}]",
                          f"{sp['retain_rouge_l'][m]['median']:.3f}")  # fmt: skip
        out.print(t)
        g = sp["goal"]
        out.print(f"the fit chose {', '.join(sp['chosen'])}; eco_fit lowest: {g['lowest']}, at most half the best "
                  f"baseline ({g['best_baseline']}): {g['half_best_baseline']}")  # fmt: skip
        if sp["floor"]:
            out.print(f"noise floor (retain_other_seed, another never-trained model): ASG {sp['floor']['median']:.3f}")
    wrote(out_dir / "results.json", out_dir / "report.html")


@app.command("muse")
def bench_muse(
    data: Annotated[
        Path, typer.Option(help="Directory of MUSE files: verbmem/forget, raw/forget, raw/holdout, raw/retain1.")
    ],
    model: Annotated[str, typer.Option(help="The target checkpoint (trained on the forget corpus).")],
    retain_model: Annotated[str, typer.Option(help="The retain checkpoint (never saw it): evaluation only.")],
    n_fit: Annotated[int, typer.Option(help="Last verbmem items kept apart for the corruption fit.")] = 4,
    n_forget: Annotated[int | None, typer.Option(help="verbmem items scored (default: all but the fit ones).")] = None,
    n_retain: Annotated[int | None, typer.Option(help="Retain chunks scored (default: as many as forget).")] = None,
    retain_raw: Annotated[str, typer.Option(help="The raw split the retain prompts come from.")] = "retain1",
    chunk_tokens: Annotated[int, typer.Option(help="Longer raw texts are cut into windows of this many tokens.")] = 192,
    forget_prompts: Annotated[
        Path | None, typer.Option(help="The gate's forget prompts (default: raw/forget windows).")
    ] = None,
    retain_prompts: Annotated[Path | None, typer.Option(help="... retain prompts (default: retain windows).")] = None,
    request_text: Annotated[
        Path | None,
        typer.Option(help="Text the removal request supplies, for the gate's verbatim index (default: raw/forget)."),
    ] = None,
    title: Annotated[
        str, typer.Option(help="What the prompting baseline is told it never read.")
    ] = "the forget corpus",
    baselines: Annotated[str, typer.Option(help="Comma-separated: ga,gd,kl,npo,npo_rt (or 'all').")] = "",
    unlearn_lr: Annotated[float, typer.Option(help="The baselines' learning rate.")] = 1e-5,
    quick_fit: Annotated[bool, typer.Option(help="A smaller corruption-fit grid (as --quick benches use).")] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/muse"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """The copyright protocol on your MUSE files and checkpoints: same results.json + report.html as copyright."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.muse import run_files
    from eco_unlearn.gate.prompt_files import PromptFileError

    command = (f"eco bench muse --data {data} --model {model} --retain-model {retain_model} --n-fit {n_fit}"
               + (f" --n-forget {n_forget}" if n_forget else "") + (f" --n-retain {n_retain}" if n_retain else "")
               + f" --retain-raw {retain_raw} --chunk-tokens {chunk_tokens} --title {title!r}"
               + (f" --forget-prompts {forget_prompts}" if forget_prompts else "")
               + (f" --retain-prompts {retain_prompts}" if retain_prompts else "")
               + (f" --request-text {request_text}" if request_text else "")
               + (f" --baselines {baselines} --unlearn-lr {unlearn_lr:g}" if baselines else "")
               + (" --quick-fit" if quick_fit else ""))  # fmt: skip
    try:
        r = run_files(data, model, retain_model, out_dir, baselines=baselines_option(baselines), unlearn_lr=unlearn_lr,
                      quick_fit=quick_fit, command=command, n_fit=n_fit, n_forget=n_forget, n_retain=n_retain,
                      retain_raw=retain_raw, chunk_tokens=chunk_tokens, forget_prompts=forget_prompts,
                      retain_prompts=retain_prompts, request_text=request_text, title=title)  # fmt: skip
    except (ValueError, ModelNotAvailable, PromptFileError) as e:
        raise fail(str(e)) from None
    _print_copyright(r)
    wrote(out_dir / "results.json", out_dir / "report.html")


def _print_copyright(r: dict) -> None:
    t = Table("method", "ASG", "ROUGE-L", "BLEU", "cosine", "PPL", "unique", title=f"{r['benchmark']} (forget prompts)")
    for m, s in r["scores"].items():
        f = s["forget"]
        t.add_row(
            m, f"{r['asg'][m]:.3f}", f"{f['rouge_l']:.3f}", f"{f['bleu']:.3f}", f"{f['cosine']:.3f}",
            f"{f['perplexity']:.1f}", f"{f['unique_ratio']:.2f}",
        )  # fmt: skip
    out.print(t)
    sig = r["signal"]
    verdict = "met" if sig["met"] else "[bold red]missed[/]: ASG has little to measure (more --epochs)"
    out.print(f"memorisation: target forget ROUGE-L {sig['target_rouge_l']:.3f}, retain model "
              f"{sig['retain_rouge_l']:.3f} (goal ≥ {sig['goal']['target_min']} / ≤ {sig['goal']['retain_max']}): "
              f"{verdict}")  # fmt: skip


@app.command("gate")
def bench_gate(
    requests: Annotated[str, typer.Option(help="Comma-separated: authors, austen, hazard.")] = "authors,austen,hazard",
    seeds: Annotated[int, typer.Option(help="Seeds (splits of each request); median and range are reported.")] = 3,
    budget: Annotated[int, typer.Option(help="Adaptive attacker: scored queries per prompt.")] = 200,
    adaptive_n: Annotated[int, typer.Option(help="Adaptive attacker: flagged prompts attacked per run.")] = 20,
    quick: Annotated[bool, typer.Option(help="Small requests, a weak attacker (CI, a few minutes).")] = False,
    backbone: Annotated[str, typer.Option(help="The classifiers' backbone, as in eco target create.")] = "auto",
    lower_case: Annotated[
        bool, typer.Option(help="Each request written in lower case (its forget and retain prompts and names).")
    ] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/gate"),
) -> None:
    """The gate on realistic requests: held-out, neighbour and general error rates, attack families with
    their twins, an adaptive attacker, latency; results.json + report.html (heat map)."""
    from eco_unlearn.evaluation.bench.gate import run
    from eco_unlearn.evaluation.corpora import CorpusNotAvailable

    try:
        r = run(tuple(x for x in requests.split(",") if x), seeds, quick=quick, adaptive_n=adaptive_n,
                budget=budget, backbone=backbone, lower_case=lower_case, out_dir=out_dir)  # fmt: skip
    except (ValueError, RuntimeError, CorpusNotAvailable) as e:
        raise fail(str(e)) from None
    t = Table("request", "held-out FNR", "neighbour FPR", "general FPR", "AUROC", "adaptive", "goals missed",
              title="eco bench gate (median over seeds)")  # fmt: skip
    for name, req in r["requests"].items():
        s = req["summary"]
        med = lambda k, s=s: f"{s[k]['median']:.3f}" if k in s else "–"  # noqa: E731
        missed = ", ".join(k for k, ok in req["goals_met"].items() if not ok) or "none"
        t.add_row(name, med("heldout_fnr"), med("neighbour_fpr"), med("general_fpr"), med("auroc"),
                  med("adaptive.success"), missed)  # fmt: skip
    out.print(t)
    wrote(out_dir / "results.json", out_dir / "report.html")


@app.command("all")
def bench_all(
    quick: Annotated[bool, typer.Option(help="Tiny random models (CI): mechanics, not figures.")] = False,
    curves: Annotated[
        bool, typer.Option(help="Also the strength trade-off of authors and copyright (hazard always draws it).")
    ] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """hazard, authors and copyright in one go; each writes results.json and report.html under --out."""
    place(device, dtype)
    from eco_unlearn.evaluation.bench import suite

    try:
        written = suite.run_all(out_dir, quick=quick, curves=curves)
    except (ValueError, RuntimeError) as e:
        raise fail(str(e)) from None
    for name, path in written.items():
        out.print(f"{name}: {path}")


@app.command("serve")
def bench_serve(
    backend: Annotated[str, typer.Option(help="hf (16 vs 1 clients) or vllm (gateway vs vLLM direct).")] = "hf",
    model: ModelOpt = "smollm2",
    seconds: Annotated[float, typer.Option(help="Load duration per cell.")] = 20.0,
    max_tokens: Annotated[int, typer.Option()] = 16,
    clients: Annotated[str, typer.Option(help="Comma-separated concurrency levels.")] = "1,4,16",
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/serve"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Gateway throughput and latency under closed-loop load, ten classifier-gated targets loaded."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.serve import run

    try:
        levels = tuple(int(c) for c in clients.split(","))
        r = run(backend, model, levels, seconds, max_tokens, out_dir=out_dir)
    except (ValueError, ModelNotAvailable, FileNotFoundError, RuntimeError) as e:
        raise fail(str(e)) from None
    t = Table("arm", "clients", "requests", "errors", "req/s", "tokens/s", "p50 ms", "p99 ms", title="serve")
    for c in r["cells"]:
        t.add_row(
            c["arm"], str(c["clients"]), str(c["requests"]), str(c["errors"]), f"{c['rps']:.2f}",
            f"{c['tokens_per_s']:.1f}", f"{c['p50_ms']:.0f}", f"{c['p99_ms']:.0f}",
        )  # fmt: skip
    out.print(t)
    for k, v in r["ratios"].items():
        out.print(f"{k}: {v:.2f}")
    wrote(out_dir / "results.json")


@app.command("transport")
def bench_transport(
    quick: Annotated[bool, typer.Option(help="Two sizes, 128 tokens, SmolLM2 only (CI: mechanics).")] = False,
    e2e: Annotated[bool, typer.Option(help="Also measure end to end through a real vLLM (needs .venv-vllm).")] = True,
    wide: Annotated[bool, typer.Option(help="Also a random one-layer Llama of hidden 4096 through vLLM.")] = True,
    requests: Annotated[int, typer.Option(help="Requests per arm and cell.")] = 8,
    max_tokens: Annotated[int, typer.Option()] = 16,
    models: Annotated[str, typer.Option(help="Comma-separated real models measured end to end.")] = "smollm2",
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/transport"),
) -> None:
    """What a flagged request costs to ship to vLLM (bytes, ms; float32 vs bfloat16) and its end-to-end share."""
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.transport import CORRUPTIONS, run

    try:
        r = run(
            out_dir,
            quick=quick,
            e2e=e2e,
            wide=wide,
            requests=requests,
            max_tokens=max_tokens,
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
        )
    except (ValueError, FileNotFoundError, RuntimeError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    t = Table("hidden", "tokens", "sent as", "MB", "build ms", "read ms (vLLM)", title="flagged request payload")
    for p in r["payload"]:
        read = f"{p['read_ms']:.1f}" if "read_ms" in p else "-"
        t.add_row(str(p["hidden"]), str(p["tokens"]), p["sent_as"], f"{p['bytes'] / 1e6:.2f}", f"{p['build_ms']:.1f}",
                  read)  # fmt: skip
    out.print(t)
    t = Table("hidden", "tokens", *CORRUPTIONS, title="corrupting every token of a flagged prompt, ms (one thread)")
    for h, n in dict.fromkeys((c["hidden"], c["tokens"]) for c in r["corruption"]):
        ms = {c["corruption"]: c["ms"] for c in r["corruption"] if (c["hidden"], c["tokens"]) == (h, n)}
        t.add_row(str(h), str(n), *(f"{ms[c]:.1f}" for c in CORRUPTIONS))
    out.print(t)
    if r["end_to_end"]:
        t = Table("model", "prefix cache", "tokens", "flagged", "direct ms", "gw f32 ms", "gw bf16 ms",
                  "gw bf16 / direct", "bf16 = f32",
                  title="end to end, one client (throughput ratio = latency ratio)")  # fmt: skip
        for c in r["end_to_end"]:
            m = c["median_ms"]
            t.add_row(c["model"], "on" if c["prefix_cache"] else "off", str(c["tokens"]), f"{c['flagged']:.0%}",
                      f"{m['direct']:.0f}",
                      f"{m['gateway-float32']:.0f}", f"{m['gateway-bfloat16']:.0f}",
                      f"{c['throughput_vs_direct']['gateway-bfloat16']:.2f}",
                      str(c["bf16_same_tokens_as_f32"]))  # fmt: skip
        out.print(t)
    wrote(out_dir / "results.json")


@app.command("cost")
def bench_cost(
    axis: Annotated[str, typer.Option(help="corpus: one model, growing forget corpus; model: growing model.")],
    models: Annotated[
        str, typer.Option(help="Comma-separated; the corpus axis uses the first (add the opt-in qwen2.5-0.5b).")
    ] = "smollm2,gemma3-270m",
    scales: Annotated[
        str, typer.Option(help="Corpus sizes in units (model axis: the smallest); 64 units: 16x the copyright corpus.")
    ] = "1,4,16,64",
    unit_chunks: Annotated[
        int, typer.Option(help="Chunks of Pride and Prejudice in one unit (4 units: the copyright bench's).")
    ] = 5,
    baselines: Annotated[
        str, typer.Option(help="Measured at every point (ga,gd,kl,npo,npo_rt or 'all'); GA is the cheapest.")
    ] = "ga",
    once: Annotated[str, typer.Option(help="Corpus axis: baselines measured at the smallest corpus only.")] = (
        "npo,gd,kl,npo_rt"
    ),
    other: Annotated[
        Path | None, typer.Option(help="The other axis's results.json, for the 7B/70B extrapolation.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="Tiny random models, small corpus, GA only (CI: mechanics).")] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/cost"),
    device: DeviceOpt = None,
) -> None:
    """Setup cost of ECO (gate + fit) vs each baseline's unlearning run, as the corpus or the model grows."""
    place(device, None)
    from eco_unlearn.core.models import ModelNotAvailable, cache_dir
    from eco_unlearn.evaluation.bench.authors import quick_base
    from eco_unlearn.evaluation.bench.cost import Plan, run
    from eco_unlearn.evaluation.corpora import CorpusNotAvailable

    command = (f"eco bench cost --axis {axis} --models {models} --scales {scales} --unit-chunks {unit_chunks} "
               f"--baselines {baselines} --once {once}" + (" --quick" if quick else ""))  # fmt: skip
    try:
        chosen, chosen_once = baselines_option(baselines), baselines_option(once)
        names = tuple(m.strip() for m in models.split(",") if m.strip())
        steps = tuple(int(x) for x in scales.split(",") if x.strip())
        plan = Plan(unit_chunks=unit_chunks)
        if quick:
            cache = cache_dir() / "finetuned"
            names = (quick_base(cache), quick_base(cache, hidden=128, layers=4))
            steps, chosen, chosen_once = (1, 2), ("ga",), ()
            plan = Plan(chunk_tokens=48, prompt_tokens=16, gold_tokens=16, unit_chunks=2, n_fit=2, n_gate_retain=40,
                        window_tokens=8, grid=3, refine=1)  # fmt: skip
        r = run(axis, models=names, scales=steps, baselines=chosen, once=chosen_once if axis == "corpus" else (),
                plan=plan, out_dir=out_dir, command=command,
                other_axis=json.loads(other.read_text()) if other else None)  # fmt: skip
    except (ValueError, FileNotFoundError, ModelNotAvailable, CorpusNotAvailable) as e:
        raise fail(str(e)) from None
    key = "scale" if axis == "corpus" else "params"
    t = Table(key, "method", "seconds", "forward", "backward", "peak GB", title=f"setup cost, {axis} axis")
    for row in r["rows"]:
        if "error" in row:
            t.add_row(f"{row[key]:,}", row["method"], row["error"], "", "", "")
            continue
        t.add_row(f"{row[key]:,}", row["method"], f"{row['seconds']:.1f}", str(row["forward_passes"]),
                  str(row["backward_passes"]), f"{row['peak_rss_mb'] / 1024:.2f}")  # fmt: skip
    out.print(t)
    for c in r["ratios"]:
        out.print(f"{key} {c[key]:,}: cheapest baseline {c['cheapest']} {c['cheapest_seconds']:.0f} s = "
                  f"{c['ratio']:.2f}x ECO's {c['eco_seconds']:.0f} s")  # fmt: skip
    out.print(f"crossovers: {r['crossover']}")
    wrote(out_dir / "results.json", out_dir / "report.html")


@app.command("backends")
def bench_backends(
    models: Annotated[str, typer.Option(help="Comma-separated embedded models or checkpoint dirs.")] = (
        "smollm2,gemma3-270m"
    ),
    n: Annotated[int, typer.Option(help="Held-out prompts of each kind (chemistry, geography, general).")] = 4,
    max_tokens: Annotated[int, typer.Option()] = 16,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/backends"),
) -> None:
    """Each model through a real vLLM: flagged prompts get the same tokens via the vllm and hf backends."""
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.evaluation.bench.backends import run

    try:
        r = run(tuple(m.strip() for m in models.split(",") if m.strip()), out_dir, n=n, max_tokens=max_tokens)
    except (ValueError, FileNotFoundError, RuntimeError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    t = Table("model", "architecture", "flag rate", "flagged: vllm = hf", "flagged: differs from direct",
              "clean: vllm gateway = direct", title="one recipe, two backends")  # fmt: skip
    for m in r["models"]:
        if "error" in m:
            t.add_row(m["model"], "", m["error"], "", "", "")
            continue
        rates = ", ".join(f"{k} {v:.2f}" for k, v in m["flag_rate"].items())
        t.add_row(m["model"], m["architecture"], rates, f"{m['flagged_vllm_equals_hf']}/{m['flagged']}",
                  f"{m['flagged_differs_from_direct']}/{m['flagged']}",
                  f"{m['clean_vllm_equals_direct']}/{m['clean']}")  # fmt: skip
    out.print(t)
    wrote(out_dir / "results.json")


@app.command("harness")
def bench_harness(
    model: ModelOpt = "smollm2",
    quick: Annotated[bool, typer.Option(help="10 items per set.")] = False,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/bench/harness"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """lm-eval through ECO: in process and against eco serve, vs the hazard bench's own scoring (one run)."""
    place(device, dtype)
    need_lm_eval()
    from eco_unlearn.evaluation.bench.harness import TASKS, run

    r = run(model, quick=quick, out_dir=out_dir)
    t = Table("condition", "how scored", *TASKS, title="eco_hazard accuracy")
    for condition, arms in r["accuracy"].items():
        for arm, acc in arms.items():
            t.add_row(condition, arm, *(f"{acc[k]:.3f}" for k in TASKS))
    out.print(t)
    out.print(f"bench vs lm-eval in process: largest gap {r['bench_vs_harness_max_acc_gap']:.4f}; "
              f"gateway vs in process: largest log-likelihood difference "
              f"{r['gateway_vs_harness_max_loglik_diff']:.2e}, "
              f"accuracy equal: {r['gateway_acc_equal']}")  # fmt: skip
    wrote(out_dir / "results.json", out_dir / "report.html")
