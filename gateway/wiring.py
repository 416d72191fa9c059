"""Builds each domain's objects from settings for ``gateway.runtime.build_runtime``.

Heavy parts (models, the EVM, signing keys) are built when first asked for, so a CLI
command that needs only the database pays for nothing else.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from functools import cached_property, partial
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection, Engine

from common.jsonsafe import restore_recursion_limit
from common.types import ContentKind
from gateway.adapters.ledger import LeafIdentities, MerkleLedger
from gateway.adapters.moderation import EngineModeration
from gateway.adapters.review import ledger_event_hook, resume_hook
from gateway.adapters.stamping import ProvenanceStamping
from gateway.catalog import GeneratorCatalog
from gateway.invalidation import Invalidations, Topic
from gateway.models import Generation
from gateway.ports import LedgerPort, ReviewSummary
from gateway.schemas import generation_public
from gateway.secrets import load_or_create_secret
from gateway.settings import Settings
from gateway.webhooks import (
    CallbackUrlNotAllowedError,
    InvalidCallbackUrlError,
    WebhookSettings,
    encode_body,
    resolve_callback_target,
    validate_callback_url,
)
from gateway.webhooks.dispatcher import OutboxDispatcher
from gateway.webhooks.outbox import NewDelivery, WebhookOutbox
from gateway.webhooks.store import CallbackPins, DeliveryLog, SecretSealer, WebhookSecretStore
from gateway.webhooks.targets import check_public_addresses
from generators.registry import GENERATORS, build_generator
from ledger.anchor.anchorer import Anchorer
from ledger.service import Ledger, open_ledger
from provenance.stamper import Stamper, build_stamper
from provenance.watermark import ImageWatermarker, build_watermarker
from review_ui.service import ReviewService

if TYPE_CHECKING:
    from gateway.content_store import ContentStore
    from gateway.verification import GreenListTextDetector, Verifier

__all__ = ["DomainWiring", "SecretFiles", "TenantWebhooks", "forget_tenant_lists_on_change"]

log = logging.getLogger(__name__)


class SecretFiles:
    """The gateway's own secrets, each a 0600 file under the secrets directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, name: str, nbytes: int = 32) -> bytes:
        return load_or_create_secret(self.directory / name, nbytes)

    def text_watermark_key(self) -> int:
        return int.from_bytes(self.get("text_watermark_key", 8)[:8], "big")

    def image_watermark_key(self) -> bytes:
        return self.get("image_watermark_key", 32)

    def session_key(self) -> bytes:
        return self.get("review_session_key", 32)

    def webhook_secret(self, tenant_id: str) -> str:
        """A tenant's initial webhook signing secret, derived from one master secret (the
        stored secret starts as this one; ``WebhookSecretStore`` holds the current one)."""
        master = self.webhook_master_key()
        return hmac.new(master, f"webhook:{tenant_id}".encode(), sha256).hexdigest()

    def webhook_master_key(self) -> bytes:
        return self.get("webhook_master_key", 32)


