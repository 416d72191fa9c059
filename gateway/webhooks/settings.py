"""The ``webhooks`` section of the gateway's settings (nested by
:class:`gateway.settings.Settings`): retries, timeouts, the SSRF switch, rotation grace
and the outbox dispatcher's poll and lease."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["WebhookSettings"]


class WebhookSettings(BaseModel):
    """The ``webhooks`` section of the gateway's settings; the secret lives elsewhere."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=6, ge=1, le=20)
    initial_backoff_s: float = Field(default=1.0, gt=0)
    max_backoff_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0)
    workers: int = Field(default=2, ge=1, le=32)
    # Callbacks to loopback, private and link-local addresses are refused by default
    # (a client could otherwise make the gateway probe its internal network). Tests and
    # local development with a receiver on loopback turn this on.
    allow_private_networks: bool = False
    # After a rotation the previous secret still signs deliveries (a second ``v1=``) for
    # this long, so receivers can switch over without dropping webhooks.
    rotation_grace_s: float = Field(default=86_400.0, ge=0)
    # The outbox dispatcher looks for due deliveries this often; a delivery queued by this
    # process, or a retry it scheduled, wakes it at once, so this only bounds how late
    # it notices rows written by other processes.
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    # How long a claimed delivery stays with the process that claimed it; after that any
    # process may take it over (its claimer died). It must outlast one attempt.
    lease_s: float = Field(default=60.0, gt=0)
    # Delivered and dead rows are kept this long for operators (what went out, what
    # failed), then deleted by the dispatcher at most hourly; 0 keeps them forever.
    keep_finished_days: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> WebhookSettings:
        # httpx applies timeout_s to connect, write, read and pool each: an attempt may
        # take four times it, and a lease that lapses mid-attempt lets a second process
        # deliver the same row concurrently.
        if self.lease_s < 4 * self.timeout_s:
            raise ValueError("webhooks.lease_s must be at least 4 × webhooks.timeout_s")
        return self
