"""What every weight-editing baseline shares: batches, masked log-likelihoods, the loop and its cost.

Losses see right-padded batches whose labels are -100 on prompt and pad positions (``finetune.collate``),
so pad tokens never count, in the forget loss or the retain loss (the reference code forgot that).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from eco_unlearn.console import track
from eco_unlearn.core.models import load_model
from eco_unlearn.evaluation.finetune import collate, encode_qa, encode_text, pad_id, save_checkpoint


@dataclass(frozen=True)
class UnlearnConfig:
    """TOFU's defaults (lr 1e-5, 5 epochs, effective batch 32), batch scaled to 2 cores."""

    epochs: int = 5
    lr: float = 1e-5
    batch_size: int = 16
    weight_decay: float = 0.01
    beta: float = 0.1
    """NPO's inverse temperature."""
    retain_weight: float = 1.0
    seed: int = 0


@dataclass
class Cost:
    seconds: float = 0.0
    forward_passes: int = 0
    """Sequences run forward (a batch of 16 through the policy and the reference counts 32)."""
    backward_passes: int = 0
    peak_rss_mb: float = 0.0

    def add(self, forward: int = 0, backward: int = 0) -> None:
        self.forward_passes += forward
        self.backward_passes += backward


def sequence_logprob(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of log-probabilities of the labelled (answer) tokens of each sequence; pads and prompts excluded."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    lp = torch.log_softmax(logits.float(), -1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    return (lp * mask).sum(-1)


def nll(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled tokens (what ``model(labels=...)`` computes)."""
    return model(**batch).loss


class PeakRSS:
    """Samples this process's resident memory while training (CPU torch has no peak-memory counter)."""

    def __init__(self, every: float = 0.05):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


LossFn = Callable[..., torch.Tensor]
"""loss(model, ref, forget_batch, retain_batch, cfg, cost) -> scalar to minimise."""


def run_unlearning(
    name: str,
    loss_fn: LossFn,
    model_dir: str,
    forget: list[tuple[str, str]] | list[str],
    retain: list[tuple[str, str]] | list[str],
    cache: Path,
    cfg: UnlearnConfig = UnlearnConfig(),
    *,
    needs_reference: bool = False,
    needs_retain: bool = False,
) -> Path:
    """Unlearn ``forget`` from the model in ``model_dir``; returns the cached checkpoint directory.

    (question, answer) pairs are QA data: the losses cover answer tokens, as TOFU's. Plain strings are
    text (a book, news): every token counts, as MUSE unlearns the raw corpus.
    """
    if not forget:
        raise ValueError("the forget set is empty")
    if needs_retain and not retain:
        raise ValueError(f"{name} needs retain data")
    key = hashlib.sha256(json.dumps([name, str(model_dir), forget, retain if needs_retain else [], asdict(cfg)])
                         .encode()).hexdigest()[:16]  # fmt: skip
    out = Path(cache) / f"{name}-{key}"
    if (out / "unlearn.json").exists():
        return out
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model, tok = load_model(model_dir, dtype="float32")  # trained in full precision, on $ECO_DEVICE if set
    ref = copy.deepcopy(model).eval().requires_grad_(False) if needs_reference else None  # frozen original
    model.train()
    pad = pad_id(tok)
    forget_data, retain_data = _encode(tok, forget), _encode(tok, retain) if needs_retain else []
    steps_per_epoch = (len(forget_data) + cfg.batch_size - 1) // cfg.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    cost, losses = Cost(), []
    # As unlearning drives answer probabilities to zero, the softmax gradients turn denormal and CPU matmuls
    # on them run several times slower (measured: a GA step 16 s -> 70 s): flush them, as any practitioner
    # would, so a baseline's cost is its own and not a floating-point artefact. The losses are unchanged.
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    try:
        with PeakRSS() as mem:
            for step in track(range(steps_per_epoch * cfg.epochs), f"unlearning ({name})"):
                if step % steps_per_epoch == 0:
                    order = rng.sample(range(len(forget_data)), len(forget_data))
                i = step % steps_per_epoch
                fb = collate(
                    [forget_data[j] for j in order[i * cfg.batch_size : (i + 1) * cfg.batch_size]], pad, model.device
                )
                rb = None
                if needs_retain:
                    rb = collate(rng.sample(retain_data, min(cfg.batch_size, len(retain_data))), pad, model.device)
                loss = loss_fn(model, ref, fb, rb, cfg, cost)
                loss.backward()
                cost.add(backward=1)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad()
                losses.append(loss.item())
    finally:
        torch.set_flush_denormal(False)
    cost.seconds = time.perf_counter() - t0
    cost.peak_rss_mb = mem.peak / 2**20
    record = {"method": name, "model": str(model_dir), "config": asdict(cfg), "cost": asdict(cost), "loss": losses}
    return save_checkpoint(model, tok, out, "unlearn.json", record)


def _encode(tok, data: list) -> list[tuple[list[int], int]]:
    if all(isinstance(x, str) for x in data):
        return encode_text(tok, data)
    return encode_qa(tok, data)


def unlearn_record(checkpoint: Path) -> dict:
    return json.loads((Path(checkpoint) / "unlearn.json").read_text())
