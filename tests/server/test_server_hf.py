"""The hf backend: dynamic batching, per-row stopping, and the real SmolLM2 behind the openai client."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from transformers import AutoModelForCausalLM

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.gate.targets import Target
from eco_unlearn.server import TargetRegistry
from eco_unlearn.server.backends import StopScanner
from eco_unlearn.server.hf import HFBackend

PROMPTS = [f"Item number {i} in the list is" for i in range(8)]


@pytest.fixture(scope="module")
def eco(tiny_llama_dir, tokenizer):
    return ECOModel(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tokenizer)


def complete_all(url: str, prompts: list[str], **kw) -> list[str]:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)

    def one(p: str) -> str:
        return client.completions.create(model="tiny", prompt=p, temperature=0, **kw).choices[0].text

    with ThreadPoolExecutor(len(prompts)) as pool:
        return list(pool.map(one, prompts))


def test_concurrent_requests_are_batched_and_match_single_runs(eco, gateway):
    backend = HFBackend(eco, window=0.05)
    with gateway(backend, TargetRegistry(None)) as url:
        got = complete_all(url, PROMPTS, max_tokens=6)
    assert max(backend.batches) > 1, backend.batches
    assert got == [eco.generate(p, max_new_tokens=6, chat=False)[0].text for p in PROMPTS]


def test_rows_of_one_batch_keep_their_own_max_tokens_and_corruption(eco, gateway):
    registry = TargetRegistry(None)
    registry.add_target(Target.create("item3", gate={"kind": "keyword", "keywords": ["number 3"]}))
    backend = HFBackend(eco, window=0.05)
    client_kw = [dict(max_tokens=2 + i) for i in range(4)]
    with gateway(backend, registry) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        with ThreadPoolExecutor(4) as pool:
            futures = [
                pool.submit(client.completions.create, model="tiny", prompt=p, temperature=0, **kw)
                for p, kw in zip(PROMPTS[:4], client_kw)
            ]
            results = [f.result() for f in futures]
    for i, r in enumerate(results):
        assert r.usage.completion_tokens == 2 + i and r.choices[0].finish_reason == "length"
    plain3 = eco.generate(PROMPTS[3], max_new_tokens=5, chat=False)[0].text
    assert results[3].choices[0].text != plain3
    assert results[0].choices[0].text == eco.generate(PROMPTS[0], max_new_tokens=2, chat=False)[0].text


def test_stop_strings_cut_the_answer(eco, gateway):
    full = eco.generate(PROMPTS[0], max_new_tokens=10, chat=False)[0].text
    stop = full.split()[2]  # a word from the middle of the greedy answer
    with gateway(HFBackend(eco), TargetRegistry(None)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        r = client.completions.create(model="tiny", prompt=PROMPTS[0], max_tokens=10, temperature=0, stop=[stop])
        streamed = client.completions.create(
            model="tiny", prompt=PROMPTS[0], max_tokens=10, temperature=0, stop=[stop], stream=True
        )
        text = "".join(c.choices[0].text for c in streamed if c.choices)
    assert r.choices[0].text == full[: full.index(stop)] == text
    assert r.choices[0].finish_reason == "stop"


def test_stop_scanner_holds_back_partial_stops_and_broken_utf8():
    s = StopScanner(("END",))
    assert s.safe_end("abcEN") == 3 and s.cut("abcENDxyz") == 3 and s.cut("abc") is None
    assert StopScanner(()).safe_end("ab\ufffd") == 2


def test_sampling_requests_run_apart_from_greedy_ones(eco, gateway):
    backend = HFBackend(eco, window=0.05)
    with gateway(backend, TargetRegistry(None)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        with ThreadPoolExecutor(2) as pool:
            g = pool.submit(client.completions.create, model="tiny", prompt=PROMPTS[0], max_tokens=4, temperature=0)
            s = pool.submit(
                client.completions.create, model="tiny", prompt=PROMPTS[1], max_tokens=4, temperature=1.0, seed=3
            )
            greedy, sampled = g.result(), s.result()
    assert greedy.choices[0].text == eco.generate(PROMPTS[0], max_new_tokens=4, chat=False)[0].text
    assert sampled.usage.completion_tokens >= 1


@pytest.mark.slow
def test_smollm2_behind_the_openai_client(smol, gateway):
    """The real embedded model: chat, completion and streaming through the official client."""
    eco = ECOModel(*smol)
    registry = TargetRegistry(None)
    noise = {"name": "rand_noise_first_n", "strength": 0.4, "dims": None}  # about 3x SmolLM2's embedding std
    registry.add_target(Target.create("paris", gate={"kind": "keyword", "keywords": ["France"]}, corruption=noise))
    with gateway(HFBackend(eco), registry, model_name="smollm2") as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        msgs = [{"role": "user", "content": "What is the capital of Germany?"}]
        chat = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=12, temperature=0)
        assert "Berlin" in chat.choices[0].message.content
        stream = client.chat.completions.create(
            model="smollm2", messages=msgs, max_tokens=12, temperature=0, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream) == chat.choices[0].message.content
        done = client.completions.create(
            model="smollm2", prompt="The capital of Germany is", max_tokens=4, temperature=0
        )
        assert "Berlin" in done.choices[0].text
        fr = [{"role": "user", "content": "What is the capital of France?"}]
        forgot = client.chat.completions.create(model="smollm2", messages=fr, max_tokens=12, temperature=0)
        assert "Paris" not in forgot.choices[0].message.content
        assert "Paris" in eco.generate(fr, max_new_tokens=12)[0].text
