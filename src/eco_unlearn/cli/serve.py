"""`eco serve`: the OpenAI-compatible gateway."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from eco_unlearn.cli.common import DeviceOpt, DtypeOpt, ModelOpt, fail, place


def serve(
    targets: Annotated[
        Path | None, typer.Option(help="Directory of target bundles (loaded at start, admin-reloadable).")
    ] = None,
    model: ModelOpt = "smollm2",
    backend: Annotated[str, typer.Option(help="hf (local model) or vllm (forward to --vllm-url).")] = "hf",
    vllm_url: Annotated[
        str | None, typer.Option(help="Base URL of a vLLM server run with --enable-prompt-embeds.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="ECO_API_KEY", help="Require this bearer key from clients.")
    ] = None,
    admin_token: Annotated[
        str | None, typer.Option(envvar="ECO_ADMIN_TOKEN", help="Enable /admin/* behind this bearer token.")
    ] = None,
    reveal_targets: Annotated[bool, typer.Option(help="Debugging: say in responses which targets fired.")] = False,
    max_batch: Annotated[int, typer.Option(help="hf backend: largest dynamic batch.")] = 16,
    threads: Annotated[
        int | None, typer.Option(help="torch threads in the gateway (default: all for hf, 1 for vllm).")
    ] = None,
    embeds_dtype: Annotated[
        str,
        typer.Option(
            help="vllm: dtype flagged prompts' embeddings travel in (auto = the checkpoint's; "
            "set it to vLLM's --dtype: bit-identical, half the bytes of float32 at bf16/fp16)."
        ),
    ] = "auto",
    corrupt_in_vllm: Annotated[
        bool | None,
        typer.Option(
            "--corrupt-in-vllm/--no-corrupt-in-vllm",
            help="vllm: send flagged prompts with a sign-flip or zeroing corruption as token ids, for vLLM to "
            "corrupt (needs eco-unlearn installed next to vLLM: its plugin; see README, Corrupting inside "
            "vLLM). Default: when the vLLM server has the plugin (asked once at start).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Serve the OpenAI-compatible ECO gateway (chat, completions, streaming, metrics, admin)."""
    place(device, dtype)
    import uvicorn

    from eco_unlearn.core.models import ModelNotAvailable
    from eco_unlearn.gate.targets import BundleError
    from eco_unlearn.server.runner import build_app

    if targets is None:
        Console(stderr=True).print("[yellow]warning:[/yellow] no --targets: nothing will be unlearned")
    try:
        api = build_app(
            targets, model=model, backend=backend, vllm_url=vllm_url, api_key=api_key, admin_token=admin_token,
            reveal_targets=reveal_targets, max_batch=max_batch, threads=threads, embeds_dtype=embeds_dtype,
            corrupt_in_vllm=corrupt_in_vllm,
        )  # fmt: skip
    except (ValueError, BundleError, ModelNotAvailable) as e:
        raise fail(str(e)) from None
    ours = logging.getLogger("eco_unlearn")  # the gateway's own messages, as uvicorn writes its own
    ours.setLevel(logging.INFO)
    if not ours.handlers:  # once per process, however often serve() runs in it
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        ours.addHandler(handler)
    uvicorn.run(api, host=host, port=port, log_level="info")
