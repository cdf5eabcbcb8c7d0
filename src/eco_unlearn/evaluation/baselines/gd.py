"""Gradient difference (GD): ascend on the forget set, descend on the retain set (Liu et al., 2022; TOFU)."""

from __future__ import annotations

from eco_unlearn.evaluation.baselines.common import nll


def loss(model, ref, forget, retain, cfg, cost):
    cost.add(forward=len(forget["input_ids"]) + len(retain["input_ids"]))
    return -nll(model, forget) + cfg.retain_weight * nll(model, retain)
