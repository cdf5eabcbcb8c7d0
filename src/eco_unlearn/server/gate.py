"""Gating and planning for the gateway, in micro-batches on one thread.

Requests that arrive while a batch is being gated form the next batch, and each batch runs every gate once
over all of its prompts (one encoder pass shared by all classifier targets). Batching the gate matters
for throughput as much as batching generation: gated one by one, concurrent requests reach the generation
batcher staggered by a classifier call each and miss each other's batch.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from eco_unlearn.core.encoder import Plan, Prompt, PromptEncoder
from eco_unlearn.core.selection import Segment
from eco_unlearn.gate.targets import Target
from eco_unlearn.server.backends import cancel


@dataclass
class GateRequest:
    prompt: Prompt | list[int]
    """Text, chat messages, or token ids (a completion prompt as lm-eval sends it)."""
    chat: bool
    max_tokens: int | None
    """None: as many as fit, up to the server's default."""
    targets: list[Target]


class Gate:
    def __init__(self, encoder: PromptEncoder, default_max_tokens: int, on_batch=None):
        self.encoder = encoder
        self.default_max_tokens = default_max_tokens
        self.on_batch = on_batch
        """Called with (batch size, seconds) after each batch (metrics)."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eco-gate")
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        await cancel(self._task)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def plan(self, request: GateRequest) -> tuple[Plan, int]:
        """The plan and the number of new tokens for one request; ValueError for a bad prompt."""
        assert self._queue is not None, "gate not started"
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            t0 = time.perf_counter()
            results = await loop.run_in_executor(self._pool, self._plan_many, [r for r, _ in items])
            if self.on_batch:
                self.on_batch(len(items), time.perf_counter() - t0)
            for (_, future), result in zip(items, results):
                if future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _plan_many(self, requests: list[GateRequest]) -> list[tuple[Plan, int] | Exception]:
        out: list[tuple[Plan, int] | Exception | None] = [None] * len(requests)
        groups: dict[tuple[int, ...], list[tuple[int, Segment, int]]] = {}
        for i, r in enumerate(requests):
            try:
                if isinstance(r.prompt, list) and r.prompt and all(isinstance(x, int) for x in r.prompt):
                    seg = self.encoder.encode_ids(r.prompt)  # type: ignore[arg-type]
                else:
                    seg = self.encoder.encode(r.prompt, chat=r.chat)  # type: ignore[arg-type]
                room = (self.encoder.max_context or 10**9) - len(seg.ids)
                n = r.max_tokens if r.max_tokens is not None else min(self.default_max_tokens, max(room, 1))
                self.encoder.check_length(len(seg.ids), n)
            except ValueError as e:
                out[i] = e
                continue
            groups.setdefault(tuple(id(t) for t in r.targets), []).append((i, seg, n))
        for members in groups.values():
            targets = requests[members[0][0]].targets
            try:
                plans = self.encoder.plan([seg for _, seg, _ in members], targets)
            except Exception as e:  # a broken classifier fails its requests, not the gate
                plans = [e] * len(members)
            for (i, _, n), plan in zip(members, plans):
                out[i] = plan if isinstance(plan, Exception) else (plan, n)
        return out  # type: ignore[return-value]
