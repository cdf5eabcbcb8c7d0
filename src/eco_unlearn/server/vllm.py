"""The ``vllm`` backend: forward to a vLLM server started with ``--enable-prompt-embeds``.

Unflagged prompts go as they came (text completion, or chat messages). A flagged prompt is tokenised and
corrupted here and sent as ``prompt_embeds`` (base64 of ``torch.save`` of a (seq, hidden) tensor, in the
server's dtype: ``embeds_dtype``) to
``/v1/completions``; for chat requests the gateway has rendered the chat template itself. With
``corrupt_in_vllm`` (a vLLM with eco-unlearn's plugin, ``vllm_plugin.py``) a flagged prompt whose corruption
is a sign flip or zeroing travels as token ids instead, the selected ones shifted to name the corruption,
and vLLM corrupts them: a few bytes per token instead of hidden × 2 or 4. A request never
carries ``prompt`` and ``prompt_embeds`` together (vLLM would serve both), and every tensor is checked to
be finite and bounded first: vLLM 0.32 accepts a NaN with HTTP 200 and then corrupts the *next* request.
This is the scale-out path: tensor/pipeline parallelism and Ray sit behind the vLLM URL, unchanged.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
from collections.abc import AsyncIterator

import httpx
import pybase64
import torch

from eco_unlearn.core.ecomodel import PromptLogprobs
from eco_unlearn.core.encoder import Plan, PromptEncoder
from eco_unlearn.server.backends import BackendError, Delta, Job
from eco_unlearn.server.vllm_plugin import shift_ids, slot_for

log = logging.getLogger(__name__)

KEEPALIVE_EXPIRY = 4.0
"""Seconds an idle upstream connection is kept: a second below vLLM's (and uvicorn's) 5 s keep-alive timeout. With
httpx's default, also 5 s, a request sent on a connection idle for just under 5 s races the server closing
it and fails ("Server disconnected without sending a response"): one gateway request of about 40 did in
``eco bench transport``, where requests take about 5 s each."""

MAX_ABS_EMBED = 1e4
"""Largest magnitude forwarded: far above any embedding row, far below where bf16/fp16 arithmetic breaks."""


def encode_embeds(t: torch.Tensor, max_abs: float = MAX_ABS_EMBED, dtype: torch.dtype = torch.float32) -> str:
    """base64 of ``torch.save`` of a finite, bounded (seq, hidden) float tensor, as vLLM reads it.

    ``dtype`` is what travels. vLLM casts whatever it receives to its own ``--dtype``
    (``renderers/embed_utils.py``), so sending that dtype is bit-identical to sending float32 and halves the
    bytes for a bfloat16 / float16 server. The checks run on what travels: a value that overflows the
    dtype becomes an infinity and is refused like any other."""
    if t.ndim != 2 or not t.is_floating_point() or t.shape[0] == 0:
        raise BackendError(
            500, f"prompt embeddings must be a non-empty (seq, hidden) float tensor, got {tuple(t.shape)}"
        )
    sent = t.detach().to("cpu", dtype).contiguous()
    low, high = (float(v) for v in torch.aminmax(sent))  # one pass, no copy; a NaN propagates into both
    if not (math.isfinite(low) and math.isfinite(high)):
        raise BackendError(500, "refused to forward non-finite prompt embeddings (check the target's corruption)")
    peak = max(-low, high)
    if peak > max_abs:
        raise BackendError(500, f"refused to forward prompt embeddings with magnitude {peak:.3g} > {max_abs:g}")
    buf = io.BytesIO()
    torch.save(sent, buf)
    return pybase64.b64encode(buf.getvalue()).decode("ascii")


def json_body(body: dict) -> bytes:
    """The JSON of an upstream request. A ``prompt_embeds`` string (base64: nothing in it needs escaping) is
    spliced in as it is: run through the JSON encoder it was the slowest step of a large flagged request."""
    embeds = body.get("prompt_embeds")
    if embeds is None:
        return json.dumps(body).encode()
    rest = json.dumps({k: v for k, v in body.items() if k != "prompt_embeds"})
    return b"".join((b'{"prompt_embeds": "', embeds.encode("ascii"), b'", ', rest[1:].encode()))  # one copy


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        encoder: PromptEncoder,
        url: str,
        *,
        model: str | None = None,
        timeout: float = 600.0,
        embeds_dtype: torch.dtype = torch.float32,
        corrupt_in_vllm: bool | None = False,
    ):
        """``embeds_dtype``: what flagged prompts' embeddings travel as; set it to the vLLM server's dtype.
        ``corrupt_in_vllm``: send the flagged prompts that a shifted id can describe as ids, for vLLM's
        eco-unlearn plugin to corrupt (the others still travel as embeddings); ``None``: do so when the
        server has the plugin, asked once at :meth:`start` (``corrupt_in_vllm`` then says what was found)."""
        self.encoder = encoder
        self.embeds_dtype = embeds_dtype
        self.corrupt_in_vllm = corrupt_in_vllm
        self.url = url.rstrip("/")
        self.served_model = model
        self._client = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)
        )

    async def start(self) -> None:
        if self.served_model is None:
            try:
                r = await self._client.get("/v1/models")
                r.raise_for_status()
                self.served_model = r.json()["data"][0]["id"]
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
                raise RuntimeError(f"cannot reach a vLLM server at {self.url} (/v1/models): {e}") from e
        if self.corrupt_in_vllm is True and not await self.has_plugin():
            raise RuntimeError(
                f"--corrupt-in-vllm: the vLLM server at {self.url} does not corrupt shifted token ids; install "
                "eco-unlearn into vLLM's environment (pip install --no-deps eco-unlearn: its plugin) and restart "
                "vLLM, or serve without --corrupt-in-vllm"
            )
        if self.corrupt_in_vllm is None:
            self.corrupt_in_vllm = await self.has_plugin()
            log.info("vLLM at %s %s eco-unlearn's plugin: flagged sign-flip and zeroing prompts travel as %s",
                     self.url, "has" if self.corrupt_in_vllm else "does not have",
                     "token ids, corrupted in vLLM" if self.corrupt_in_vllm else "embeddings")  # fmt: skip

    async def has_plugin(self) -> bool:
        """Whether the server corrupts shifted ids: one greedy token of a two-token prompt whose first id is
        shifted. Without eco-unlearn's plugin vLLM refuses the id (a 400); with it, it answers."""
        vocab, hidden = self.encoder.embedding.weight.shape[0], self.encoder.hidden_size
        slot = slot_for("flip_sign_first_n", None, vocab, hidden)
        if slot is None:
            return False
        ids = shift_ids([0, 0], [True, False], slot, vocab)
        body = {"model": self.served_model, "prompt": ids, "max_tokens": 1, "temperature": 0.0}
        try:
            r = await self._client.post("/v1/completions", json=body)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    async def close(self) -> None:
        await self._client.aclose()

    async def ready(self) -> bool:
        try:
            return (await self._client.get("/health", timeout=5.0)).status_code == 200
        except httpx.HTTPError:
            return False

    def request_for(self, job: Job) -> tuple[str, dict]:
        """The upstream endpoint and JSON body for a job (exposed for tests and debugging)."""
        p = job.params
        body: dict = {
            "model": self.served_model,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
        }
        if job.stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        if p.seed is not None:
            body["seed"] = p.seed
        if p.stop:
            body["stop"] = list(p.stop)
        if job.plan.corrupted:
            ids = self.shifted_ids(job.plan) if self.corrupt_in_vllm else None
            if ids is not None:
                body["prompt"] = ids
            else:
                body["prompt_embeds"] = encode_embeds(self.encoder.prompt_embeds(job.plan), dtype=self.embeds_dtype)
            return "/v1/completions", body
        if job.messages is not None:
            body["messages"] = job.messages
            return "/v1/chat/completions", body
        body["prompt"] = job.prompt
        return "/v1/completions", body

    def shifted_ids(self, plan: Plan) -> list[int] | None:
        """A flagged prompt's ids for vLLM's plugin to corrupt, or ``None`` when its corruption cannot travel
        as ids (noise, a σ, or a vocabulary too large for int32 shifts)."""
        c = plan.corruption
        vocab = self.encoder.embedding.weight.shape[0]
        slot = slot_for(c.name, c.dims, vocab, self.encoder.hidden_size) if c is not None else None
        return None if slot is None else shift_ids(list(plan.seg.ids), list(plan.mask), slot, vocab)

    async def score(self, plans: list[Plan], top: int) -> list[PromptLogprobs]:
        """Refused for every prompt, flagged or not: vLLM cannot give prompt log-probs of a corrupted
        prompt (``prompt_embeds``), and answering only unflagged prompts would tell a client which of its
        prompts the gate flagged."""
        raise BackendError(
            400,
            "echo and logprobs are not supported on the vllm backend (prompt log-probs of a corrupted prompt); "
            "serve with --backend hf for lm-eval log-likelihoods",
        )

    def request_bytes(self, job: Job) -> tuple[str, bytes]:
        path, body = self.request_for(job)
        return path, json_body(body)

    async def _post(self, path: str, content: bytes, *, stream: bool) -> httpx.Response:
        """POST upstream, once more on a fresh connection when the server closed the connection without
        answering (a kept-alive connection it timed out as the request went out): generating is free of side
        effects, so sending again is safe, and the client gets its answer instead of a 502."""
        request = self._client.build_request(
            "POST", path, content=content, headers={"content-type": "application/json"}
        )
        try:
            try:
                return await self._client.send(request, stream=stream)
            except (httpx.RemoteProtocolError, httpx.WriteError):
                return await self._client.send(request, stream=stream)
        except httpx.HTTPError as e:
            raise BackendError(502, f"vLLM at {self.url} failed: {e}") from e

    async def stream(self, job: Job) -> AsyncIterator[Delta]:
        # off the event loop: a flagged prompt's embeddings are tens of MB at a large model's width
        path, content = await asyncio.to_thread(self.request_bytes, job)
        if not job.stream:  # one JSON answer: no per-token events to produce in vLLM or to relay here
            r = await self._post(path, content, stream=False)
            if r.status_code >= 400:
                raise _upstream_error(r.status_code, r.content)
            data = r.json()
            choice = data["choices"][0]
            n = data.get("usage", {}).get("completion_tokens", 0)
            yield Delta(_choice_text(choice), choice.get("finish_reason") or "stop", n)
            return
        finish, tokens = None, 0
        r = await self._post(path, content, stream=True)
        try:
            if r.status_code >= 400:
                raise _upstream_error(r.status_code, await r.aread())
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    tokens = chunk["usage"].get("completion_tokens", tokens)
                for choice in chunk.get("choices", []):
                    text = _choice_text(choice)
                    finish = choice.get("finish_reason") or finish
                    if text:
                        yield Delta(text)
        except httpx.HTTPError as e:
            raise BackendError(502, f"vLLM at {self.url} failed: {e}") from e
        finally:
            await r.aclose()
        yield Delta("", finish or "stop", tokens)


def _choice_text(choice: dict) -> str:
    """A completion choice's text, or a chat choice's message (or streamed delta) content."""
    if choice.get("text") is not None:
        return choice["text"]
    return (choice.get("message") or choice.get("delta") or {}).get("content") or ""


def _upstream_error(status: int, raw: bytes) -> BackendError:
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw.decode("utf-8", "replace")[:500]
    return BackendError(400 if status < 500 else 502, f"vLLM: {message}")
