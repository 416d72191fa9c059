"""Settings for the moderation domain (``AIGC_MODERATION__*`` once nested by the gateway).

    settings = ModerationSettings()                                   # offline defaults
    settings = ModerationSettings(detoxify=DetoxifySettings(model="unbiased"))
    settings = ModerationSettings(detoxify=DetoxifySettings(model="/models/tox.ckpt"))

Defaults work on a fresh machine with no download: lexicons, personal data, bias rules
and the alt-profanity-check classifier. Detoxify is opt-in and loads only local files.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DetoxifySettings", "ModerationSettings"]

PACKAGE_DIR = Path(__file__).resolve().parent


class DetoxifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "original" | "unbiased" | "multilingual", or a path to a checkpoint file in the
    # format Detoxify saves ({"config": ..., "state_dict": ...}). None turns it off.
    model: str | None = None
    # Where the named models' checkpoint files lie (default: torch hub's checkpoints
    # directory, where Detoxify itself would have cached them). Never downloaded.
    checkpoint_dir: Path | None = None
    # Directory with the transformers config and tokenizer files of the base model, so
    # that loading needs no hub (Detoxify's ``huggingface_config_path``).
    huggingface_config_path: Path | None = None
    batch_size: int = Field(default=32, gt=0)
    device: str = "cpu"


class ModerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Shipped lists in moderation/lexicons/ when unset; a directory of *.yaml otherwise.
    lexicon_dir: Path | None = None
    bias_lexicon_dir: Path | None = None
    # Searched for policy names before the shipped moderation/policies/.
    policy_dir: Path | None = None
    # alt-profanity-check's bundled English model, part of the "toxicity" scanner.
    offline_classifier: bool = True
    detoxify: DetoxifySettings = Field(default_factory=DetoxifySettings)
    # Classifier scores below this are not reported as findings at all.
    classifier_min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    max_text_chars: int = Field(default=100_000, gt=0)
    # Hamming distance (of 64 bits) at or below which two images match, for pHash and dHash.
    image_hash_max_distance: int = Field(default=10, ge=0, le=64)
    tenant_lexicon_cache_size: int = Field(default=128, gt=0)
    # A decision keeps at most this many findings per category (highest scores first), so
    # a long text repeating one term cannot produce a response of thousands of findings.
    max_findings_per_category: int = Field(default=50, gt=0)

    @property
    def lexicon_dir_resolved(self) -> Path:
        return self.lexicon_dir or PACKAGE_DIR / "lexicons"

    @property
    def bias_lexicon_dir_resolved(self) -> Path:
        return self.bias_lexicon_dir or PACKAGE_DIR / "lexicons" / "bias"
