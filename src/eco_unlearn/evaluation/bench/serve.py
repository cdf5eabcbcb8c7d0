"""`eco bench serve`: gateway throughput and latency at 1, 4 and 16 concurrent clients.

- ``--backend vllm``: a real vLLM (started here) called directly vs through the gateway with ten
  classifier-gated targets loaded; the figure is the gateway/direct throughput ratio per concurrency.
- ``--backend hf``: the gateway's own backend; the figure is throughput at 16 clients / at 1 client,
  which only dynamic batching can make > 1 on a CPU that is already saturated by one request.

Arms run interleaved in one process: each concurrency's time is cut into ``BLOCKS`` blocks per arm, run
alternately (the order rotating), so machine noise hits them alike. One contiguous block per arm gave
gateway/direct ratios of 0.83 to 1.01 in repeated runs on 2 cores. The same load generator is the bounded
load test in the test suite.
"""

from __future__ import annotations

import asyncio
import json
import platform
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from eco_unlearn.console import status, track
from eco_unlearn.fileio import atomic_write_json

CHEMISTRY = ["What is the chemical symbol of sodium?", "What is the atomic number of carbon?"]
BLOCKS = 5
"""Blocks each arm's time at one concurrency is cut into, run alternately with the other arm's."""


@dataclass
class LoadResult:
    clients: int
    seconds: float
    requests: int
    errors: int
    completion_tokens: int
    p50_ms: float
    p99_ms: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds


