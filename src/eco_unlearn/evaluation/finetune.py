"""Supervised fine-tuning of a causal LM on question/answer pairs, cached by what it was trained on.

This makes the benchmark's *target* model (trained on every fictitious author) and its *retain* models
(trained on everything but a forget split: the ground truth of "never saw it"). The loss covers answer
tokens only (as TOFU's), pad tokens never count, and the run is reproducible from its seed. A checkpoint is
written to a staging directory and moved into place whole, keyed by a hash of base model, data and
settings, so a second run with the same inputs loads it in about a second.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from eco_unlearn.console import track
from eco_unlearn.core.models import load_model
from eco_unlearn.fileio import atomic_write_json, replace_dir

QA_PROMPT = "Question: {q}\nAnswer:"


def qa_prompt(question: str) -> str:
    """The plain (no chat template) format the fine-tuned models are trained and evaluated in."""
    return QA_PROMPT.format(q=question)


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 6
    lr: float = 2e-4
    batch_size: int = 16
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    seed: int = 0


def _key(base: str, data: dict, cfg: FinetuneConfig) -> str:
    h = hashlib.sha256(json.dumps([base, data, asdict(cfg)]).encode()).hexdigest()
    return h[:16]


def encode_qa(tok, pairs: list[tuple[str, str]]) -> list[tuple[list[int], int]]:
    """(ids, answer start) per pair: prompt and " answer<eos>" tokenised separately, as they are scored."""
    out = []
    for q, a in pairs:
        p = tok(qa_prompt(q), add_special_tokens=True).input_ids
        ans = tok(" " + a, add_special_tokens=False).input_ids + [tok.eos_token_id]
        out.append((p + ans, len(p)))
    return out


def pad_id(tok) -> int:
    """The id that pads batches (labels mask it out, so any id works; EOS when there is no pad token)."""
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def collate(
    batch: list[tuple[list[int], int]], pad_id: int, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask, and labels that are -100 on prompt and pad positions, on ``device``
    (the model's)."""
    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attn = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for b, (row, start) in enumerate(batch):
        ids[b, : len(row)] = torch.tensor(row)
        attn[b, : len(row)] = 1
        labels[b, start : len(row)] = torch.tensor(row[start:])
    return {"input_ids": ids.to(device), "attention_mask": attn.to(device), "labels": labels.to(device)}


def encode_text(tok, chunks: list[str]) -> list[tuple[list[int], int]]:
    """Plain language modelling: every token after BOS counts (the copyright task's books and news)."""
    out = []
    for c in chunks:
        ids = tok(c, add_special_tokens=True).input_ids
        out.append((ids, 1 if ids and ids[0] == tok.bos_token_id else 0))
    return out


def finetune(
    base: str,
    pairs: list[tuple[str, str]],
    cache: Path,
    name: str,
    cfg: FinetuneConfig = FinetuneConfig(),
) -> Path:
    """Fine-tune ``base`` on (question, answer) pairs, loss on the answers; the checkpoint dir (cached)."""
    return _train(base, {"qa": pairs}, lambda tok: encode_qa(tok, pairs), cache, name, cfg)


def finetune_text(base: str, chunks: list[str], cache: Path, name: str, cfg: FinetuneConfig = FinetuneConfig()) -> Path:
    """Fine-tune ``base`` on text chunks (next-token loss on every token); the checkpoint dir (cached)."""
    return _train(base, {"text": chunks}, lambda tok: encode_text(tok, chunks), cache, name, cfg)


def _train(base: str, data_key: dict, encode, cache: Path, name: str, cfg: FinetuneConfig) -> Path:
    if not next(iter(data_key.values())):
        raise ValueError("no training data")
    out = Path(cache) / f"{name}-{_key(base, data_key, cfg)}"
    if (out / "finetune.json").exists():
        return out
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model, tok = load_model(base, dtype="float32")  # trained in full precision, on $ECO_DEVICE if set
    model.train()
    data = encode(tok)
    steps_per_epoch = (len(data) + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, int(cfg.warmup_fraction * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    pad = pad_id(tok)
    losses, tokens, t0 = [], 0, time.perf_counter()
    for step in track(range(total), f"fine-tuning {name}"):
        if step % steps_per_epoch == 0:
            order = list(range(len(data)))
            rng.shuffle(order)
        i = step % steps_per_epoch
        batch = collate([data[j] for j in order[i * cfg.batch_size : (i + 1) * cfg.batch_size]], pad, model.device)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
        tokens += int(batch["attention_mask"].sum())
    seconds = time.perf_counter() - t0
    record = {"base": base, "examples": len(data), "config": asdict(cfg), "steps": total, "tokens": tokens,
              "seconds": seconds, "tokens_per_s": tokens / seconds, "loss": losses}  # fmt: skip
    return save_checkpoint(model, tok, out, "finetune.json", record)


def save_checkpoint(model, tok, out: Path, record_name: str, record: dict) -> Path:
    """Model, tokenizer and a JSON record, staged and moved into place whole (the record marks completion)."""
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        staged = Path(tmp) / "model"
        model.save_pretrained(staged)
        tok.save_pretrained(staged)
        atomic_write_json(staged / record_name, record)
        if not (out / record_name).exists():  # else another process finished the same cached work meanwhile
            replace_dir(staged, out, overwrite=True)  # a directory without its record is an incomplete one
    return out


def training_record(checkpoint: Path) -> dict:
    return json.loads((Path(checkpoint) / "finetune.json").read_text())
