"""The gateway over HTTP: a real uvicorn server on loopback, a tiny random Llama, the real openai client."""

from __future__ import annotations

import httpx
import openai
import pytest
import torch
from transformers import AutoModelForCausalLM

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.gate.targets import Target
from eco_unlearn.server import ServerConfig, TargetRegistry, create_app
from eco_unlearn.server.hf import HFBackend
from eco_unlearn.server.runner import serve_in_thread

ADMIN = "admin-secret"
MSG = [{"role": "user", "content": "Tell me about the weather"}]


def keyword(name: str, word: str, **kw) -> Target:
    return Target.create(name, gate={"kind": "keyword", "keywords": [word]}, **kw)


@pytest.fixture(scope="module")
def eco(tiny_llama_dir, tokenizer):
    return ECOModel(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tokenizer)


@pytest.fixture(scope="module")
def targets_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("targets")
    keyword("zebra", "zebra").save(root / "zebra")
    keyword("piano", "piano", mandatory=True).save(root / "piano")
    return root


@pytest.fixture(scope="module")
def served(eco, targets_dir):
    registry = TargetRegistry(targets_dir)
    app = create_app(HFBackend(eco), registry, ServerConfig("tiny", admin_token=ADMIN))
    with serve_in_thread(app) as url:
        yield url, registry


@pytest.fixture
def client(served):
    return openai.OpenAI(base_url=served[0] + "/v1", api_key="unused", max_retries=0)


def post(url: str, path: str, **kw) -> httpx.Response:
    return httpx.post(url + path, timeout=60, **kw)


def test_chat_completion_shape_and_usage(client, eco):
    r = client.chat.completions.create(model="tiny", messages=MSG, max_tokens=6, temperature=0)
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 6
    assert r.usage.prompt_tokens == len(eco.encode(MSG).ids)
    assert r.choices[0].message.content == eco.generate(MSG, max_new_tokens=6)[0].text


def test_completion_matches_the_local_model(client, eco):
    r = client.completions.create(model="tiny", prompt="The weather today", max_tokens=5, temperature=0)
    assert r.choices[0].text == eco.generate("The weather today", max_new_tokens=5, chat=False)[0].text


