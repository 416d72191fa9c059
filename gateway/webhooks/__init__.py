"""Signed webhook callbacks: tell a client's ``callback_url`` how its item ended.

Each delivery is a JSON ``POST`` with these headers:

``X-AIGC-Signature: t=<unix seconds>,v1=<hex>``
    ``v1`` is the lowercase hex HMAC-SHA256, keyed with the tenant's webhook secret, of
    the ASCII timestamp, a full stop and the raw request body: ``f"{t}.".encode() + body``.
    A receiver recomputes it over the bytes it received, compares in constant time and
    refuses timestamps more than five minutes away from its clock (replays). Several
    ``v1=`` entries may appear while a secret is being rotated; one match suffices.
``X-AIGC-Event``
    What happened: ``generation.pending_review`` (held for a person), then
    ``generation.released`` or ``generation.blocked``.
``X-AIGC-Delivery``
    An id that stays the same across retries, so a receiver can drop duplicates.

Deliveries never block the request that caused them, and are retried with exponential
backoff (network errors, 408, 429 and 5xx) up to a bounded number of attempts. A
callback host is resolved once and each attempt connects to an address that passed the
private-network check, with the original ``Host`` header and TLS server name, so DNS
rebinding cannot aim it inward.

The gateway writes each delivery to the outbox table first (:mod:`.outbox`, durable, in
the caller's transaction if it likes) and a :class:`~.dispatcher.OutboxDispatcher` in
every process claims due rows with a lease, so a restart or a crash loses none and
several processes on one database deliver each row once::

    outbox = WebhookOutbox(engine)
    dispatcher = OutboxDispatcher(outbox, WebhookSettings(), secrets=lambda tenant: [secret])
    dispatcher.start()
    outbox.add(NewDelivery("acme", "gen_1", "generation.released",
                           "https://client.example/hooks/aigc", encode_body(payload)))
    dispatcher.nudge()      # delivered now, not at the next poll
    ...
    dispatcher.close()      # what is not delivered yet stays in the outbox

    # receiver side
    verify_signature(secret, request_body, request.headers["X-AIGC-Signature"])
"""

from gateway.webhooks.attempt import DeliveryAttempt
from gateway.webhooks.settings import WebhookSettings
from gateway.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    encode_body,
    sign_payload,
    signature_header,
    verify_signature,
)
from gateway.webhooks.targets import (
    CallbackTarget,
    CallbackUrlNotAllowedError,
    InvalidCallbackUrlError,
    resolve_callback_target,
    validate_callback_url,
)

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "CallbackTarget",
    "CallbackUrlNotAllowedError",
    "DeliveryAttempt",
    "InvalidCallbackUrlError",
    "WebhookSettings",
    "WebhookSignatureError",
    "encode_body",
    "resolve_callback_target",
    "sign_payload",
    "signature_header",
    "validate_callback_url",
    "verify_signature",
]
