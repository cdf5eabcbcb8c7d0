"""The OpenAI-compatible ECO gateway (``eco serve``): FastAPI app, backends, run-time targets."""

from eco_unlearn.server.app import ServerConfig, create_app
from eco_unlearn.server.registry import TargetRegistry

__all__ = ["ServerConfig", "TargetRegistry", "create_app"]
