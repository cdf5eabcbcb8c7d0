"""Negative preference optimisation (Zhang et al., 2024), and NPO-RT with a retain loss.

L_NPO = -(2/β) · mean_i log σ(-β · (log π_θ(y_i|x_i) - log π_ref(y_i|x_i))), with log π the summed
log-probability of the answer tokens and π_ref the frozen original. As β → 0 it becomes gradient ascent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eco_unlearn.evaluation.baselines.common import nll, sequence_logprob


def npo_loss(policy_logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """The NPO objective from per-sequence log-likelihoods (the formula above)."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (policy_logp - ref_logp)).mean()


def loss(model, ref, forget, retain, cfg, cost):
    cost.add(forward=2 * len(forget["input_ids"]))
    with torch.no_grad():
        ref_logp = sequence_logprob(ref, forget)
    return npo_loss(sequence_logprob(model, forget), ref_logp, cfg.beta)


def loss_rt(model, ref, forget, retain, cfg, cost):
    cost.add(forward=len(retain["input_ids"]))
    return loss(model, ref, forget, retain, cfg, cost) + cfg.retain_weight * nll(model, retain)
