"""Build a gateway from CLI-style options, and run one (in the foreground, or in a thread for tests/bench)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from eco_unlearn.server.app import ServerConfig, create_app
from eco_unlearn.server.backends import BACKENDS, Backend
from eco_unlearn.server.registry import TargetRegistry


def build_backend(
    kind: str, model: str, *, vllm_url: str | None = None, max_batch: int = 16, embeds_dtype: str = "auto",
    corrupt_in_vllm: bool | None = False,
) -> Backend:  # fmt: skip
    """``embeds_dtype`` (vllm): float32, bfloat16, float16, or auto = the checkpoint's declared dtype.
    ``corrupt_in_vllm`` (vllm): let vLLM's eco-unlearn plugin corrupt the flagged prompts it can (``None``:
    when the server has the plugin; ignored by the hf backend)."""
    if corrupt_in_vllm and kind != "vllm":
        raise ValueError("--corrupt-in-vllm needs --backend vllm")
    if kind == "hf":
        from eco_unlearn.core.ecomodel import ECOModel
        from eco_unlearn.server.hf import HFBackend

        return HFBackend(ECOModel.from_pretrained(model), max_batch=max_batch)
    if kind == "vllm":
        if not vllm_url:
            raise ValueError("--backend vllm needs --vllm-url (a vLLM server started with --enable-prompt-embeds)")
        from eco_unlearn.core.encoder import PromptEncoder
        from eco_unlearn.core.models import DTYPES, checkpoint_dtype
        from eco_unlearn.server.vllm import VLLMBackend

        if embeds_dtype != "auto" and embeds_dtype not in DTYPES:
            raise ValueError(f"unknown embeds dtype {embeds_dtype!r}; choose auto or one of {', '.join(DTYPES)}")
        dtype = checkpoint_dtype(model) if embeds_dtype == "auto" else DTYPES[embeds_dtype]
        return VLLMBackend(
            PromptEncoder.from_pretrained(model), vllm_url, embeds_dtype=dtype, corrupt_in_vllm=corrupt_in_vllm
        )
    raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")


def build_app(
    targets: Path | None,
    *,
    model: str = "smollm2",
    backend: str = "hf",
    vllm_url: str | None = None,
    api_key: str | None = None,
    admin_token: str | None = None,
    reveal_targets: bool = False,
    max_batch: int = 16,
    threads: int | None = None,
    embeds_dtype: str = "auto",
    corrupt_in_vllm: bool | None = False,
) -> FastAPI:
    registry = TargetRegistry(targets)  # first: a bad targets directory fails before the model loads
    be = build_backend(backend, model, vllm_url=vllm_url, max_batch=max_batch, embeds_dtype=embeds_dtype,
                       corrupt_in_vllm=corrupt_in_vllm)  # fmt: skip
    if threads is None and backend == "vllm":
        threads = 1  # the gateway only runs classifiers; leave the cores to vLLM when they share a machine
    if threads is not None:  # after the options are checked: a refused configuration changes nothing
        import torch

        torch.set_num_threads(threads)
    config = ServerConfig(model_name=model, api_key=api_key, admin_token=admin_token, reveal_targets=reveal_targets)
    return create_app(be, registry, config)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Run a real uvicorn server on loopback for the duration of the block; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
