"""Prometheus metrics of one gateway (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "eco_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=r
        )
        self.tokens = Counter("eco_tokens", "tokens processed", ["kind"], registry=r)
        self.gated = Counter("eco_gated_prompts", "prompts that went through the gates", registry=r)
        self.flagged = Counter("eco_flagged_prompts", "prompts flagged, per target", ["target"], registry=r)
        self.corrupted = Counter("eco_corrupted_prompts", "prompts sent with corrupted embeddings", registry=r)
        self.classifier_seconds = Histogram(
            "eco_classifier_seconds", "gate (classifier) latency per prompt", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.generation_seconds = Histogram(
            "eco_generation_seconds", "backend generation latency per request", buckets=_LATENCY_BUCKETS, registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
