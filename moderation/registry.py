"""Scanner registry: the names a policy may list, each with its factory.

    scanner = build_scanner("pii", ModerationSettings())
    build_scanner("nope", settings)   # UnknownScannerError: ... known: bias, detoxify, ...

``toxicity`` is the configured classifier set: detoxify when a model is configured,
alt-profanity-check when ``offline_classifier`` is on (the default), both when both.
Neither is a configuration error rather than a silent pass (STYLE: fail closed).
"""

from __future__ import annotations

from collections.abc import Callable

from moderation.interface import ImageScanner, Scanner, UnknownScannerError
from moderation.scanners.bias import BiasScanner
from moderation.scanners.image_hash import ImageHashScanner
from moderation.scanners.lexicon import LexiconScanner, lexicon_paths, load_lexicon
from moderation.scanners.pii import PersonalDataScanner
from moderation.scanners.toxicity import CompositeScanner, DetoxifyScanner, ProfanityCheckScanner
from moderation.settings import ModerationSettings

__all__ = [
    "IMAGE_SCANNERS",
    "TEXT_SCANNERS",
    "build_image_scanner",
    "build_lexicon_scanner",
    "build_scanner",
]


def build_lexicon_scanner(settings: ModerationSettings) -> LexiconScanner:
    paths = lexicon_paths(settings.lexicon_dir_resolved)
    return LexiconScanner("lexicon", [load_lexicon(path) for path in paths])


def _toxicity(settings: ModerationSettings) -> Scanner:
    members: list[Scanner] = []
    if settings.detoxify.model is not None:
        members.append(_detoxify(settings))
    if settings.offline_classifier:
        members.append(_profanity(settings))
    if not members:
        raise UnknownScannerError(
            "the 'toxicity' scanner needs detoxify.model or offline_classifier to be set"
        )
    return CompositeScanner("toxicity", members)


def _detoxify(settings: ModerationSettings) -> Scanner:
    if settings.detoxify.model is None:
        raise UnknownScannerError("the 'detoxify' scanner needs detoxify.model to be set")
    return DetoxifyScanner(settings.detoxify, min_score=settings.classifier_min_score)


def _profanity(settings: ModerationSettings) -> Scanner:
    return ProfanityCheckScanner(min_score=settings.classifier_min_score)


TEXT_SCANNERS: dict[str, Callable[[ModerationSettings], Scanner]] = {
    "bias": lambda settings: BiasScanner.from_directory(settings.bias_lexicon_dir_resolved),
    "detoxify": _detoxify,
    "lexicon": build_lexicon_scanner,
    "pii": lambda settings: PersonalDataScanner(),
    "profanity": _profanity,
    "toxicity": _toxicity,
}

IMAGE_SCANNERS: dict[str, Callable[[ModerationSettings], ImageScanner]] = {
    "image_hash": lambda settings: ImageHashScanner(settings.image_hash_max_distance),
}


def build_scanner(name: str, settings: ModerationSettings) -> Scanner:
    factory = TEXT_SCANNERS.get(name)
    if factory is None:
        known = ", ".join(sorted(TEXT_SCANNERS))
        raise UnknownScannerError(f"unknown text scanner {name!r}; known: {known}")
    return factory(settings)


def build_image_scanner(name: str, settings: ModerationSettings) -> ImageScanner:
    factory = IMAGE_SCANNERS.get(name)
    if factory is None:
        known = ", ".join(sorted(IMAGE_SCANNERS))
        raise UnknownScannerError(f"unknown image scanner {name!r}; known: {known}")
    return factory(settings)
