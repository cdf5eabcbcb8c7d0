"""The OpenAI-compatible ECO gateway (``eco serve``): FastAPI app, backends, run-time targets.

Imported on first use (PEP 562), so that vLLM can load ``vllm_plugin`` without FastAPI."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eco_unlearn.server.app import ServerConfig, create_app
    from eco_unlearn.server.registry import TargetRegistry

_LAZY = {"ServerConfig": "eco_unlearn.server.app", "create_app": "eco_unlearn.server.app",
         "TargetRegistry": "eco_unlearn.server.registry"}  # fmt: skip

__all__ = ["ServerConfig", "TargetRegistry", "create_app"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eco_unlearn.server' has no attribute {name!r}")
