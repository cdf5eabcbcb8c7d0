"""The load generator as a bounded load test, and `eco bench serve` end to end on a tiny model."""

from __future__ import annotations

import json

from transformers import AutoModelForCausalLM

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.evaluation.bench.serve import BLOCKS, bench_prompts, load, merge, run
from eco_unlearn.gate.targets import Target
from eco_unlearn.server import TargetRegistry
from eco_unlearn.server.hf import HFBackend


def test_sixteen_clients_for_ten_seconds_without_errors(tiny_llama_dir, tokenizer, gateway):
    eco = ECOModel(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tokenizer)
    registry = TargetRegistry(None)
    registry.add_target(Target.create("chem", gate={"kind": "keyword", "keywords": ["chemical", "atomic"]}))
    backend = HFBackend(eco)
    with gateway(backend, registry) as url:
        r = load(url, "tiny", clients=16, seconds=10, max_tokens=8)
    print(f"\n16 clients, 10 s: {r.requests} requests, p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms")
    assert r.errors == 0 and r.requests >= 16
    assert r.p50_ms <= r.p99_ms and r.completion_tokens == 8 * r.requests
    assert max(backend.batches) > 1


def test_bench_prompts_mix_in_flagged_questions():
    prompts = bench_prompts(16)
    assert sum("chemical" in p or "atomic" in p for p in prompts) == 2 and len(set(prompts)) == 16


def test_bench_serve_hf_writes_results(tiny_llama_dir, tmp_path):
    r = run("hf", str(tiny_llama_dir), (1, 2), seconds=1.0, max_tokens=4, n_targets=2, out_dir=tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["ratios"] == r["ratios"] and set(saved["ratios"]) == {"gateway@2/gateway@1"}
    assert [c["clients"] for c in saved["cells"]] == [1, 2] and all(c["errors"] == 0 for c in saved["cells"])
    assert all(c["blocks"] == BLOCKS and c["seconds"] >= 1.0 for c in saved["cells"])  # every block counted
    assert sorted(p.name for p in (tmp_path / "targets").iterdir()) == ["chem-0", "chem-1"]


def test_merged_blocks_sum_their_totals_and_take_percentiles_over_every_request():
    from eco_unlearn.evaluation.bench.serve import _result

    a, b = _result(4, 2.0, 1, 30, [10.0, 20.0, 30.0]), _result(4, 3.0, 0, 20, [40.0, 50.0])
    m = merge([a, b])
    assert (m.clients, m.seconds, m.requests, m.errors, m.completion_tokens) == (4, 5.0, 5, 1, 50)
    assert m.p50_ms == 30.0 and m.p99_ms == 50.0 and m.tokens_per_s == 10.0
