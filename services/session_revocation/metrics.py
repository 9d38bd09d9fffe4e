"""Prometheus metrics of the session revocation service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REVOCATIONS = Counter(
    "rivane_revocations_total",
    "Revocation events received, by path and by whether they were new",
    ["source", "outcome"],
)
REVOCATION_FAILURES = Counter(
    "rivane_revocation_failures_total",
    "Attempts to apply a revocation that failed and will be retried",
    ["source"],
)
REVOCATION_LATENCY = Histogram(
    "rivane_revocation_latency_seconds",
    "From the SCIM request's arrival to the revocation's completion",
    ["source"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TOKENS_ISSUED = Counter("rivane_session_tokens_issued_total", "Access tokens issued")
TOKEN_CHECKS = Counter(
    "rivane_session_token_checks_total",
    "Token checks, by result: active, or the reason it is not",
    ["result"],
)
CONSUMER_DISCONNECTS = Counter(
    "rivane_revocation_consumer_disconnects_total",
    "Times the Kafka consumer of scim.user_deprovisioned lost the broker",
)
