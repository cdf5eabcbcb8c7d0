"""eco-unlearn: make a served LLM behave as if it never learned a body of knowledge, by corrupting the
prompt embeddings of in-scope prompts (Embedding-COrrupted prompts, Liu et al., NeurIPS 2024)."""

from eco_unlearn._version import __version__
from eco_unlearn.core.ecomodel import Choice, ECOModel, Generation
from eco_unlearn.core.models import load_model
from eco_unlearn.gate.targets import BundleError, Target

__all__ = ["BundleError", "Choice", "ECOModel", "Generation", "Target", "__version__", "load_model"]
