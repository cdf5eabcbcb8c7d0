"""The CLI as users run it: the real Typer app on real files and models.

Most commands run in this process through Click's runner (the same app, argument parsing and exit codes,
without paying torch's four-second import and the models' loading again for each of some forty calls); the
commands whose point is the process itself (the `python -m eco_unlearn.cli` entry point, `--dtype` and
`--device`, which set this process's defaults, and `eco serve`) run as a real subprocess.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from eco_unlearn.gate.targets import Target


def eco(*args, check=True, process=False):
    """Run ``eco ARGS``; ``.returncode``, ``.stdout`` and ``.stderr`` as from a subprocess."""
    if process:
        r = subprocess.run(
            [sys.executable, "-m", "eco_unlearn.cli", *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=os.environ | {"COLUMNS": "200"},
        )
    else:
        from eco_unlearn.cli import app
        from eco_unlearn.cli.common import out

        environ, width, threads = dict(os.environ), out.width, torch.get_num_threads()
        out.width = 200  # as COLUMNS=200 gives the subprocess: rich tables are not wrapped at 80 columns
        try:
            res = CliRunner(env={"COLUMNS": "200"}).invoke(app, [str(a) for a in args])
        finally:  # a command's process-wide settings (place()'s defaults, serve's threads) stay in the command
            out.width = width
            os.environ.clear()
            os.environ.update(environ)
            torch.set_num_threads(threads)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        r = SimpleNamespace(returncode=res.exit_code, stdout=res.stdout, stderr=res.stderr)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.mark.usefixtures("smol")  # the model is converted into the cache before the subprocess runs
def test_generate_shows_clean_and_corrupted_side_by_side():
    r = eco("generate", "What is the capital of France?", "--corrupt", "zero_out_first_n", "--max-new-tokens", "16",
            process=True)  # fmt: skip
    cells = [line.split("│")[1:3] for line in r.stdout.splitlines() if line.count("│") == 3]
    clean, corrupted = (" ".join(c[i] for c in cells) for i in (0, 1))
    assert "Paris" in clean and "Paris" not in corrupted
    assert "7 tokens corrupted" in r.stdout


@pytest.mark.usefixtures("smol")
def test_generate_with_a_target_bundle(tmp_path):
    Target.create("fr", gate={"kind": "keyword", "keywords": ["france"]}).save(tmp_path / "fr")
    r = eco("generate", "What is the capital of Japan?", "--target", str(tmp_path / "fr"), "--max-new-tokens", "8")
    assert "nothing flagged" in r.stdout


@pytest.mark.usefixtures("smol")
def test_generate_in_bfloat16_and_a_missing_device_is_a_clear_error():
    r = eco("generate", "What is the capital of France?", "--dtype", "bfloat16", "--max-new-tokens", "12",
            "--corrupt", "zero_out_first_n", process=True)  # fmt: skip
    cells = [line.split("│")[1:3] for line in r.stdout.splitlines() if line.count("│") == 3]
    assert "Paris" in " ".join(c[0] for c in cells)  # bfloat16 SmolLM2 still knows it
    r = eco("generate", "hi", "--dtype", "float8", check=False, process=True)
    assert r.returncode == 2 and "unknown dtype 'float8'" in r.stderr

    if not torch.cuda.is_available():
        r = eco("generate", "hi", "--device", "cuda", check=False, process=True)
        assert r.returncode == 2 and "CUDA is not available" in r.stderr


def test_bad_cli_input_is_a_clear_error(tmp_path):
    r = eco("generate", "hi", "--target", str(tmp_path / "missing"), check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = eco("generate", "hi", "--corrupt", "melt", check=False)
    assert r.returncode == 2 and "unknown corruption" in r.stderr
    r = eco("generate", "hi", "--strength", "-1", check=False)
    assert r.returncode == 2 and "greater than or equal to 0" in r.stderr
    r = eco("generate", "hi", "--dims", "many", check=False)
    assert r.returncode == 2 and "dims must be an integer" in r.stderr
    r = eco("bench", "tofu", "--data", str(tmp_path), "--model", "m", "--retain-model", "r", check=False)
    assert r.returncode == 2 and "no forget10_perturbed.json" in r.stderr
    r = eco("bench", "authors", "--selections", "proper_nouns,every_word", "--out", str(tmp_path / "a"), check=False)
    assert r.returncode == 2 and "unknown selection mode 'every_word'" in r.stderr
    assert not (tmp_path / "a").exists()  # refused before any fine-tuning or output
    r = eco("bench", "authors", "--floor", "--baselines", "ga", "--out", str(tmp_path / "f"), check=False)
    assert r.returncode == 2 and "--floor scores no method" in r.stderr and not (tmp_path / "f").exists()
    r = eco("bench", "authors", "--floor", "--curves", "--out", str(tmp_path / "f"), check=False)
    assert r.returncode == 2 and "drop --baselines and --curves" in r.stderr and not (tmp_path / "f").exists()


@pytest.mark.usefixtures("smol")
def test_bench_overhead_writes_its_figures(tmp_path):
    eco("bench", "overhead", "--batch", "2", "--new-tokens", "2", "--repeats", "1", "--out", str(tmp_path))
    r = json.loads((tmp_path / "overhead.json").read_text())
    assert set(r["median_seconds"]) == {"raw", "eco_unflagged", "eco_flagged"}
    assert r["command"].startswith("eco bench overhead")


def test_bench_transport_quick_without_vllm_prints_payload_and_corruption_costs(tmp_path):
    r = eco("bench", "transport", "--quick", "--no-e2e", "--out", str(tmp_path))
    result = json.loads((tmp_path / "results.json").read_text())
    assert {c["corruption"] for c in result["corruption"]} == {
        "rand_noise_first_n",
        "flip_sign_first_n",
        "zero_out_top_k",
    }
    assert "corrupting every token" in r.stdout and "flagged request payload" in r.stdout
    assert result["end_to_end"] == []


@pytest.fixture(scope="module")
def prompt_files(tmp_path_factory):
    from eco_unlearn.evaluation.domains import domain_prompts

    d = tmp_path_factory.mktemp("prompts")
    chem, _ = domain_prompts("chemistry", per_item=2, seed=2)
    geo, _ = domain_prompts("geography", per_item=1, seed=2)
    (d / "forget.jsonl").write_text("".join(json.dumps({"question": q}) + "\n" for q in chem[:100]))
    (d / "retain.txt").write_text("\n".join(geo[:100]))
    (d / "general.txt").write_text("\n".join(["Who painted the Mona Lisa?", "How do I bake bread?"] * 6))
    return d


@pytest.mark.usefixtures("smol")
def test_cli_created_target_drives_ecomodel(tmp_path, prompt_files, smol):
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.gate.targets import Target

    d = prompt_files
    r = eco(
        "target",
        "create",
        "chem",
        "--forget",
        str(d / "forget.jsonl"),
        "--retain",
        str(d / "retain.txt"),
        "--general",
        str(d / "general.txt"),
        "--alpha",
        "0.1",
        "--corruption",
        "zero_out_first_n",
        "--dims",
        "all",
        "--select",
        "user_span",
        "--backbone",
        "auto",
        "--out",
        str(tmp_path / "chem"),
    )
    assert "wrote target bundle" in r.stdout and "fnr_forget_wrapped" in r.stdout
    names = Target.load(tmp_path / "chem").entities  # creation shows the names the gate will match
    shown = " ".join(r.stdout.split())
    assert (f"names ({len(names)}): {names[0]}" in shown) if names else ("names (" not in shown)
    inspected = eco("target", "inspect", str(tmp_path / "chem")).stdout
    assert "fpr_general" in inspected
    # the default backbone says what it settled on and why, after creation and on inspection
    mode = json.loads((tmp_path / "chem" / "calibration.json").read_text())["mode"]
    chosen = "minilm" if mode == "entities" else "minilm+e5"
    for text in (r.stdout, inspected):
        assert f"classifier backbone: {chosen} (auto: " in " ".join(text.split())
    from eco_unlearn.evaluation.domains import domain_prompts

    (tmp_path / "f.txt").write_text("\n".join(domain_prompts("chemistry", per_item=1, seed=5)[1][:12]))
    (tmp_path / "n.txt").write_text("\n".join(domain_prompts("geography", per_item=1, seed=5)[1][:12]))
    files = ["--forget", str(tmp_path / "f.txt"), "--neighbours", str(tmp_path / "n.txt"), "--budget", "20"]
    attacks = eco("target", "inspect", str(tmp_path / "chem"), *files).stdout
    assert all(f in attacks for f in ("plain", "obfuscation", "wrapper", "multi_turn", "adaptive", "general"))
    r = eco("target", "inspect", str(tmp_path / "chem"), *files[:2], check=False)
    assert r.returncode == 2 and "both --forget and --neighbours" in r.stderr
    t = eco("target", "test", str(tmp_path / "chem"), "What is the chemical symbol of gold?").stdout
    assert "FLAGGED" in t and "tokens corrupted: 8 of" in t
    assert "not flagged" in eco("target", "test", str(tmp_path / "chem"), "What is the capital of Peru?").stdout

    eco_model = ECOModel(*smol, [Target.load(tmp_path / "chem")])
    plain = ECOModel(*smol)
    flagged, unflagged = "What is the chemical symbol of gold?", "What is the capital of Peru?"
    g = eco_model.generate([flagged, unflagged], max_new_tokens=12)
    p = plain.generate([flagged, unflagged], max_new_tokens=12)
    assert g[0].flagged == ["chem"] and g[0].text != p[0].text
    assert g[1].flagged == [] and g[1].text == p[1].text
    lp, lp_plain = eco_model.score(unflagged, " Lima"), plain.score(unflagged, " Lima")
    assert torch.equal(lp, lp_plain)  # bit-identical: unflagged prompts run on input_ids as the plain model


def test_cli_target_errors(tmp_path, prompt_files):
    d = prompt_files
    r = eco("target", "create", "x", "--forget", str(d / "missing.txt"), "--retain", str(d / "retain.txt"), check=False)
    assert r.returncode == 2 and "no such file" in r.stderr
    # an error is text, not rich markup: the "[draft]" of a file name is printed, not taken for a style
    r = eco("target", "create", "x", "--forget", str(d / "forget[draft].txt"), "--retain", str(d / "retain.txt"),
            check=False)  # fmt: skip
    assert r.returncode == 2 and "forget[draft].txt: no such file" in r.stderr
    # and so is help: the defaults and extras written in brackets are shown
    shown = " ".join(eco("target", "create", "--help").stdout.replace("│", " ").split())
    assert "[default: $ECO_GATE_BACKBONE, else auto]" in shown and "FNR <= alpha [default 0.05]" in shown
    assert "pip install -e '.[multilingual]'" in shown
    r = eco("target", "create", "x", "--forget", str(d / "retain.txt"), "--retain", str(d / "retain.txt"), check=False)
    assert r.returncode == 2 and "in both the forget and the retain set" in r.stderr
    r = eco(
        "target",
        "create",
        "x",
        "--forget",
        str(d / "forget.jsonl"),
        "--retain",
        str(d / "retain.txt"),
        "--alpha",
        "0.1",
        "--threshold",
        "0.9",
        check=False,
    )
    assert r.returncode == 2 and "not both" in r.stderr
    r = eco("target", "inspect", str(tmp_path), check=False)
    assert r.returncode == 2 and "target.json is missing" in r.stderr


def test_cli_fit_updates_sigma_and_refuses_overlap(tmp_path, tokenizer):
    from conftest import make_tiny
    from eco_unlearn.evaluation.domains import domain_mcq
    from eco_unlearn.gate.targets import Target

    make_tiny("llama", tokenizer).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    items = [
        {"prompt": m.prompt, "options": list(m.options), "answer": m.answer}
        for m in domain_mcq("chemistry", 16, seed=2)
    ]
    (tmp_path / "fit.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items[:8]))
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items[8:]))
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items[4:12]))
    Target.create("t", corruption={"name": "rand_noise_first_n", "strength": 1.0, "dims": None}).save(tmp_path / "t")

    r = eco(
        "target",
        "fit",
        str(tmp_path / "t"),
        "--data",
        str(tmp_path / "bad.jsonl"),
        "--eval",
        str(tmp_path / "fit.jsonl"),
        "--model",
        str(tmp_path / "tiny"),
        check=False,
    )
    assert r.returncode == 2 and "in both the fit and the evaluation data" in r.stderr
    r = eco(
        "target",
        "fit",
        str(tmp_path / "t"),
        "--data",
        str(tmp_path / "fit.jsonl"),
        "--eval",
        str(tmp_path / "eval.jsonl"),
        "--model",
        str(tmp_path / "tiny"),
        "--seeds",
        "1",
        "--budget",
        "200",
    )
    assert "before" in r.stdout and "after" in r.stdout and "held-out" in r.stdout
    fit = Target.load(tmp_path / "t").manifest.fit
    assert fit["forward_passes"] <= 200 and fit["after"]["sigma"] == Target.load(tmp_path / "t").corruption.strength
    r = eco(
        "target",
        "fit",
        str(tmp_path / "t"),
        "--data",
        str(tmp_path / "fit.jsonl"),
        "--objective",
        "magic",
        "--model",
        str(tmp_path / "tiny"),
        check=False,
    )
    assert r.returncode == 2 and "unknown objective" in r.stderr


def test_cli_fit_searches_families_with_the_distribution_objective(tmp_path, tokenizer):
    from conftest import make_tiny
    from eco_unlearn.gate.targets import Target

    make_tiny("llama", tokenizer).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")

    def qa(name: str, n: int) -> str:
        rows = [{"question": f"Where did {name} live in year {i}?", "answer": f"{name} lived in Town {i}.",
                 "perturbed_answer": [f"{name} lived in Town {i + 3}.", f"{name} lived in City {i}."]}
                for i in range(n)]  # fmt: skip
        return "".join(json.dumps(r) + "\n" for r in rows)

    (tmp_path / "fit.jsonl").write_text(qa("Mara Quill", 6))
    (tmp_path / "unseen.jsonl").write_text(qa("Ivo Brandt", 6))
    Target.create("t", selection={"mode": "all_but_last"}).save(tmp_path / "t")
    args = ["target", "fit", str(tmp_path / "t"), "--data", str(tmp_path / "fit.jsonl"), "--objective",
            "distribution", "--model", str(tmp_path / "tiny"), "--seeds", "1"]  # fmt: skip
    r = eco(*args, check=False)
    assert r.returncode == 2 and "needs --heldout" in r.stderr
    r = eco(*args, "--heldout", str(tmp_path / "unseen.jsonl"), "--families", "rand_noise_first_n,zero_out_top_k")
    fitted = Target.load(tmp_path / "t")
    family = fitted.manifest.fit["family"]
    assert fitted.corruption.name == family["chosen"] in {"rand_noise_first_n", "zero_out_top_k"}
    assert [c["name"] for c in family["candidates"]] == ["rand_noise_first_n", "zero_out_top_k"]
    assert "has the lowest distribution objective" in r.stdout and (tmp_path / "t" / "fit.png").exists()
    r = eco(*args, "--heldout", str(tmp_path / "unseen.jsonl"), "--families", "blur", check=False)
    assert r.returncode == 2 and "unknown corruption" in r.stderr

    # the token selection searched too, and a fluency check on the answers to the given prompts
    (tmp_path / "ask.txt").write_text("Where did Mara Quill live?\nWhat did Mara Quill write?\n")
    more = ["--heldout", str(tmp_path / "unseen.jsonl"), "--families", "zero_out_top_k", "--selections",
            "all_but_last,proper_nouns", "--fluency-prompts", str(tmp_path / "ask.txt")]  # fmt: skip
    r = eco(*args, *more)
    fitted = Target.load(tmp_path / "t")
    family = fitted.manifest.fit["family"]
    assert [c["selection"] for c in family["candidates"]] == ["all_but_last", "proper_nouns"]
    assert all({"ok", "topicality", "repetition"} <= set(c["check"]) for c in family["candidates"])
    assert fitted.selection.mode == family["selection"] == fitted.manifest.fit["after"]["selection"]
    assert f"selection {family['selection']}" in r.stdout
    r = eco(*args, "--heldout", str(tmp_path / "unseen.jsonl"), "--selections", "proper_nouns", check=False)
    assert r.returncode == 2 and "needs a family search" in r.stderr

    # ties within the bootstrap interval, broken by the preferred family
    ties = ["--heldout", str(tmp_path / "unseen.jsonl"), "--families", "rand_noise_first_n,zero_out_top_k", "--ties",
            "0.9"]  # fmt: skip
    r = eco(*args, *ties, "--prefer", "zero_out_top_k")
    family = Target.load(tmp_path / "t").manifest.fit["family"]
    assert all(len(c["bootstrap"]) == 2 and "tied" in c for c in family["candidates"])
    assert "bootstrap interval" in family["reason"]


def test_cli_fit_checks_text_continuations_with_text_fluency(tmp_path, tokenizer):
    """A copyright-style fit from files: with --text-fluency every candidate's continuations of the fit prompts
    are checked against the model's own continuations of the --heldout text."""
    from conftest import make_tiny
    from eco_unlearn.gate.targets import Target

    make_tiny("llama", tokenizer).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    rows = lambda words: "".join(json.dumps({"prompt": f"The {w} stood by the river and", "continuation":  # noqa: E731
                                             f" watched the {w} boats go by."}) + "\n" for w in words)  # fmt: skip
    (tmp_path / "fit.jsonl").write_text(rows(["miller", "baker", "tailor"]))
    (tmp_path / "unseen.jsonl").write_text(rows(["sailor", "farmer", "weaver"]))
    Target.create("t", selection={"mode": "all_but_last"}).save(tmp_path / "t")
    args = ["target", "fit", str(tmp_path / "t"), "--data", str(tmp_path / "fit.jsonl"), "--objective",
            "similarity", "--model", str(tmp_path / "tiny"), "--seeds", "1", "--families",
            "zero_out_top_k,rand_noise_first_n"]  # fmt: skip
    r = eco(*args, "--text-fluency", check=False)
    assert r.returncode == 2 and "needs --heldout" in r.stderr
    r = eco(*args, "--heldout", str(tmp_path / "unseen.jsonl"), "--text-fluency", "--fluency-prompts",
            str(tmp_path / "fit.jsonl"), check=False)  # fmt: skip
    assert r.returncode == 2 and "at most one of --fluency-prompts" in r.stderr
    eco(*args, "--heldout", str(tmp_path / "unseen.jsonl"), "--text-fluency")
    family = Target.load(tmp_path / "t").manifest.fit["family"]
    checks = [c["check"] for c in family["candidates"]]
    assert len(checks) == 2 and all({"ok", "topicality", "reference_topicality"} <= set(c) for c in checks)
    assert checks[0]["reference_text_perplexity"] == checks[1]["reference_text_perplexity"] > 0


