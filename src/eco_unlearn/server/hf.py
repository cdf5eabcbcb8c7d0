"""The ``hf`` backend: a local ECOModel behind a dynamic batcher.

Requests that arrive within ``window`` seconds of each other (longer while the gateway is still gating
more of them, up to ``max_wait``), up to ``max_batch`` and sharing sampling settings, run as one
``model.generate`` call, so throughput grows with concurrency. One worker thread owns
the model; the event loop only queues jobs and relays tokens. Per-row stopping (EOS, stop strings,
``max_tokens``, a client that went away) is tracked by a stopping criterion that also streams each new
token to its request, so a batch ends as soon as all of its rows are done.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from eco_unlearn.core.ecomodel import ECOModel, PromptLogprobs
from eco_unlearn.core.encoder import Plan
from eco_unlearn.server.backends import BackendError, Delta, GenParams, Job, StopScanner, cancel


@dataclass
class _Row:
    job: Job
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    tokens: list[int] = field(default_factory=list)
    emitted: int = 0
    done: bool = False
    cancelled: bool = False
    scanner: StopScanner = field(init=False)

    def __post_init__(self) -> None:
        self.scanner = StopScanner(self.job.params.stop)

    def send(self, delta: Delta) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, delta)

    def finish(self, reason: str, text: str) -> None:
        self.done = True
        self.send(Delta(text[self.emitted :], reason, len(self.tokens)))

    def push(self, token: int, eco: ECOModel) -> None:
        """One new token (worker thread): emit what is safe, finish on EOS / stop string / max_tokens."""
        if self.done:
            return
        if self.cancelled:
            self.done = True
            return
        if token in eco.eos_ids:
            self.finish("stop", eco.tokenizer.decode(self.tokens, skip_special_tokens=True))
            return
        self.tokens.append(token)
        text = eco.tokenizer.decode(self.tokens, skip_special_tokens=True)
        cut = self.scanner.cut(text)
        if cut is not None:
            self.finish("stop", text[:cut])
        elif len(self.tokens) >= self.job.params.max_tokens:
            self.finish("length", text)
        else:
            end = self.scanner.safe_end(text)
            if end > self.emitted:
                self.send(Delta(text[self.emitted : end]))
                self.emitted = end


class _Tracker(StoppingCriteria):
    """Called by ``generate`` after every step with the tokens so far: relays the newest, says which rows stop."""

    def __init__(self, rows: list[_Row], eco: ECOModel):
        self.rows, self.eco = rows, eco

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        last = input_ids[:, -1].tolist()
        for row, token in zip(self.rows, last):
            row.push(token, self.eco)
        return torch.tensor([r.done for r in self.rows], dtype=torch.bool, device=input_ids.device)


def _batch_key(p: GenParams) -> tuple:
    return (True, 0.0, 1.0, None) if p.greedy else (False, p.temperature, p.top_p, p.seed)


class HFBackend:
    name = "hf"

    def __init__(self, eco: ECOModel, *, max_batch: int = 16, window: float = 0.005, max_wait: float = 0.25):
        self.eco = eco
        self.encoder = eco
        self.max_batch, self.window, self.max_wait = max_batch, window, max_wait
        self.pending: Callable[[], int] = lambda: 0
        """How many admitted requests are still being gated (set by the app): worth waiting for, up to max_wait."""
        self._queue: asyncio.Queue[_Row] | None = None
        self._task: asyncio.Task | None = None
        self._model_lock = threading.Lock()
        """One thread at a time runs the model: the generation batches and scoring requests."""
        self.batches: list[int] = []
        """Sizes of the batches run so far (observability and tests)."""

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._batcher())

    async def close(self) -> None:
        await cancel(self._task)

    async def ready(self) -> bool:
        return self._task is not None and not self._task.done()

    def stream(self, job: Job) -> AsyncIterator[Delta]:
        """Queue the job now (so the batcher sees it at once) and return its deltas."""
        assert self._queue is not None, "backend not started"
        row = _Row(job, asyncio.get_running_loop(), asyncio.Queue())
        self._queue.put_nowait(row)
        return self._relay(row)

    async def score(self, plans: list[Plan], top: int) -> list[PromptLogprobs]:
        """Prompt log-probs in the worker pool, one model user at a time (generation batches wait)."""

        def run() -> list[PromptLogprobs]:
            with self._model_lock:
                return self.eco.prompt_logprobs(plans, top)

        try:
            return await asyncio.to_thread(run)
        except Exception as e:
            raise BackendError(500, f"scoring failed: {e}") from None

    async def _relay(self, row: _Row) -> AsyncIterator[Delta]:
        try:
            while True:
                delta = await row.queue.get()
                if isinstance(delta, BaseException):
                    raise delta
                yield delta
                if delta.finish_reason is not None:
                    return
        finally:
            row.cancelled = True  # a client that disconnects stops costing compute at the next step

    async def _batcher(self) -> None:
        assert self._queue is not None
        while True:
            rows = [await self._queue.get()]
            clock = asyncio.get_running_loop().time
            start = clock()
            # Wait `window` for company; longer (up to max_wait) while requests are still in the gate, which
            # is what keeps closed-loop clients from splitting into batches that take turns.
            while len(rows) < self.max_batch:
                while not self._queue.empty() and len(rows) < self.max_batch:
                    rows.append(self._queue.get_nowait())
                waited = clock() - start
                if len(rows) >= self.max_batch or waited >= self.max_wait:
                    break
                if waited >= self.window and self.pending() == 0:
                    break
                try:
                    rows.append(await asyncio.wait_for(self._queue.get(), self.window))
                except TimeoutError:
                    pass
            groups: dict[tuple, list[_Row]] = {}
            for r in rows:
                groups.setdefault(_batch_key(r.job.params), []).append(r)
            for group in groups.values():
                await asyncio.to_thread(self._run, group)

    def _run(self, rows: list[_Row]) -> None:
        rows = [r for r in rows if not r.cancelled]
        if not rows:
            return
        params = rows[0].job.params
        kwargs: dict = {"stopping_criteria": StoppingCriteriaList([_Tracker(rows, self.eco)])}
        if not params.greedy:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            if params.seed is not None:
                torch.manual_seed(params.seed)
        try:
            self.batches.append(len(rows))  # one batch at a time: the batcher awaits each _run
            with self._model_lock:
                self.eco.generate_plans(
                    [r.job.plan for r in rows], max_new_tokens=max(r.job.params.max_tokens for r in rows), **kwargs
                )
        except Exception as e:  # reported to each waiting request, never kills the batcher
            for r in rows:
                if not r.done:
                    r.done = True
                    r.send(BackendError(500, f"generation failed: {e}"))  # an OpenAI-shaped error, also mid-stream
            return
        for r in rows:  # generate() stopped on its own (all rows at EOS): close any row still open
            if not r.done and not r.cancelled:
                r.finish(
                    "length" if len(r.tokens) >= r.job.params.max_tokens else "stop",
                    self.eco.tokenizer.decode(r.tokens, skip_special_tokens=True),
                )
