"""Settings for one gateway process, read from ``AIGC_*`` environment variables.

Nested sections use ``__``: ``AIGC_LIMITS__MAX_BODY_BYTES=2000000``. Everything has a
default that works on a fresh machine, rooted at ``AIGC_DATA_DIR`` (default ``./data``)::

    settings = Settings()                       # reads the environment
    settings = Settings(data_dir=Path("/tmp/x")) # explicit, as the tests do
    settings.database_url_resolved  # sqlite:////tmp/x/gateway.db

Settings are built once and passed explicitly; nothing reads them at import time.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.jobs.settings import JobSettings
from gateway.webhooks import WebhookSettings
from generators.settings import GeneratorSettings
from ledger.settings import LedgerSettings
from moderation.settings import ModerationSettings
from provenance.interface import Corner, StepName, TextLabelPosition
from provenance.settings import ProvenanceSettings
from provenance.watermark.settings import WatermarkSettings
from review_ui.settings import ReviewSettings

__all__ = ["ExecutionMode", "LimitSettings", "ServerSettings", "Settings", "StampProfile"]


class ExecutionMode(StrEnum):
    IN_PROCESS = "in_process"  # every request runs its pipeline in the API process
    CELERY = "celery"  # generation and stamping run as Celery tasks on workers


class LimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(default=1_000_000, gt=0)  # JSON bodies
    max_upload_bytes: int = Field(default=50_000_000, gt=0)  # multipart files
    max_prompt_chars: int = Field(default=8_000, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)  # decompression-bomb guard
    # Moving-window limits of the verification endpoints: one per client address (no key)
    # or per key, and one per tenant shared by all its keys (new keys get no fresh
    # allowance).
    verify_requests_per_minute: int = Field(default=120, gt=0)
    verify_tenant_requests_per_minute: int = Field(default=600, gt=0)
    # Windows live in Redis when a URL is set, so that N processes allow 1x, not Nx
    # (redis://127.0.0.1:6379/0); in the process's memory otherwise.
    rate_limit_redis_url: str = ""
    rate_limit_redis_prefix: str = Field(default="aigc:ratelimit:", min_length=1)
    # Verifications decoding at once, per process (each can hold a full decoded image):
    # over the per-client cap → 429, global pool still full after the wait → 503.
    verify_concurrent_total: int = Field(default=4, gt=0)
    verify_concurrent_per_client: int = Field(default=2, gt=0)
    verify_queue_wait_s: float = Field(default=5.0, ge=0, le=60)
    # Stricter bomb guard for callers without a key (413 before a pixel is decoded).
    verify_public_max_image_pixels: int = Field(default=16_000_000, gt=0)
    # Uploads are decoded downscaled (JPEG at a reduced DCT scale, others reduced right
    # after decoding) so their shorter side is about this; the watermark detector works
    # at 512 px anyway. 0 decodes at full size.
    verify_decode_side_px: int = Field(default=1024, ge=0)


class ServerSettings(BaseModel):
    """What ``aigc-gateway serve`` hands uvicorn, and the app's request-read deadlines."""

    model_config = ConfigDict(extra="forbid")

    # Proxy addresses whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    # comma-separated list, "*" for any). Empty: trust none, the client is the socket peer
    # — uvicorn's own default trusts 127.0.0.1, which lets any local caller pick its IP.
    forwarded_allow_ips: str = ""
    # Open connections plus tasks before uvicorn answers 503.
    limit_concurrency: int = Field(default=256, gt=0)
    timeout_keep_alive_s: int = Field(default=5, gt=0)
    # The request line and headers must be complete this long after the connection opens
    # (or the previous response ends), or it is closed (gateway.server: uvicorn has no
    # such deadline of its own).
    header_read_timeout_s: float = Field(default=10.0, gt=0)
    # Request line plus headers larger than this close the connection (h11's limit).
    max_header_bytes: int = Field(default=65_536, gt=0)
    # The whole body must arrive within this time after the headers, or 408.
    body_read_timeout_s: float = Field(default=60.0, gt=0)


