"""What the gateway hands a backend, what it gets back, and the registry of backends.

The gateway gates and plans every prompt itself (tokenizer, embedding table and classifiers live in the
gateway); a backend only turns a planned prompt into a stream of text deltas. ``hf`` runs a local
ECOModel with dynamic batching, ``vllm`` forwards to a vLLM server (plain text, or ``prompt_embeds`` when
the prompt was corrupted).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from eco_unlearn.core.ecomodel import PromptLogprobs
from eco_unlearn.core.encoder import Plan, PromptEncoder


@dataclass(frozen=True)
class GenParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class Job:
    """One request, planned: the prompt as the model sees it (``plan.seg``) and how it is corrupted."""

    plan: Plan
    params: GenParams
    messages: list[dict[str, str]] | None = None
    """The chat messages for chat requests (a backend may forward them as they are when nothing is corrupted)."""
    prompt: str | None = None
    """The prompt text for completion requests."""
    stream: bool = True
    """Whether the client streams; a backend may fetch a non-streamed answer in one piece."""


@dataclass
class Delta:
    """A piece of the answer; the last one carries ``finish_reason`` ("stop" or "length") and the token count."""

    text: str = ""
    finish_reason: str | None = None
    completion_tokens: int = 0


@dataclass
class BackendError(Exception):
    status: int
    message: str
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


class Backend(Protocol):
    name: str
    encoder: PromptEncoder

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool: ...

    def stream(self, job: Job) -> AsyncIterator[Delta]: ...

    async def score(self, plans: list[Plan], top: int) -> list[PromptLogprobs]:
        """Log-probs of each planned prompt's tokens and of the next token (``echo``/``logprobs``); a
        backend that cannot raises :class:`BackendError` with a 4xx that says so."""
        ...


BACKENDS = ("hf", "vllm")


class StopScanner:
    """Stop strings over a growing text: what may be emitted now, and where the answer ends.

    Text that could still turn into a stop string is held back, so a stream never shows part of one.
    """

    def __init__(self, stops: tuple[str, ...]):
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1

    def cut(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        return min(hits) if hits else None

    def safe_end(self, text: str) -> int:
        end = len(text)
        while end > 0 and text[end - 1] == "\ufffd":  # an incomplete UTF-8 sequence: wait for the next token
            end -= 1
        return max(end - self.hold, 0)


async def cancel(task) -> None:
    """Cancel a background task (batcher, gate loop) and wait for it to finish."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