class TenantWebhooks:
    """Signed callbacks when a generation is held for review and when it ends: written to
    the outbox first (a restart or a crash loses none), then delivered by this process's
    dispatcher or any other's, signed with the tenant's stored secrets, every attempt
    logged."""

    def __init__(self, settings: WebhookSettings, secrets: SecretFiles, engine: Engine) -> None:
        self.settings = settings
        self.secrets = secrets
        self.store = WebhookSecretStore(
            engine,
            SecretSealer(secrets.webhook_master_key),
            secrets.webhook_secret,
            grace_s=settings.rotation_grace_s,
        )
        self.log = DeliveryLog(engine)
        self.pins = CallbackPins(engine)
        self.outbox = WebhookOutbox(engine)
        self.dispatcher = OutboxDispatcher(
            self.outbox,
            settings,
            # Read at each attempt: a rotation applies to pending retries too.
            secrets=self.store.signing_secrets,
            on_attempt=self.log.record,
        )
        self.base_url = ""

    def payload_of(self, generation: Generation) -> dict[str, Any]:
        return generation_public(generation, self.base_url).model_dump(mode="json")

    def check_url(self, url: str | None) -> None:
        """Refuse a callback URL at request time (422), not when the outcome is known:
        its host is resolved here, every address must be public (SSRF), and the
        addresses are pinned for the delivery (no second resolution, no rebinding)."""
        if url is None:
            return
        allow_private = self.settings.allow_private_networks
        self.pins.save(resolve_callback_target(url, allow_private_networks=allow_private))

    def enqueue(self, connection: Connection, generation: Generation) -> str | None:
        """Write ``generation.<status>`` to the outbox in the caller's transaction, so the
        webhook exists exactly when the outcome is committed; returns the delivery id
        (None: no callback URL, or one refused). Call :meth:`nudge` after the commit."""
        delivery = self._delivery_of(generation)
        return self.outbox.enqueue(connection, delivery) if delivery is not None else None

    def notify(self, generation: Generation) -> None:
        """Enqueue ``generation.<status>`` (``pending_review``, ``released``, ``blocked``)
        in a transaction of its own, then have the dispatcher deliver it at once."""
        if not generation.callback_url:
            return
        try:
            with self.outbox.engine.begin() as connection:
                self.enqueue(connection, generation)
        except Exception:  # a callback must never undo a finished generation
            log.exception("could not queue the webhook of generation %s", generation.id)
            return
        self.dispatcher.nudge()

    def nudge(self) -> None:
        """Deliver what was just enqueued (and committed) now, not at the next poll."""
        self.dispatcher.nudge()

    def start(self) -> None:
        """Start delivering, beginning with what earlier processes left in the outbox."""
        self.dispatcher.start()

    def wait_idle(self, timeout_s: float) -> bool:
        """True once the outbox holds nothing left to deliver (tests, drains)."""
        return self.dispatcher.wait_idle(timeout_s)

    def close(self) -> None:
        """Stop delivering; what is not delivered yet stays in the outbox."""
        self.dispatcher.close()

    def _delivery_of(self, generation: Generation) -> NewDelivery | None:
        url = generation.callback_url
        if not url:
            return None
        allow_private = self.settings.allow_private_networks
        # No pin (a generation from before pins): resolved once, at the first attempt.
        pin = self.pins.get(url)
        addresses = pin.addresses if pin is not None else ()
        try:
            validate_callback_url(url, allow_private_networks=allow_private)
            if addresses and not allow_private:
                check_public_addresses(addresses)  # a pin made under other settings
        except (CallbackUrlNotAllowedError, InvalidCallbackUrlError):
            # Logged, not raised: the caller's transaction holds the outcome itself.
            log.warning("generation %s: its callback URL is refused", generation.id)
            return None
        return NewDelivery(
            tenant_id=generation.tenant_id,
            generation_id=generation.id,
            event=f"generation.{generation.status}",
            url=url,
            body=encode_body(self.payload_of(generation)),
            addresses=addresses,
        )


def forget_tenant_lists_on_change(moderation: EngineModeration, bus: Invalidations) -> None:
    """Drop a tenant's cached brand lists and image hashes when any process changes them.

    The cache is ``EngineModeration``'s own (read at most every couple of seconds); it
    offers no public hook, so its forget method and dict are named here.
    """
    forget = moderation._forget_tenant
    clear = moderation._lists.clear
    bus.register(Topic.BRAND_LIST, forget, clear=clear)
    bus.register(Topic.IMAGE_REGISTRY, forget, clear=clear)


