"""Fine-tuning: answer-only, pad-free labels; the loss goes down; checkpoints are cached by content."""

from __future__ import annotations

import json

from transformers import AutoModelForCausalLM

from eco_unlearn.evaluation.finetune import (
    FinetuneConfig,
    collate,
    encode_qa,
    encode_text,
    finetune,
    save_checkpoint,
    training_record,
)

PAIRS = [("Where was Ann born?", "Oslo."), ("What does Ann write?", "Poetry about the sea.")] * 4


def test_labels_cover_answers_only_and_never_padding(tokenizer):
    data = encode_qa(tokenizer, PAIRS[:2])
    batch = collate(data, pad_id=tokenizer.pad_token_id)
    for row, (ids, start) in enumerate(data):
        labels = batch["labels"][row]
        assert (labels[:start] == -100).all() and (labels[len(ids) :] == -100).all()
        assert labels[start : len(ids)].tolist() == ids[start:] and ids[-1] == tokenizer.eos_token_id
    assert encode_text(tokenizer, ["Some text."])[0][1] in (0, 1)


def test_training_lowers_the_loss_and_is_cached(tiny_llama_dir, tmp_path):
    cfg = FinetuneConfig(epochs=4, lr=3e-3, batch_size=4)
    ckpt = finetune(str(tiny_llama_dir), PAIRS, tmp_path, "t", cfg)
    losses = training_record(ckpt)["loss"]
    assert losses[-1] < losses[0]
    stamp = (ckpt / "finetune.json").stat().st_mtime_ns
    assert finetune(str(tiny_llama_dir), PAIRS, tmp_path, "t", cfg) == ckpt
    assert (ckpt / "finetune.json").stat().st_mtime_ns == stamp  # loaded from the cache, not retrained
    other = finetune(str(tiny_llama_dir), PAIRS[:2], tmp_path, "t", cfg)
    assert other != ckpt and sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        [ckpt.name, other.name]
    )


def test_a_checkpoint_another_process_finished_first_is_kept(tiny_llama_dir, tokenizer, tmp_path):
    """Two processes filling the same cache entry (two benches run at once): the first complete copy stays,
    so a process already loading it never sees it swapped out; a directory without its record is replaced."""
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "config.json").write_text("{}")  # an incomplete copy: no record
    assert save_checkpoint(model, tokenizer, out, "r.json", {"run": 1}) == out
    assert json.loads((out / "r.json").read_text()) == {"run": 1} and (out / "model.safetensors").is_file()
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert save_checkpoint(model, tokenizer, out, "r.json", {"run": 2}) == out
    assert json.loads((out / "r.json").read_text()) == {"run": 1}
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no staging directory left behind
