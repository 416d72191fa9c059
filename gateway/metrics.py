"""Prometheus metrics of one app instance (own registry, so tests can build many apps).

metrics = GatewayMetrics()
metrics.observe_request("POST", "/v1/generations", 201, 0.012)
metrics.render()  # text exposition format for GET /metrics
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aigc_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aigc_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "aigc_pipeline_stage_duration_seconds",
            "Pipeline stage latency",
            ["stage"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.generations = Counter(
            "aigc_generations_total",
            "Generations by kind and resulting status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.review_queue_depth = Gauge(
            "aigc_review_queue_depth",
            "Review tasks waiting, per queue",
            ["queue"],
            registry=self.registry,
        )
        self.review_oldest_age = Gauge(
            "aigc_review_queue_oldest_age_seconds",
            "Age of the oldest waiting review task",
            ["queue"],
            registry=self.registry,
        )
        # Celery mode: read from the jobs table at each scrape, so any API process shows
        # every worker's work (workers serve no /metrics of their own).
        self.job_queue_depth = Gauge(
            "aigc_job_queue_depth",
            "Jobs queued or running, per queue",
            ["queue", "status"],
            registry=self.registry,
        )
        self.job_latency = Gauge(
            "aigc_job_latency_seconds",
            "Admission to finish of the jobs finished in the last 5 minutes, per queue",
            ["queue", "quantile"],
            registry=self.registry,
        )
        self._collect_hooks: list[Callable[[], None]] = []

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_latency.labels(stage).observe(seconds)

    def on_collect(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` before each scrape (to refresh gauges read from the database)."""
        self._collect_hooks.append(hook)

    def render(self) -> bytes:
        for hook in self._collect_hooks:
            hook()
        return generate_latest(self.registry)
