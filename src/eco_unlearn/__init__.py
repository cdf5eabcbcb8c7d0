"""eco-unlearn: make a served LLM behave as if it never learned a body of knowledge, by corrupting the
prompt embeddings of in-scope prompts (Embedding-COrrupted prompts, Liu et al., NeurIPS 2024)."""

__version__ = "0.1.0"

from eco_unlearn.core.ecomodel import Choice, ECOModel, Generation  # noqa: E402
from eco_unlearn.core.models import load_model  # noqa: E402
from eco_unlearn.gate.targets import BundleError, Target  # noqa: E402

__all__ = ["BundleError", "Choice", "ECOModel", "Generation", "Target", "__version__", "load_model"]
