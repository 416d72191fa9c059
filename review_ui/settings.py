"""The ``review`` section of the gateway's settings (``AIGC_REVIEW__LEASE_S=600``).

settings = ReviewSettings(lease_s=600, double_review_categories=["pii."])
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ReviewSettings"]


class ReviewSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A claim is a lease: it lapses back to pending unless renewed or decided.
    lease_s: int = Field(default=900, gt=0)
    default_queue: str = Field(default="default", min_length=1)
    senior_queue: str = Field(default="senior", min_length=1)
    # Category prefixes that need two distinct reviewers when the caller of ``enqueue``
    # does not say (a policy's own setting, passed as ``double_review=``, wins).
    double_review_categories: list[str] = Field(default_factory=list)
    # Reason codes offered when a policy hands none over, so reject stays possible.
    fallback_reason_codes: list[str] = Field(default_factory=lambda: ["other"], min_length=1)
    # SLA colouring of the queue page: older than warn is amber, older than breach red.
    sla_warn_after_s: int = Field(default=1800, gt=0)
    sla_breach_after_s: int = Field(default=7200, gt=0)
    page_size: int = Field(default=50, gt=0, le=500)
    max_page_size: int = Field(default=200, gt=0, le=1000)
    # Reviewer UI session lifetime; the cookie is signed, HttpOnly, SameSite=Strict.
    session_ttl_s: int = Field(default=8 * 3600, gt=0)
    # Send the session cookie only over HTTPS. Browsers accept Secure cookies from
    # http://127.0.0.1 and http://localhost (loopback is a trustworthy origin), so the
    # one-command start works; turn off only for plain HTTP on another host.
    cookie_secure: bool = True

    @model_validator(mode="after")
    def _check_order(self) -> ReviewSettings:
        if self.sla_breach_after_s < self.sla_warn_after_s:
            raise ValueError("sla_breach_after_s must not be below sla_warn_after_s")
        if self.senior_queue == self.default_queue:
            raise ValueError("senior_queue must differ from default_queue")
        return self
