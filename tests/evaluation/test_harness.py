"""lm-eval through ECO: the real lm-evaluation-harness, in process and against a real uvicorn gateway."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

pytest.importorskip("lm_eval", reason="lm-eval is an optional extra (pip install -e '.[lm-eval]')")

from lm_eval import simple_evaluate  # noqa: E402
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from eco_unlearn.core.ecomodel import ECOModel  # noqa: E402
from eco_unlearn.evaluation.bench.hazard import eval_sets  # noqa: E402
from eco_unlearn.evaluation.harness import ECOHarnessLM, evaluate, write_local_tasks  # noqa: E402
from eco_unlearn.gate.targets import Target  # noqa: E402
from eco_unlearn.server import ServerConfig, TargetRegistry, create_app  # noqa: E402
from eco_unlearn.server.hf import HFBackend  # noqa: E402
from eco_unlearn.server.runner import serve_in_thread  # noqa: E402

LIMIT = 3


@pytest.fixture(scope="module")
def eco(tiny_llama_dir, tokenizer):
    return ECOModel(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tokenizer)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """Flags every chemistry item (and no geography or world-fact item)."""
    path = tmp_path_factory.mktemp("targets") / "chem"
    Target.create("chem", gate={"kind": "keyword", "keywords": ["chemical"]},
                  corruption={"name": "flip_sign_first_n", "dims": None}).save(path)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    return write_local_tasks(tmp_path_factory.mktemp("tasks"))


def logliks(results: dict) -> dict[tuple[str, int], list[float]]:
    return {
        (task, s["doc_id"]): [float(r[0]) for r in s["filtered_resps"]]
        for task, samples in results["samples"].items()
        for s in samples
    }


def run_lm(lm, tasks, **model_args) -> dict:
    return simple_evaluate(model=lm, model_args=model_args or None, tasks=["eco_hazard"], limit=LIMIT,
                           task_manager=TaskManager(include_path=str(tasks)), log_samples=True,
                           bootstrap_iters=0)  # fmt: skip


def test_the_shipped_task_holds_the_hazard_benchmarks_items(tasks):
    for name, items in eval_sets().items():
        lines = (tasks / "eco_hazard" / f"eco_hazard_{name}.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == [asdict(m) for m in items]
        yaml = (tasks / "eco_hazard" / f"eco_hazard_{name}.yaml").read_text()
        assert str((tasks / "eco_hazard").resolve()) in yaml and "__DATA_DIR__" not in yaml


def test_in_process_scores_are_ecomodels_own_with_and_without_a_target(eco, bundle, tasks):
    """lm-eval's per-option log-likelihoods equal ECOModel's summed continuation scores; with the target
    the chemistry items are flagged and score differently, the others do not change."""
    items = {f"eco_hazard_{k}": v[:LIMIT] for k, v in eval_sets().items()}
    clean = logliks(run_lm(ECOHarnessLM(eco=eco), tasks))
    lm = ECOHarnessLM(eco=eco, targets=str(bundle))
    flagged = logliks(run_lm(lm, tasks))
    for task, docs in items.items():
        for i, m in enumerate(docs):
            own = [float(s.sum()) for s in eco.score_batch([(m.prompt, " " + o) for o in m.options])]
            assert clean[(task, i)] == pytest.approx(own, abs=1e-4)
            changed = flagged[(task, i)] != pytest.approx(clean[(task, i)], abs=1e-4)
            assert changed == (task == "eco_hazard_forget")
    assert lm.flagged == {"scored": 4 * 3 * LIMIT, "flagged": 4 * LIMIT}


def test_local_completions_against_the_gateway_equals_in_process(eco, bundle, tasks, tiny_llama_dir):
    """lm-eval's own local-completions model (token ids, echo, logprobs) against a real uvicorn gateway
    holding the target gets the in-process log-likelihoods with the gates reading the whole prompt."""
    in_process = logliks(run_lm(ECOHarnessLM(eco=eco, targets=str(bundle), gate="prompt"), tasks))
    app = create_app(HFBackend(ECOModel(eco.model, eco.tokenizer)), TargetRegistry(bundle), ServerConfig("tiny"))
    with serve_in_thread(app) as url:
        served = logliks(run_lm("local-completions", tasks, model="tiny", base_url=f"{url}/v1/completions",
                                tokenizer=str(tiny_llama_dir), tokenizer_backend="huggingface",
                                tokenized_requests=True, num_concurrent=1, max_retries=1, batch_size=4))  # fmt: skip
    assert served.keys() == in_process.keys() and len(served) == 3 * LIMIT
    for key in served:
        assert served[key] == pytest.approx(in_process[key], abs=1e-4)


def test_rolling_loglikelihood_and_generation(eco):
    lm = ECOHarnessLM(eco=eco, max_length=8)  # short windows: the text is scored in several pieces
    text = "The weather today is sunny and warm, with a light breeze from the west."
    (rolling,) = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)])
    ids = [lm.eot_token_id] + lm.tok_encode(text)
    whole = ECOHarnessLM(eco=eco, max_length=len(ids)).loglikelihood_rolling(
        [Instance("loglikelihood_rolling", {}, (text,), 0)]
    )[0]
    full = sum(eco.prompt_logprobs(eco.plan([eco.encode_ids(ids)]))[0].logprobs)
    assert whole == pytest.approx(full, abs=1e-3)
    assert np.isfinite(rolling) and rolling < 0 and rolling != pytest.approx(full, abs=1e-3)  # less context
    plain = eco.generate("Once upon a time", max_new_tokens=6, chat=False)[0].text
    (out,) = lm.generate_until([Instance("generate_until", {}, ("Once upon a time", {"max_gen_toks": 6}), 0)])
    assert out == plain
    stop = plain.strip()[:2]
    request = Instance("generate_until", {}, ("Once upon a time", {"until": [stop], "max_gen_toks": 6}), 0)
    (cut,) = lm.generate_until([request])
    assert stop not in cut and plain.startswith(cut)


def test_evaluate_writes_lm_evals_results_and_refuses_unknown_tasks(eco, tiny_llama_dir, bundle, tmp_path):
    r = evaluate(str(tiny_llama_dir), [bundle], ["eco_hazard_forget"], tmp_path, limit=2)
    saved = json.loads((tmp_path / "lm_eval_results.json").read_text())
    assert saved["results"]["eco_hazard_forget"]["acc,none"] == r["results"]["eco_hazard_forget"]["acc,none"]
    assert saved["eco"]["flagged"] == saved["eco"]["scored"] == 8
    with pytest.raises(ValueError, match="unknown lm-eval task"):
        evaluate(str(tiny_llama_dir), [], ["no_such_task"], tmp_path)
    with pytest.raises(ValueError, match="gate must be"):
        ECOHarnessLM(eco=eco, gate="answer")


def test_bfloat16_model_scores_close_to_float32(tiny_llama_dir, tasks):
    lm32 = ECOHarnessLM(str(tiny_llama_dir))
    lm16 = ECOHarnessLM(str(tiny_llama_dir), dtype="bfloat16")
    assert lm16.eco.model.dtype == torch.bfloat16
    a, b = logliks(run_lm(lm32, tasks)), logliks(run_lm(lm16, tasks))
    diffs = [abs(x - y) for k in a for x, y in zip(a[k], b[k])]
    assert max(diffs) < 0.5 and max(diffs) > 0  # bfloat16 rounds, but scores the same items sensibly


def test_lm_evals_own_wmdp_task_reads_a_local_parquet_as_the_readme_says(eco, tmp_path):
    """The README's recipe: include lm-eval's WMDP template, point the data at a local file."""
    from pathlib import Path

    import lm_eval
    import pandas as pd

    rows = [{"question": f"Which of these is element {i}?", "choices": ["H", "He", "Li", "Be"], "answer": i % 4}
            for i in range(4)]  # fmt: skip
    pd.DataFrame(rows).to_parquet(tmp_path / "test.parquet")
    template = Path(lm_eval.__file__).parent / "tasks" / "wmdp" / "_default_template_yaml"
    (tmp_path / "wmdp_local.yaml").write_text(
        f"include: {template}\ntask: wmdp_local\ndataset_path: parquet\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tmp_path / 'test.parquet'}\n"
    )
    r = simple_evaluate(model=ECOHarnessLM(eco=eco), tasks=["wmdp_local"], bootstrap_iters=0,
                       task_manager=TaskManager(include_path=str(tmp_path)))  # fmt: skip
    assert r["results"]["wmdp_local"]["acc,none"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert r["n-samples"]["wmdp_local"]["effective"] == 4


def test_lm_eval_takes_eco_by_name_with_its_argument_string(tiny_llama_dir, bundle, tasks, tmp_path):
    """The README's Python route: the model by name, targets joined by "|" in lm-eval's argument string."""
    other = tmp_path / "other"
    Target.create("other", gate={"kind": "keyword", "keywords": ["zebra"]}).save(other)
    r = simple_evaluate(model="eco", model_args=f"pretrained={tiny_llama_dir},targets={bundle}|{other}",
                       tasks=["eco_hazard_forget"], limit=2, bootstrap_iters=0,
                       task_manager=TaskManager(include_path=str(tasks)))  # fmt: skip
    assert r["results"]["eco_hazard_forget"]["acc,none"] in (0.0, 0.5, 1.0)
    assert r["config"]["model"] == "eco"
    lm = ECOHarnessLM.create_from_arg_string(f"pretrained={tiny_llama_dir},targets={bundle}|{other}")
    assert [t.name for t in lm.eco.targets] == ["chem", "other"]
