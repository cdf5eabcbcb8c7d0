"""KL minimisation: ascend on the forget set while keeping the retain-set next-token distributions close to
the frozen original's, KL(original ‖ current) over labelled (answer) tokens only (TOFU's "KL")."""

from __future__ import annotations

import torch

from eco_unlearn.evaluation.baselines.common import nll


def loss(model, ref, forget, retain, cfg, cost):
    n_f, n_r = len(forget["input_ids"]), len(retain["input_ids"])
    cost.add(forward=n_f + 2 * n_r)
    inputs = {"input_ids": retain["input_ids"], "attention_mask": retain["attention_mask"]}
    with torch.no_grad():
        ref_lp = torch.log_softmax(ref(**inputs).logits[:, :-1].float(), -1)
    cur_lp = torch.log_softmax(model(**inputs).logits[:, :-1].float(), -1)
    mask = (retain["labels"][:, 1:] != -100).float()
    kl = (ref_lp.exp() * (ref_lp - cur_lp)).sum(-1)
    return -nll(model, forget) + cfg.retain_weight * (kl * mask).sum() / mask.sum().clamp(min=1)