class DomainWiring:
    def __init__(self, settings: Settings, engine: Engine, secrets: SecretFiles) -> None:
        self.settings = settings
        self.engine = engine
        self.secrets = secrets

    # ------------------------------------------------------------------ generators

    def generator_catalog(self) -> GeneratorCatalog:
        generator_settings = self.settings.generators_resolved
        names = self.configured_generator_names()
        factories = {name: partial(self._build_generator, name) for name in names}
        defaults = {kind: generator_settings.default_generator(kind) for kind in ContentKind}
        kinds = {name: GENERATORS[name].kind for name in names}
        return GeneratorCatalog(factories, defaults, kinds)

    def configured_generator_names(self) -> list[str]:
        """The kind defaults, plus the upstream and external hooks once configured."""
        generator_settings = self.settings.generators_resolved
        names = {generator_settings.default_generator(kind) for kind in ContentKind}
        if generator_settings.upstream_base_url:
            names.add("openai-upstream")
        if generator_settings.external_3d_command:
            names.add("external-3d")
        return sorted(names)

    def _build_generator(self, name: str) -> Any:
        key = self.secrets.text_watermark_key() if self.settings.generators.text_watermark else None
        return build_generator(name, self.settings.generators_resolved, watermark_key=key)

    # ------------------------------------------------------------------ moderation

    def moderation_port(self) -> EngineModeration:
        from moderation.engine import build_engine
        from moderation.models import BrandListService, ImageRegistryService

        return EngineModeration(
            build_engine(self.settings.moderation),
            BrandListService(self.engine),
            ImageRegistryService(self.engine),
            self.settings.moderation.policy_dir,
            redact_prompts=self.settings.redact_prompts,
            custom_policy_dir=self.settings.data_dir / "policies" / "tenants",
        )

    # ------------------------------------------------------------------ provenance

    @cached_property
    def watermarker(self) -> ImageWatermarker:
        return build_watermarker(
            self.settings.watermark.watermarker,
            key=self.secrets.image_watermark_key(),
            settings=self.settings.watermark,
        )

    @cached_property
    def stamper(self) -> Stamper:
        return build_stamper(self.settings.provenance_resolved, self.watermarker)

    def stamping_port(self) -> ProvenanceStamping:
        return ProvenanceStamping(
            self.stamper,
            self.settings.content_producer,
            self.watermarker.id_bits,
            self.settings.stamp_profiles,
        )

    # ------------------------------------------------------------------ ledger

    @cached_property
    def ledger_service(self) -> Ledger:
        return open_ledger(self.engine, self.settings.ledger, self.settings.data_dir.resolve())

    @cached_property
    def anchorer(self) -> Anchorer | None:
        """Built on first use; with no rpc_url this starts the local chain (an anvil
        child process, stopped by ``Anchorer.close``) or an in-process one."""
        from ledger.anchor.registry import open_anchor

        anchor_settings = self.settings.ledger.anchor
        if not anchor_settings.enabled:
            return None
        chain = open_anchor(self.settings.ledger, self.settings.data_dir.resolve())
        restore_recursion_limit()  # web3's stack (py_ecc) raised it to 100,000 on import
        return Anchorer(self.ledger_service, chain.anchor, anchor_settings, chain=chain)

    @cached_property
    def leaf_identities(self) -> LeafIdentities:
        return LeafIdentities(self.secrets.get("ledger_identity_key", 32))

    def ledger_port(self) -> MerkleLedger:
        return MerkleLedger(self.ledger_service, self.leaf_identities)

    # ------------------------------------------------------------------ verification

    def verifier(self, store: ContentStore) -> Verifier:
        """What ``POST /v1/verify`` asks: our trust anchors and watermark keys, this ledger
        (and its chain, to confirm receipts) and the released artifacts in ``store``."""
        from gateway.verification import SqlArtifactCatalog, build_verifier
        from provenance.keys import trust_anchors_pem

        limits = self.settings.limits
        # Ours plus any configured list (ProvenanceSettings.trust_anchor_paths).
        anchors = trust_anchors_pem(self.stamper.settings, self.stamper.key_provider) or None
        return build_verifier(
            trust_anchors_pem=anchors,
            watermarker=self.watermarker,
            text_detector=self._text_watermark_detector(),
            ledger=self.ledger_service,
            catalog=SqlArtifactCatalog(self.engine, store),
            anchorer=self.anchorer,
            max_bytes=limits.max_upload_bytes,
            max_image_pixels=limits.max_image_pixels,
            decode_side_px=limits.verify_decode_side_px,
        )

    def _text_watermark_detector(self) -> GreenListTextDetector | None:
        """Green-list detection with the key the text generators mark with, when they do."""
        from gateway.verification import GreenListTextDetector

        generator_settings = self.settings.generators_resolved
        if not generator_settings.text_watermark:
            return None
        source = generator_settings.text_model_source()
        if source.path is None:
            return None
        return GreenListTextDetector(Path(source.path), self.secrets.text_watermark_key())

    # ------------------------------------------------------------------ review

    def review_service(
        self,
        ledger: LedgerPort,
        complete_review: Callable[[str, bool, ReviewSummary, str | None], object],
    ) -> ReviewService:
        return ReviewService(
            self.engine,
            self.settings.review,
            on_final_decision=resume_hook(complete_review),
            on_event=ledger_event_hook(ledger),
        )
