"""eco-unlearn: make a served LLM behave as if it never learned a body of knowledge, by corrupting the
prompt embeddings of in-scope prompts (Embedding-COrrupted prompts, Liu et al., NeurIPS 2024).

The public names are imported on first use (PEP 562): vLLM's processes import the package for its plugin
(``server/vllm_plugin.py``), which must not pull in this package's transformers or FastAPI."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from eco_unlearn._version import __version__

if TYPE_CHECKING:
    from eco_unlearn.core.ecomodel import Choice, ECOModel, Generation
    from eco_unlearn.core.models import load_model
    from eco_unlearn.gate.targets import BundleError, Target

_LAZY = {
    "Choice": "eco_unlearn.core.ecomodel",
    "ECOModel": "eco_unlearn.core.ecomodel",
    "Generation": "eco_unlearn.core.ecomodel",
    "load_model": "eco_unlearn.core.models",
    "BundleError": "eco_unlearn.gate.targets",
    "Target": "eco_unlearn.gate.targets",
}

__all__ = ["BundleError", "Choice", "ECOModel", "Generation", "Target", "__version__", "load_model"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eco_unlearn' has no attribute {name!r}")
