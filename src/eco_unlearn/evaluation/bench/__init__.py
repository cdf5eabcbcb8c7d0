"""Benchmarks: commands that measure, side by side in one run, and write their figures to JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: importing the package must not load a model stack
    from eco_unlearn.core.encoder import PromptEncoder
    from eco_unlearn.gate.targets import Target


def flag_rate(eco: PromptEncoder, gate: Target, prompts: list[str]) -> float:
    """The share of ``prompts`` (each a one-message prompt) that ``gate`` flags: the gate figure every
    protocol reports next to its scores."""
    return float(np.mean([bool(d.flagged) for d in eco.decide([[p] for p in prompts], [gate])]))


GATE_KEYS = ("mode", "backbone", "backbone_choice")
"""What a bench's results keep of its gate besides the error rates: which gate the figures were measured with."""


def gate_used(calibration: dict) -> dict:
    """The gate's mode and backbone (and why ``auto`` chose it) from ``create_target``'s report."""
    return {k: calibration.get(k, "") for k in GATE_KEYS}
