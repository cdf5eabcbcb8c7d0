"""Gradient ascent (GA): maximise the forget set's negative log-likelihood (Jang et al., 2023; TOFU)."""

from __future__ import annotations

from eco_unlearn.evaluation.baselines.common import nll


def loss(model, ref, forget, retain, cfg, cost):
    cost.add(forward=len(forget["input_ids"]))
    return -nll(model, forget)