def bench_prompts(n: int = 32) -> list[str]:
    """General questions with one chemistry question in eight (those are flagged and corrupted)."""
    from eco_unlearn.gate.create import general_prompts

    general = general_prompts()
    return [CHEMISTRY[i // 8 % 2] if i % 8 == 7 else general[i] for i in range(n)]


async def _load(url: str, model: str, prompts: list[str], clients: int, seconds: float, max_tokens: int, api_key):
    latencies: list[float] = []
    errors, tokens, counter = 0, 0, 0
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.perf_counter() + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal errors, tokens, counter
        while time.perf_counter() < deadline:
            prompt = prompts[counter % len(prompts)]
            counter += 1
            body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                    "temperature": 0}  # fmt: skip
            t0 = time.perf_counter()
            try:
                r = await http.post("/v1/chat/completions", json=body, headers=headers)
                ok = r.status_code == 200 and r.json()["choices"][0]["message"]["content"] is not None
            except (httpx.HTTPError, ValueError, KeyError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
                tokens += r.json()["usage"]["completion_tokens"]
            else:
                errors += 1

    t_start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        await asyncio.gather(*(worker(http) for _ in range(clients)))
    elapsed = time.perf_counter() - t_start
    return _result(clients, elapsed, errors, tokens, [x * 1000 for x in latencies])


def _result(clients: int, seconds: float, errors: int, tokens: int, latencies_ms: list[float]) -> LoadResult:
    ms = sorted(latencies_ms) or [float("nan")]
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    return LoadResult(clients, seconds, len(latencies_ms), errors, tokens, statistics.median(ms), p99, latencies_ms)


def merge(results: list[LoadResult]) -> LoadResult:
    """Several blocks of one arm's load as one: totals summed, percentiles over every request."""
    return _result(results[0].clients, sum(r.seconds for r in results), sum(r.errors for r in results),
                   sum(r.completion_tokens for r in results), [x for r in results for x in r.latencies_ms])  # fmt: skip


def load(url: str, model: str, *, clients: int, seconds: float, max_tokens: int = 16, prompts=None, api_key=None):
    """Closed-loop load: ``clients`` workers send chat requests back to back for ``seconds``."""
    return asyncio.run(_load(url, model, prompts or bench_prompts(), clients, seconds, max_tokens, api_key))


def make_targets(root: Path, n: int) -> Path:
    """n classifier-gated targets (one trained chemistry classifier, copied under n names)."""
    from eco_unlearn.evaluation.domains import domain_prompts
    from eco_unlearn.gate.create import create_target

    first = root / "chem-0"
    if not (first / "target.json").exists():
        forget, _ = domain_prompts("chemistry", per_item=2, seed=0)
        retain, _ = domain_prompts("geography", per_item=1, seed=0)
        with status("training the chemistry classifier for the gateway's targets"):
            create_target("chem-0", forget, retain, first, overwrite=True)
    for i in range(1, n):
        d = root / f"chem-{i}"
        if not d.exists():
            shutil.copytree(first, d)
            manifest = json.loads((d / "target.json").read_text())
            manifest["name"] = d.name
            (d / "target.json").write_text(json.dumps(manifest, indent=2))
    return root


def run(
    backend: str = "hf",
    model: str = "smollm2",
    concurrency: tuple[int, ...] = (1, 4, 16),
    seconds: float = 20.0,
    max_tokens: int = 16,
    n_targets: int = 10,
    out_dir: Path = Path("runs/bench/serve"),
) -> dict:
    from eco_unlearn.core.models import resolve_model
    from eco_unlearn.server.runner import build_app, serve_in_thread

    out_dir.mkdir(parents=True, exist_ok=True)
    targets = make_targets(out_dir / "targets", n_targets)
    for extra in sorted(targets.iterdir())[n_targets:]:
        shutil.rmtree(extra)
    cells: list[dict] = []
    if backend == "vllm":
        from eco_unlearn.server.vllm_process import VLLMServer

        model_dir = resolve_model(model)
        with status("starting vLLM"), VLLMServer(model_dir, out_dir / "vllm", dtype="auto") as vllm_url:
            app = build_app(targets, model=model, backend="vllm", vllm_url=vllm_url)
            with serve_in_thread(app) as gw_url:
                arms = {"direct": (vllm_url, model_dir), "gateway": (gw_url, model)}
                load(gw_url, model, clients=2, seconds=3, max_tokens=max_tokens)  # warm-up both paths
                cells = _measure(arms, concurrency, seconds, max_tokens)
    elif backend == "hf":
        app = build_app(targets, model=model, backend="hf")
        with serve_in_thread(app) as gw_url:
            load(gw_url, model, clients=2, seconds=3, max_tokens=max_tokens)
            cells = _measure({"gateway": (gw_url, model)}, concurrency, seconds, max_tokens)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    result = {
        "benchmark": "serve",
        "command": f"eco bench serve --backend {backend} --model {model} --seconds {seconds:g}",
        "backend": backend,
        "model": model,
        "targets_loaded": n_targets,
        "max_tokens": max_tokens,
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "cells": cells,
        "ratios": _ratios(cells, backend, concurrency),
    }
    atomic_write_json(out_dir / "results.json", result)
    return result


def _measure(arms: dict, concurrency, seconds, max_tokens) -> list[dict]:
    """Per concurrency, every arm's ``seconds`` cut into ``BLOCKS`` blocks run alternately."""
    names = list(arms)
    steps = [(c, b, r) for c in concurrency for b in range(BLOCKS) for r in range(len(names))]
    blocks: dict[tuple[str, int], list[LoadResult]] = {}
    for c, b, rot in track(steps, "load"):
        name = names[(rot + b) % len(names)]
        url, model = arms[name]
        blocks.setdefault((name, c), []).append(
            load(url, model, clients=c, seconds=seconds / BLOCKS, max_tokens=max_tokens)
        )
    cells = []
    for (name, _), parts in blocks.items():  # the clients are in each part
        res = merge(parts)
        cell = {"arm": name, **asdict(res), "blocks": len(parts), "rps": res.rps, "tokens_per_s": res.tokens_per_s}
        del cell["latencies_ms"]  # the percentiles summarise them
        cells.append(cell)
    return cells


def _ratios(cells: list[dict], backend: str, concurrency) -> dict:
    tput = {(c["arm"], c["clients"]): c["tokens_per_s"] for c in cells}
    if backend == "vllm":
        return {f"gateway/direct@{c}": tput[("gateway", c)] / tput[("direct", c)] for c in concurrency}
    return {f"gateway@{c}/gateway@{concurrency[0]}": tput[("gateway", c)] / tput[("gateway", concurrency[0])]
            for c in concurrency[1:]}  # fmt: skip


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