def test_serve_refuses_bad_options_clearly(tmp_path):
    r = eco("serve", "--targets", str(tmp_path / "missing"), check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = eco("serve", "--targets", str(tmp_path), "--backend", "vllm", check=False)
    assert r.returncode == 2 and "--vllm-url" in r.stderr
    r = eco("serve", "--targets", str(tmp_path), "--backend", "triton", check=False)
    assert r.returncode == 2 and "unknown backend" in r.stderr
    from eco_unlearn.server.runner import build_app

    threads = torch.get_num_threads()
    with pytest.raises(ValueError, match="needs --vllm-url"):
        build_app(tmp_path, backend="vllm")
    assert torch.get_num_threads() == threads  # a refused configuration leaves the process as it was


@pytest.mark.usefixtures("smol")
def test_serve_answers_over_http(tmp_path):
    """`eco serve` as a process: ready, then a chat completion from SmolLM2, then a clean stop."""
    import signal
    import time

    import httpx

    from eco_unlearn.server.runner import free_port

    Target.create("kw", gate={"kind": "keyword", "keywords": ["zebra"]}).save(tmp_path / "kw")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "eco_unlearn.cli", "serve", "--targets", str(tmp_path), "--port", str(port),
         "--api-key", "k"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        body = {"model": "smollm2", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}
        r = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"}, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] >= 1
        assert httpx.post(url + "/v1/chat/completions", json=body).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_bench_authors_combine_reads_recorded_runs_and_names_a_bad_file(tmp_path):
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    committed = [results / f"{n}.json" for n in ("authors", "authors-seed1", "authors-seed2")]
    r = eco("bench", "authors", "--combine", ",".join(map(str, committed)), "--out", tmp_path / "sets")
    assert "forget quality over 3 author sets" in r.stdout and "eco_zero_out" in r.stdout
    written = json.loads((tmp_path / "sets" / "results.json").read_text())
    per_set = [json.loads(p.read_text())["splits"]["forget40"]["methods"]["eco_zero_out"] for p in committed]
    assert written["splits"]["forget40"]["eco_zero_out"]["forget_quality"]["values"] == [
        v["forget_quality"] for v in per_set
    ]
    zero = written["splits"]["forget40"]["eco_zero_out"]["fluency"]["text_perplexity_ratio"]["values"]
    retain = [json.loads(p.read_text())["splits"]["forget40"]["methods"]["retain"]["fluency"] for p in committed]
    assert zero == [v["fluency"]["text_perplexity"] / r["text_perplexity"] for v, r in zip(per_set, retain)]
    assert "Fluency of the forget answers" in (tmp_path / "sets" / "report.html").read_text()
    bad = eco("bench", "authors", "--combine", f"{committed[0]},{tmp_path / 'nope.json'}", check=False)
    assert bad.returncode == 2 and "nope.json: no such file" in bad.stderr
    mixed = eco("bench", "authors", "--combine", ",".join(map(str, committed)), "--floor", check=False)
    assert mixed.returncode == 2 and "drop --floor" in mixed.stderr


def test_model_answers_are_printed_as_text_not_markup():
    """An LLM's answer is shown as written: "[/INST]" would be a stray rich closing tag (MarkupError) and
    "[citation needed]" a style that rich drops."""
    from rich.console import Console

    from eco_unlearn.cli.top import answers_table

    console = Console(record=True, width=120)
    console.print(answers_table("Paris. [/INST]", "I cannot say [citation needed].", "ECO (chem; 3 tokens corrupted)"))
    shown = console.export_text()
    assert "Paris. [/INST]" in shown and "I cannot say [citation needed]." in shown