def test_streaming_ends_with_done_and_adds_up(served, client):
    chunks = list(
        client.chat.completions.create(
            model="tiny", messages=MSG, max_tokens=6, temperature=0, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    full = client.chat.completions.create(model="tiny", messages=MSG, max_tokens=6, temperature=0)
    assert text == full.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 6
    raw = post(served[0], "/v1/completions", json={"model": "tiny", "prompt": "Hi", "max_tokens": 3, "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_flagged_prompt_changes_the_answer_and_targets_stay_hidden(client, eco):
    plain = eco.generate("Tell me about the zebra", max_new_tokens=8, chat=False)[0].text
    r = client.completions.create(model="tiny", prompt="Tell me about the zebra", max_tokens=8, temperature=0)
    assert r.choices[0].text != plain
    assert not r.model_extra  # no "eco" field: which target fired is not revealed by default


def test_per_request_narrowing_cannot_disable_a_mandatory_target(client, eco):
    only_zebra = {"eco": {"targets": ["zebra"]}}
    # piano is mandatory: asking for zebra only still keeps piano on, so the answer stays corrupted
    r = client.completions.create(
        model="tiny", prompt="Play the piano", max_tokens=8, temperature=0, extra_body=only_zebra
    )
    assert r.choices[0].text != eco.generate("Play the piano", max_new_tokens=8, chat=False)[0].text
    # zebra is not mandatory: narrowing to piano switches zebra off
    r = client.completions.create(
        model="tiny", prompt="ride a zebra", max_tokens=8, temperature=0, extra_body={"eco": {"targets": ["piano"]}}
    )
    assert r.choices[0].text == eco.generate("ride a zebra", max_new_tokens=8, chat=False)[0].text


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v1/chat/completions", b"\xff\xfe\x00", 400, "UTF-8"),
        ("/v1/chat/completions", b'{"model": "tiny", "messages": [', 400, "not valid JSON"),
        ("/v1/chat/completions", b"[1, 2]", 400, "JSON object"),
        ("/v1/chat/completions", b'{"model": "tiny"}', 400, "messages"),
        ("/v1/chat/completions", b'{"model": "tiny", "messages": []}', 400, "messages"),
        ("/v1/chat/completions", b'{"model": "tiny", "messages": [{"role": "user", "content": "  "}]}', 400, "empty"),
        ("/v1/chat/completions", b'{"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]}', 400, "role"),
        ("/v1/chat/completions", b'{"model": "tiny", "messages": "hello"}', 400, "messages"),
        ("/v1/chat/completions", b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}', 404, "gpt-9"),
        ("/v1/chat/completions", b'{"model": "tiny", "max_tokens": "lots", "messages": []}', 400, "max_tokens"),
        (
            "/v1/chat/completions",
            b'{"model": "tiny", "max_tokens": 100000000, "messages": [{"role": "user", "content": "x"}]}',
            400,
            "context",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "tiny", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}',
            400,
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "tiny", "n": 3, "messages": [{"role": "user", "content": "x"}]}',
            400,
            "n=1",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "tiny", "messages": [{"role": "user", "content": [{"type": "prompt_embeds", "data": "A"}]}]}',
            400,
            "text content",
        ),
        ("/v1/completions", b'{"model": "tiny", "prompt_embeds": "AAAA", "prompt": "x"}', 400, "embeddings"),
        ("/v1/completions", b'{"model": "tiny", "prompt": ""}', 400, "empty"),
        ("/v1/completions", b'{"model": "tiny", "prompt": "hi", "eco": {"targets": ["nope"]}}', 400, "unknown target"),
        ("/v1/completions", b'{"model": "tiny", "prompt": "hi", "temperature": -1}', 400, "temperature"),
        ("/v1/nothing", b"{}", 404, "Not Found"),
    ],
)
def test_bad_input_is_a_4xx_openai_error_and_the_server_goes_on(served, path, body, status, needle):
    r = post(served[0], path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert needle.lower() in err["message"].lower() and err["type"]
    ok = post(served[0], "/v1/completions", json={"model": "tiny", "prompt": "Hello", "max_tokens": 2})
    assert ok.status_code == 200


def test_prompt_longer_than_the_context(served):
    r = post(served[0], "/v1/completions", json={"model": "tiny", "prompt": "word " * 600, "max_tokens": 1})
    assert r.status_code == 400 and "context" in r.json()["error"]["message"]


def test_openai_client_raises_its_usual_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=MSG)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[])


def test_models_health_ready_metrics(served, client):
    assert [m.id for m in client.models.list()] == ["tiny"]
    url = served[0]
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(url + "/readyz").json()
    assert ready["status"] == "ready" and ready["targets"] == 2
    client.completions.create(model="tiny", prompt="a zebra", max_tokens=2)
    text = httpx.get(url + "/metrics").text
    assert 'eco_flagged_prompts_total{target="zebra"}' in text
    for name in (
        "eco_requests_total",
        "eco_tokens_total",
        "eco_gated_prompts_total",
        "eco_classifier_seconds_bucket",
        "eco_generation_seconds_bucket",
    ):
        assert name in text


