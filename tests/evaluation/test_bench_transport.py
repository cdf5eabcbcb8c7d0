"""`eco bench transport`: payload sizes and costs, and bfloat16 transport against a real bfloat16 vLLM."""

from __future__ import annotations

import pytest

from eco_unlearn.evaluation.bench import transport
from eco_unlearn.server.vllm_process import vllm_python


def test_payload_rows_halve_in_bfloat16_and_are_read_by_vllms_own_loader():
    rows = transport.payload_costs(hidden=(256, 1024), lengths=(64,), repeats=1)
    by = {(r["hidden"], r["sent_as"]): r for r in rows}
    assert set(by) == {(h, d) for h in (256, 1024) for d in (*transport.SEND_DTYPES, "ids")}
    for h in (256, 1024):  # torch.save adds a few KB of zip headers: half the bytes, plus those
        assert by[(h, "bfloat16")]["bytes"] < 0.55 * by[(h, "float32")]["bytes"]
        assert by[(h, "ids")]["bytes"] < 16 * 64 + 100  # a number per token, whatever the width
    assert by[(1024, "float32")]["bytes"] > 3.5 * by[(256, "float32")]["bytes"]
    if vllm_python() is not None:  # read back by vLLM's safe_load_prompt_embeds (it asserts shape and dtype)
        assert all(r["read_ms"] > 0 for r in rows if r["sent_as"] != "ids")


def test_bfloat16_embeddings_and_corruption_in_vllm_give_the_same_tokens_as_float32(tiny_llama_dir, tmp_path):
    if vllm_python() is None:
        pytest.skip("vLLM is not installed (scripts/setup_vllm.sh)")
    cells = transport.end_to_end(tiny_llama_dir, tmp_path, lengths=(48,), fractions=(1.0,), requests=2,
                                 max_tokens=8)  # fmt: skip
    (c,) = cells
    assert c["bf16_same_tokens_as_f32"] and c["in_vllm_same_tokens_as_bf16"] and c["flagged_differs_from_direct"]
    assert set(c["median_ms"]) == {"direct", "gateway-float32", "gateway-bfloat16", "gateway-in-vllm"}
    share = transport.transport_share(transport.payload_costs((c["hidden"],), (48,), 1), cells)
    assert {s["sent_as"] for s in share} == {"float32", "bfloat16"} and all(0 < s["share"] for s in share)


def test_corruption_costs_cover_every_size_and_corruption():
    rows = transport.corruption_costs(hidden=(64, 256), lengths=(32,), repeats=1)
    assert {(r["hidden"], r["corruption"]) for r in rows} == {(h, c) for h in (64, 256) for c in transport.CORRUPTIONS}
    assert all(r["ms"] > 0 and r["tokens"] == 32 for r in rows)