class StampProfile(BaseModel):
    """How one policy's releases are stamped: label placement and steps turned off."""

    model_config = ConfigDict(extra="forbid")

    label_corner: Corner = Corner.BOTTOM_RIGHT
    text_label_position: TextLabelPosition = TextLabelPosition.END
    disabled_steps: tuple[StepName, ...] = ()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIGC_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("./data")
    # SQLite file under data_dir when unset; any SQLAlchemy URL otherwise
    # (postgresql+psycopg://user@host/db).
    database_url: str | None = None
    content_dir: Path | None = None  # default <data_dir>/content
    # Where content lives: unset or file:// is content_dir; s3://bucket/prefix is an
    # S3-compatible store, reached with the usual AWS settings (AWS_ENDPOINT_URL,
    # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), read by boto3.
    content_url: str | None = None
    models_dir: Path | None = None  # default <data_dir>/models
    secrets_dir: Path | None = None  # default <data_dir>/secrets

    default_policy: str = "cn-marketing"
    content_producer: str = "aigc-gateway"
    execution: ExecutionMode = ExecutionMode.IN_PROCESS
    # The Celery broker (AIGC_EXECUTION=celery): Redis or RabbitMQ (amqp://guest@host//).
    broker_url: str = "redis://127.0.0.1:6379/0"
    verify_public: bool = True
    # /v1/ledger/* without a key (checkpoints and proofs hold hashes only); role audit
    # otherwise.
    ledger_public: bool = False
    public_base_url: str = ""  # prefix for artifact URLs; relative URLs when empty
    log_level: str = "INFO"
    worker_threads: int = Field(default=40, ge=1, le=1000)  # for blocking request work
    # Seconds an authenticated key is remembered by a process (0: look up every request).
    # A key revoked through another process or the CLI stops working within this time.
    auth_cache_s: float = Field(default=2.0, ge=0, le=300)
    # The coordination store of API processes sharing one database (redis://host:6379/0):
    # cache invalidations (revoked keys, policy and brand-list changes) are broadcast on
    # its pub/sub, and the verify rate limits live in it unless
    # limits.rate_limit_redis_url names another. Empty: one process, local caches only.
    redis_url: str = ""

    limits: LimitSettings = Field(default_factory=LimitSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    # Policy name → stamping profile; policies not listed get StampProfile's defaults.
    # AIGC_STAMP_PROFILES='{"eu-general": {"label_corner": "top_left"}}'
    stamp_profiles: dict[str, StampProfile] = Field(default_factory=dict)
    # Mask personal data in prompts before a generator sees them (PIPL minimisation).
    redact_prompts: bool = False
    # Each domain owns its section (AIGC_<SECTION>__<FIELD>).
    generators: GeneratorSettings = Field(default_factory=GeneratorSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    provenance: ProvenanceSettings = Field(default_factory=ProvenanceSettings)
    watermark: WatermarkSettings = Field(default_factory=WatermarkSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)

    @property
    def database_url_resolved(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'gateway.db'}"

    @property
    def content_dir_resolved(self) -> Path:
        return (self.content_dir or self.data_dir / "content").resolve()

    @property
    def models_dir_resolved(self) -> Path:
        return (self.models_dir or self.data_dir / "models").resolve()

    @property
    def secrets_dir_resolved(self) -> Path:
        return (self.secrets_dir or self.data_dir / "secrets").resolve()

    @property
    def generators_resolved(self) -> GeneratorSettings:
        """Generator settings with the models directory filled in."""
        if self.generators.models_dir is not None:
            return self.generators
        return self.generators.model_copy(update={"models_dir": self.models_dir_resolved})

    @property
    def provenance_resolved(self) -> ProvenanceSettings:
        """Provenance settings with the gateway's pixel limit and, unless set, the key
        directory under the data directory."""
        keys_dir = self.provenance.keys_dir or (self.data_dir / "keys").resolve()
        # The decompression-bomb guard holds whether or not the key directory was set.
        return self.provenance.model_copy(
            update={"keys_dir": keys_dir, "max_image_pixels": self.limits.max_image_pixels}
        )