def test_admin_requires_the_token(served):
    url = served[0]
    assert httpx.get(url + "/admin/targets").status_code == 401
    assert httpx.get(url + "/admin/targets", headers={"Authorization": "Bearer wrong"}).status_code == 403
    r = httpx.get(url + "/admin/targets", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200 and {t["name"] for t in r.json()["targets"]} == {"zebra", "piano"}


def test_admin_adds_and_removes_targets_without_restart(served, targets_dir, client, eco):
    url, registry = served
    auth = {"Authorization": f"Bearer {ADMIN}"}
    prompt = "The violin is"
    plain = eco.generate(prompt, max_new_tokens=6, chat=False)[0].text
    keyword("violin", "violin").save(targets_dir / "violin")
    try:
        r = post(url, "/admin/targets", json={"name": "violin"}, headers=auth)
        assert r.status_code == 201 and r.json()["name"] == "violin"
        flagged = client.completions.create(model="tiny", prompt=prompt, max_tokens=6, temperature=0).choices[0].text
        assert flagged != plain
        assert httpx.delete(url + "/admin/targets/violin", headers=auth).status_code == 200
        back = client.completions.create(model="tiny", prompt=prompt, max_tokens=6, temperature=0).choices[0].text
        assert back == plain
        assert httpx.delete(url + "/admin/targets/violin", headers=auth).status_code == 404
        assert post(url, "/admin/targets", json={"name": "../etc"}, headers=auth).status_code == 400
        assert post(url, "/admin/targets", json={"name": "missing"}, headers=auth).status_code == 400
    finally:
        import shutil

        shutil.rmtree(targets_dir / "violin")
        registry.reload()


def test_a_corrupt_bundle_on_reload_changes_nothing(served, targets_dir):
    url, registry = served
    auth = {"Authorization": f"Bearer {ADMIN}"}
    bad = targets_dir / "broken"
    bad.mkdir()
    (bad / "target.json").write_text("{not json")
    try:
        r = post(url, "/admin/targets/reload", headers=auth)
        assert r.status_code == 400 and "unchanged" in r.json()["error"]["message"]
        assert sorted(registry.names()) == ["piano", "zebra"]
    finally:
        (bad / "target.json").unlink()
        bad.rmdir()
    assert post(url, "/admin/targets/reload", headers=auth).json()["targets"] == ["piano", "zebra"]


def test_api_key_and_reveal_targets(eco, gateway):
    registry = TargetRegistry(None)
    registry.add_target(keyword("zebra", "zebra"))
    with gateway(HFBackend(eco), registry, api_key="k1", reveal_targets=True) as url:
        denied = openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            denied.models.list()
        ok = openai.OpenAI(base_url=url + "/v1", api_key="k1", max_retries=0)
        r = ok.completions.create(model="tiny", prompt="a zebra", max_tokens=2)
        assert r.model_extra["eco"]["flagged"] == ["zebra"] and r.model_extra["eco"]["corrupted_tokens"] > 0


def test_admin_api_is_off_without_a_token(eco, gateway):
    with gateway(HFBackend(eco), TargetRegistry(None)) as url:
        r = httpx.get(url + "/admin/targets", headers={"Authorization": "Bearer x"})
        assert r.status_code == 403 and "--admin-token" in r.json()["error"]["message"]


def test_a_client_that_leaves_mid_stream_does_not_hurt_the_next(served):
    url = served[0]
    body = {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 200, "stream": True, "temperature": 0}
    with httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_lines())  # read one event, then hang up
    ok = post(served[0], "/v1/completions", json={"model": "tiny", "prompt": "Hello", "max_tokens": 3})
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 3


def test_a_follow_up_is_gated_on_the_whole_conversation(eco, gateway):
    """The target is named only in an assistant turn; the follow-up question is in scope. The same
    conversation about a neighbour is not."""
    registry = TargetRegistry(None)
    registry.add_target(keyword("austen", "Austen"))

    def chat(author: str) -> list[dict]:
        return [
            {"role": "user", "content": "Who wrote Pride and Prejudice?"},
            {"role": "assistant", "content": f"It was written by {author}."},
            {"role": "user", "content": "Where was she born?"},
        ]

    with gateway(HFBackend(eco), registry, reveal_targets=True) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        target = client.chat.completions.create(model="tiny", messages=chat("Jane Austen"), max_tokens=2)
        twin = client.chat.completions.create(model="tiny", messages=chat("Charlotte Brontë"), max_tokens=2)
    assert target.model_extra["eco"]["flagged"] == ["austen"] and target.model_extra["eco"]["corrupted_tokens"] > 0
    assert twin.model_extra["eco"]["flagged"] == []


