import json
import time

import pytest

from eco_unlearn.core.models import EMBEDDED, ModelNotAvailable, _is_complete, cache_dir, load_model, resolve_model


def test_unknown_model_name():
    with pytest.raises(ModelNotAvailable, match="unknown model 'nonesuch'"):
        resolve_model("nonesuch")


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelNotAvailable, match="no config.json"):
        resolve_model(str(tmp_path))


def test_hub_ids_pass_through():
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_cache_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("ECO_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path


def test_incomplete_cache_entries_are_not_trusted(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert not _is_complete(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "eco-cache.json").write_text(json.dumps({"format": 1}))
    assert _is_complete(tmp_path)


def test_embedded_smollm2_is_cached_and_reloads_fast(smol):
    assert EMBEDDED["smollm2"].installed()
    assert _is_complete(cache_dir() / "models" / "smollm2")
    t0 = time.perf_counter()
    model, tok = load_model("smollm2")
    assert time.perf_counter() - t0 < 5.0  # < 1 s on an idle machine; generous for a shared CI box
    assert type(model).__name__ == "LlamaForCausalLM" and tok.chat_template


def test_placement_reads_arguments_then_environment_and_refuses_what_is_missing(monkeypatch):
    import torch

    from eco_unlearn.core.models import placement

    monkeypatch.delenv("ECO_DEVICE", raising=False)
    monkeypatch.delenv("ECO_DTYPE", raising=False)
    assert placement() == ("cpu", torch.float32)
    monkeypatch.setenv("ECO_DTYPE", "bfloat16")
    assert placement() == ("cpu", torch.bfloat16)
    assert placement("CPU", "float16") == ("cpu", torch.float16)
    assert placement("auto")[0] == "auto"
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        placement(dtype="float8")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        placement("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            placement("cuda:0")


def test_bfloat16_loads_generates_and_corrupts_in_float32(tiny_llama_dir):
    """A bfloat16 model runs end to end; the corruption is computed in float32 and cast back, so it equals
    the float32 corruption of the same (bfloat16) embeddings, rounded once."""
    import torch

    from eco_unlearn.core.corruptions import apply_corruption
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.core.encoder import _row_seed
    from eco_unlearn.gate.targets import Target

    target = Target.create("t", corruption={"name": "rand_noise_first_n", "strength": 0.3, "dims": None})
    eco = ECOModel.from_pretrained(str(tiny_llama_dir), [target], dtype="bfloat16")
    assert eco.model.dtype == torch.bfloat16 and eco.device.type == "cpu"
    assert eco.generate("The weather today", max_new_tokens=4, chat=False)[0].completion_tokens == 4
    plan = eco.prepare("The weather today", chat=False)[0]
    assert plan.corrupted
    got = eco.prompt_embeds(plan)
    clean = eco.embedding(torch.tensor([plan.seg.ids]))
    gen = torch.Generator().manual_seed(_row_seed(eco.seed, plan.seg.ids))
    want = apply_corruption("rand_noise_first_n", clean.float(), torch.tensor([plan.mask]), 0.3, None, gen)[0]
    assert got.dtype == torch.bfloat16 and torch.equal(got, want.to(torch.bfloat16))
    assert not torch.equal(got, clean[0])
    scores = eco.prompt_logprobs([plan])[0]
    assert all(torch.isfinite(torch.tensor(scores.logprobs)))


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_the_embedding_only_loader_embeds_as_the_full_model_does(arch, tokenizer, tmp_path):
    """The vLLM gateway reads only the embedding table; its (corrupted) prompt embeddings must be what the
    full model's own embedding module gives: Gemma-3 scales its rows by √hidden, and vLLM's prompt-embeds
    path does not, so the loader must."""
    import torch

    from conftest import make_tiny
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.core.encoder import PromptEncoder
    from eco_unlearn.gate.targets import Target

    model = make_tiny(arch, tokenizer)
    model.save_pretrained(tmp_path / arch)
    tokenizer.save_pretrained(tmp_path / arch)
    target = Target.create("z", gate={"kind": "keyword", "keywords": ["zebra"]},
                           corruption={"name": "rand_noise_first_n", "strength": 1.0, "dims": 8})  # fmt: skip
    full, only = ECOModel(model, tokenizer, [target]), PromptEncoder.from_pretrained(str(tmp_path / arch), [target])
    for prompt in ("Where do zebras live?", "Where do lions live?"):
        a, b = full.prepare(prompt, chat=False)[0], only.prepare(prompt, chat=False)[0]
        assert a.corrupted == b.corrupted == ("zebra" in prompt)
        assert torch.allclose(full.prompt_embeds(a), only.prompt_embeds(b), atol=1e-6)
    if arch == "gemma3":  # the scale is really there: unscaled rows would differ by √64 = 8
        ids = torch.tensor([5, 6])
        assert torch.allclose(only.embedding(ids), 8.0 * model.get_input_embeddings().weight[ids], atol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_the_embedding_only_loader_keeps_a_bfloat16_checkpoint_in_bfloat16(arch, tokenizer, tmp_path):
    """A bfloat16 checkpoint's table stays bfloat16 in the gateway (half the memory of float32: 1 GB instead
    of 2 GB for a 7B model's), and its corrupted prompts are bit for bit the full bfloat16 model's: the
    corruption is computed in float32 from the same rows and rounded back once."""
    import torch

    from conftest import make_tiny
    from eco_unlearn.core.ecomodel import ECOModel
    from eco_unlearn.core.encoder import PromptEncoder
    from eco_unlearn.gate.targets import Target

    model = make_tiny(arch, tokenizer).to(torch.bfloat16)
    model.save_pretrained(tmp_path / arch)
    tokenizer.save_pretrained(tmp_path / arch)
    target = Target.create("z", gate={"kind": "keyword", "keywords": ["zebra"]},
                           corruption={"name": "rand_noise_first_n", "strength": 0.3, "dims": None})  # fmt: skip
    full, only = ECOModel(model, tokenizer, [target]), PromptEncoder.from_pretrained(str(tmp_path / arch), [target])
    assert only.embedding.weight.dtype == torch.bfloat16
    prompt = "Where do zebras live?"
    plan_full, plan_only = full.prepare(prompt, chat=False)[0], only.prepare(prompt, chat=False)[0]
    got, want = only.prompt_embeds(plan_only), full.prompt_embeds(plan_full)
    assert got.dtype == want.dtype == torch.bfloat16 and torch.equal(got, want)
    assert not torch.equal(got, only.embedding(torch.tensor(plan_only.seg.ids)))  # the corruption is there
