"""The ``finetune`` classifier kind: the backbone fine-tuned end to end as a sequence classifier, with
class-weighted loss (w_c = N / (2 N_c), as the reference recipe), label smoothing 0.1 and early stopping on a
validation split. Two epochs by default: the reference's 30 RoBERTa epochs do not fit a 2-core CPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from eco_unlearn.console import track
from eco_unlearn.core.models import quiet_transformers
from eco_unlearn.fileio import atomic_write_json
from eco_unlearn.gate.backbone import (
    DEFAULT_BACKBONE,
    META,
    labelled,
    resolve_backbone,
    seed_everything,
)
from eco_unlearn.gate.errors import BundleError
from eco_unlearn.gate.normalise import classifier_texts


class FinetuneClassifier:
    kind = "finetune"

    def __init__(self, model, tokenizer, max_length: int = 128):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length

    @classmethod
    def fit(
        cls,
        forget: list[str],
        retain: list[str],
        *,
        background: list[str] = (),
        backbone: str = DEFAULT_BACKBONE,
        seed: int = 0,
        epochs: int = 2,
        lr: float = 5e-5,
        batch_size: int = 32,
        patience: int = 1,
        val_fraction: float = 0.1,
        max_length: int = 128,
        label_smoothing: float = 0.1,
    ) -> FinetuneClassifier:
        """Background prompts join the negatives; the class-weighted loss balances forget against all of them."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        seed_everything(seed)
        path = resolve_backbone(backbone)
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        texts, y = labelled(classifier_texts(forget), classifier_texts(list(retain) + list(background)))
        order = np.random.default_rng(seed).permutation(len(texts))
        n_val = max(2, int(len(texts) * val_fraction))
        val, train = order[:n_val], order[n_val:]
        counts = np.bincount(y[train], minlength=2).clip(min=1)
        # Label smoothing keeps scores off the 0/1 rails, so a conformal τ is not squeezed against 1.
        weight = torch.tensor(len(train) / (2.0 * counts), dtype=torch.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        steps = epochs * math.ceil(len(train) / batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps + 1)))

        def batch(idx):
            enc = tok(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            return enc, torch.tensor(y[idx])

        best, best_state, bad = float("inf"), None, 0
        for epoch in range(epochs):
            model.train()
            perm = np.random.default_rng(seed + epoch).permutation(train)
            for i in track(range(0, len(perm), batch_size), f"fine-tuning classifier, epoch {epoch + 1}/{epochs}"):
                enc, labels = batch(perm[i : i + batch_size])
                loss = loss_fn(model(**enc).logits, labels)
                loss.backward()
                opt.step()
                sched.step()
                opt.zero_grad()
            model.eval()
            with torch.no_grad():
                enc, labels = batch(val)
                val_loss = float(loss_fn(model(**enc).logits, labels))
            if val_loss < best - 1e-4:
                best, bad = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        return cls(model, tok, max_length)

    @torch.no_grad()
    def p_forget(self, texts: list[str]) -> np.ndarray:
        texts = classifier_texts(list(texts))
        out = []
        for i in range(0, len(texts), 64):
            enc = self.tokenizer(
                list(texts[i : i + 64]), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            out.append(torch.softmax(self.model(**enc).logits.float(), -1)[:, 1].numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(directory / "model")
        self.tokenizer.save_pretrained(directory / "model")
        atomic_write_json(directory / META, {"kind": self.kind, "max_length": self.max_length})

    @classmethod
    def load(cls, directory: Path, meta: dict) -> FinetuneClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            model = AutoModelForSequenceClassification.from_pretrained(directory / "model")
            tok = AutoTokenizer.from_pretrained(directory / "model")
        except (OSError, ValueError) as e:
            raise BundleError(f"{directory}: fine-tuned classifier is missing or corrupt: {e}") from None
        return cls(model, tok, int(meta.get("max_length", 128)))