def test_echo_logprobs_are_the_models_own_and_a_flagged_prompt_scores_corrupted(served, eco):
    """What lm-eval's local-completions sends for a log-likelihood: token ids, echo, logprobs=1,
    max_tokens=1. The continuation's log-probs equal the local model's teacher-forced scores, and a
    flagged prompt's come from the corrupted prompt (as generation would see it)."""
    context, continuation = "The weather today is", " sunny and warm"
    ctx = eco.tokenizer(context, add_special_tokens=False).input_ids
    cont = eco.tokenizer(continuation, add_special_tokens=False).input_ids
    body = {"model": "tiny", "prompt": [ctx + cont], "echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0}
    r = post(served[0], "/v1/completions", json=body).json()
    lp = r["choices"][0]["logprobs"]
    n = len(ctx) + len(cont)
    assert len(lp["token_logprobs"]) == n + 1 and lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    local = eco.score(context, continuation, chat=False)
    assert torch.allclose(torch.tensor(lp["token_logprobs"][len(ctx) : n]), local, atol=1e-4)
    # the last entry is the generated (greedy) token: its log-prob is the best one
    assert lp["token_logprobs"][-1] == pytest.approx(max(lp["top_logprobs"][-1].values()))
    assert "".join(lp["tokens"][:n]) == context + continuation == r["choices"][0]["text"][: len(context + continuation)]
    assert lp["text_offset"][len(ctx)] == len(context)
    assert r["usage"] == {"prompt_tokens": n, "completion_tokens": 1, "total_tokens": n + 1}

    flagged = eco.tokenizer("ride a zebra", add_special_tokens=False).input_ids
    plain = eco.tokenizer("ride a horse", add_special_tokens=False).input_ids
    body |= {"prompt": [flagged, plain], "max_tokens": 0, "logprobs": 0}
    both = post(served[0], "/v1/completions", json=body).json()["choices"]
    zebra = Target.load(served[1].directory / "zebra")
    for choice, ids, target in ((both[0], flagged, [zebra]), (both[1], plain, [])):
        plan = eco.plan([eco.encode_ids(ids)], target)[0]
        want = eco.prompt_logprobs([plan])[0].logprobs
        assert choice["logprobs"]["token_logprobs"][1:] == pytest.approx(want, abs=1e-4)
        assert plan.corrupted == bool(target)
    clean = eco.prompt_logprobs(eco.plan([eco.encode_ids(flagged)], []))[0].logprobs
    assert both[0]["logprobs"]["token_logprobs"][1:] != pytest.approx(clean, abs=1e-3)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": [[1, 2]], "echo": True, "logprobs": 50, "max_tokens": 1}, "less than or equal to 20"),
        ({"prompt": "hi", "echo": True, "max_tokens": 1, "stream": True}, "cannot be streamed"),
        ({"prompt": [[1, 10**9]], "echo": True, "max_tokens": 0}, "vocabulary"),
        ({"prompt": [[-3]], "echo": True, "max_tokens": 0}, "vocabulary"),
        ({"prompt": "hi", "logprobs": 1}, "max_tokens 0 or 1"),
    ],
)
def test_bad_scoring_requests_are_400s(served, body, needle):
    r = post(served[0], "/v1/completions", json={"model": "tiny", **body})
    assert r.status_code == 400 and needle in r.json()["error"]["message"]


def test_gateway_replicas_share_one_targets_directory(eco, gateway, tmp_path):
    """Scale-out as the README describes it: replicas read one directory; a new bundle written there is
    enforced by every replica once each is told to reload (or restarts), and never half-way."""
    keyword("zebra", "zebra").save(tmp_path / "zebra")
    replicas = [TargetRegistry(tmp_path), TargetRegistry(tmp_path)]
    auth = {"Authorization": f"Bearer {ADMIN}"}
    body = {"model": "tiny", "prompt": "Play the violin for me", "max_tokens": 4}
    with (
        gateway(HFBackend(eco), replicas[0], admin_token=ADMIN, reveal_targets=True) as a,
        gateway(HFBackend(eco), replicas[1], admin_token=ADMIN, reveal_targets=True) as b,
    ):
        urls = [a, b]
        assert all(post(u, "/v1/completions", json=body).json()["eco"]["flagged"] == [] for u in urls)
        keyword("violin", "violin").save(tmp_path / "violin")  # an operator adds a bundle to the shared directory
        assert post(urls[0], "/admin/targets/reload", headers=auth).json()["targets"] == ["violin", "zebra"]
        assert post(urls[0], "/v1/completions", json=body).json()["eco"]["flagged"] == ["violin"]
        assert post(urls[1], "/v1/completions", json=body).json()["eco"]["flagged"] == []  # not told yet
        post(urls[1], "/admin/targets/reload", headers=auth)
        assert all(post(u, "/v1/completions", json=body).json()["eco"]["flagged"] == ["violin"] for u in urls)
