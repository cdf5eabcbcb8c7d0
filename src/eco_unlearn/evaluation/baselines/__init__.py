"""Weight-editing unlearning baselines (GA, GD, KL, NPO, NPO-RT), one small module each, same harness.

``unlearn(method, model_dir, forget, retain, cache)`` returns a cached checkpoint whose ``unlearn.json``
records the cost (wall time, forward and backward passes, peak memory) and the loss curve.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eco_unlearn.evaluation.baselines import ga, gd, kl, npo
from eco_unlearn.evaluation.baselines.common import LossFn, UnlearnConfig, run_unlearning, unlearn_record


@dataclass(frozen=True)
class Method:
    loss: LossFn
    needs_reference: bool
    needs_retain: bool


METHODS: dict[str, Method] = {
    "ga": Method(ga.loss, needs_reference=False, needs_retain=False),
    "gd": Method(gd.loss, needs_reference=False, needs_retain=True),
    "kl": Method(kl.loss, needs_reference=True, needs_retain=True),
    "npo": Method(npo.loss, needs_reference=True, needs_retain=False),
    "npo_rt": Method(npo.loss_rt, needs_reference=True, needs_retain=True),
}


def unlearn(
    method: str,
    model_dir: str | Path,
    forget: list[tuple[str, str]] | list[str],
    retain: list[tuple[str, str]] | list[str],
    cache: Path,
    cfg: UnlearnConfig | None = None,
) -> Path:
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; choose one of {', '.join(METHODS)}")
    m = METHODS[method]
    return run_unlearning(method, m.loss, str(model_dir), forget, retain, cache, cfg or UnlearnConfig(),
                          needs_reference=m.needs_reference, needs_retain=m.needs_retain)  # fmt: skip


def unlearned_models(
    methods: tuple[str, ...],
    model_dir: str | Path,
    forget: list[tuple[str, str]] | list[str],
    retain: list[tuple[str, str]] | list[str],
    cache: Path,
    cfg: UnlearnConfig | None = None,
) -> Iterator[tuple[str, object, dict]]:
    """``(method, ECOModel of the unlearned checkpoint, cost of creating it)`` per method: what every benchmark
    tabulates next to ECO."""
    from eco_unlearn.core.ecomodel import ECOModel

    for method in methods:
        ckpt = unlearn(method, model_dir, forget, retain, cache, cfg)
        yield method, ECOModel.from_pretrained(str(ckpt)), unlearn_record(ckpt)["cost"]


__all__ = ["METHODS", "UnlearnConfig", "unlearn", "unlearn_record", "unlearned_models"]
