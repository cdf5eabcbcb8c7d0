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
