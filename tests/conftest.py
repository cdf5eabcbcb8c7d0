"""Shared fixtures: the real SmolLM2 (converted once into the user cache) and tiny random-weight LMs.

The tiny models use SmolLM2's real tokenizer (chat template, offsets) with 2-layer random weights of three
architectures, so mechanics are tested on Llama, Gemma-3 and Qwen2 code paths in well under a second each.
"""

from __future__ import annotations

import os

import pytest
import torch
from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config

from eco_unlearn.core.ecomodel import ECOModel
from eco_unlearn.core.models import load_model

TINY_ARCHS = ("llama", "gemma3", "qwen2")

# Targets created without an explicit backbone use MiniLM alone here (subprocesses inherit it). The default,
# `auto`, calibrates a topic gate a second time on minilm+e5 (~20 s a process); the many mechanics tests that
# create chemistry targets do not need that, and the tests whose subject it is ask for `auto` explicitly
# (tests/gate/test_create.py, tests/cli/test_cli.py, the gate bench).
os.environ.setdefault("ECO_GATE_BACKBONE", "minilm")


@pytest.fixture(scope="session")
def smol():
    """(model, tokenizer) of the real embedded SmolLM2-135M-Instruct."""
    return load_model("smollm2")


@pytest.fixture(scope="session")
def tokenizer(smol):
    return smol[1]


def make_tiny(arch: str, tokenizer, seed: int = 0):
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    cfg = {
        "llama": lambda: LlamaConfig(**common),
        "qwen2": lambda: Qwen2Config(**common),
        "gemma3": lambda: Gemma3TextConfig(**common, head_dim=16, sliding_window=32),
    }[arch]()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    return model


@pytest.fixture(scope="session", params=TINY_ARCHS)
def tiny(request, tokenizer):
    """(arch, model) for each tiny architecture."""
    return request.param, make_tiny(request.param, tokenizer)


@pytest.fixture
def tiny_eco(tiny, tokenizer):
    def build(targets=(), seed: int = 0) -> ECOModel:
        return ECOModel(tiny[1], tokenizer, targets, seed=seed)

    return build


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tokenizer):
    """A saved tiny Llama (head_dim 32, which vLLM's CPU attention needs) with SmolLM2's tokenizer."""
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def gateway():
    """Serve a real gateway on loopback: ``with gateway(backend, registry, **config) as url``."""
    from eco_unlearn.server import ServerConfig, create_app
    from eco_unlearn.server.runner import serve_in_thread

    def start(backend, registry, model_name: str = "tiny", **config):
        app = create_app(backend, registry, ServerConfig(model_name=model_name, **config))
        return serve_in_thread(app)

    return start
