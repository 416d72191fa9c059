"""Toxicity classifiers: detoxify (opt-in, local checkpoints only) and alt-profanity-check.

Both score every sentence and the whole text in one batched call and report, per
category, the worst unit with its span, so a long harmless text does not dilute one
toxic sentence::

    scanner = ProfanityCheckScanner(min_score=0.5)
    scanner.scan("Great serum. You are a fucking idiot.")
    # [Finding("profanity", "toxicity", 0.99, (13, 37), "You are a fucking idiot.")]

Detoxify categories: toxicity, severe_toxicity, obscene, threat, insult,
identity_attack, sexual_explicit. ``DetoxifyScanner`` never downloads: a named model
(``original``, ``unbiased``, ``multilingual``) must already lie in the checkpoint
directory, and ``readiness_problem()`` says so in a sentence when it does not.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderation.interface import Finding, ScannerNotReadyError
from moderation.scanners.profanity_model import CalibratedLinearModel, load_profanity_check_model
from moderation.settings import DetoxifySettings

__all__ = [
    "DETOXIFY_CATEGORIES",
    "DETOXIFY_CHECKPOINT_FILES",
    "CompositeScanner",
    "DetoxifyScanner",
    "ProfanityCheckScanner",
    "sentence_spans",
]

# What Detoxify's heads report (a finding's category); multilingual reports a subset.
DETOXIFY_CATEGORIES = frozenset(
    {
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
        "sexual_explicit",
    }
)
# File names of Detoxify 0.5's release checkpoints (detoxify.detoxify.MODEL_URLS).
DETOXIFY_CHECKPOINT_FILES = {
    "original": "toxic_original-c1212f89.ckpt",
    "unbiased": "toxic_debiased-c7548aa0.ckpt",
    "multilingual": "multilingual_debiased-0b549669.ckpt",
}
_SENTENCE = re.compile(r"[^。\uff01\uff1f!?\uff1b;.\n]+[。\uff01\uff1f!?\uff1b;.\n]*")
_EVIDENCE_CHARS = 120


@dataclass(frozen=True, slots=True)
class _Unit:
    text_index: int
    span: tuple[int, int]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of a text (Chinese and Western end punctuation), trimmed."""
    spans = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group()
        stripped = sentence.strip()
        if stripped:
            start = match.start() + sentence.index(stripped)
            spans.append((start, start + len(stripped)))
    return spans


def _units(texts: Sequence[str]) -> list[_Unit]:
    """Every sentence of every text, plus the whole text when it has several sentences."""
    units: list[_Unit] = []
    for index, text in enumerate(texts):
        spans = sentence_spans(text)
        units.extend(_Unit(index, span) for span in spans)
        if len(spans) != 1 and text.strip():
            units.append(_Unit(index, (0, len(text))))
    return units


def _worst_per_category(
    texts: Sequence[str],
    units: list[_Unit],
    scores: dict[str, list[float]],
    scanner: str,
    min_score: float,
) -> list[list[Finding]]:
    """Per text and category, the highest-scoring unit as one finding."""
    best: list[dict[str, tuple[float, _Unit]]] = [{} for _ in texts]
    for category, values in scores.items():
        for unit, score in zip(units, values, strict=True):
            current = best[unit.text_index].get(category)
            if score >= min_score and (current is None or score > current[0]):
                best[unit.text_index][category] = (score, unit)
    return [
        [
            _finding(scanner, category, score, unit, texts[unit.text_index])
            for category, (score, unit) in sorted(per_text.items())
        ]
        for per_text in best
    ]


def _finding(scanner: str, category: str, score: float, unit: _Unit, text: str) -> Finding:
    start, end = unit.span
    return Finding(
        scanner=scanner,
        category=category,
        score=round(float(score), 4),
        span=unit.span,
        evidence=text[start:end][:_EVIDENCE_CHARS],
    )


class _UnitScanner:
    """Scores each sentence-sized unit of a text by category; a finding per category for
    the worst unit above ``min_score``. Subclasses score the pieces."""

    name: str
    min_score: float

    def scan(self, text: str) -> list[Finding]:
        return self.scan_many([text])[0]

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        units = _units(texts)
        if not units:
            return [[] for _ in texts]
        pieces = [texts[u.text_index][u.span[0] : u.span[1]] for u in units]
        return _worst_per_category(texts, units, self._scores(pieces), self.name, self.min_score)

    def _scores(self, pieces: list[str]) -> dict[str, list[float]]:
        raise NotImplementedError


class ProfanityCheckScanner(_UnitScanner):
    """alt-profanity-check's bundled linear SVM: English, trained, no download.

    The model is evaluated by ``profanity_model.CalibratedLinearModel``, not through
    scikit-learn's ``predict_proba`` (same numbers, without ~2.5 ms of overhead per call).
    """

    name = "profanity"

    def __init__(self, min_score: float = 0.5) -> None:
        self.min_score = min_score
        self.version = f"alt-profanity-check@{_package_version('alt-profanity-check')}"
        self._model: CalibratedLinearModel | None = None

    def _scores(self, pieces: list[str]) -> dict[str, list[float]]:
        return {"toxicity": self._loaded().probabilities(pieces)}

    def _loaded(self) -> CalibratedLinearModel:
        if self._model is None:
            self._model = load_profanity_check_model()
        return self._model


class DetoxifyScanner(_UnitScanner):
    """The real ``detoxify`` library on a local checkpoint, batched."""

    name = "detoxify"

    def __init__(self, settings: DetoxifySettings, min_score: float = 0.5) -> None:
        if settings.model is None:
            raise ValueError("DetoxifySettings.model is not set")
        self.settings = settings
        self.min_score = min_score
        self.checkpoint = _checkpoint_path(settings)
        # Release checkpoints carry a content hash in their names (…-c1212f89.ckpt).
        self.version = f"detoxify@{_package_version('detoxify')}:{self.checkpoint.name}"
        self._model: Any = None
        self._lock = threading.Lock()

    def readiness_problem(self) -> str | None:
        if not self.checkpoint.is_file():
            return (
                f"the detoxify checkpoint for {self.settings.model!r} is missing at "
                f"{self.checkpoint}; place the file there (it is never downloaded) or "
                "configure another model"
            )
        return None

    def _scores(self, pieces: list[str]) -> dict[str, list[float]]:
        scores: dict[str, list[float]] = {}
        for start in range(0, len(pieces), self.settings.batch_size):
            batch = self._loaded().predict(pieces[start : start + self.settings.batch_size])
            for category, values in batch.items():
                scores.setdefault(category, []).extend(_as_list(values))
        return scores

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        problem = self.readiness_problem()
        if problem:
            raise ScannerNotReadyError(problem)
        # Detoxify loads a base model by name from the checkpoint's config; offline mode
        # makes transformers fail fast instead of trying the hub (we never download).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from detoxify import Detoxify

        try:
            return Detoxify(
                checkpoint=str(self.checkpoint),
                device=self.settings.device,
                huggingface_config_path=(
                    str(self.settings.huggingface_config_path)
                    if self.settings.huggingface_config_path
                    else None
                ),
            )
        except Exception as exc:  # any loader failure means the scanner cannot serve
            raise ScannerNotReadyError(
                f"the detoxify checkpoint {self.checkpoint} could not be loaded: {exc}"
            ) from exc


class CompositeScanner:
    """Several scanners under one name (``toxicity`` = detoxify and/or profanity)."""

    def __init__(self, name: str, scanners: Sequence[Any]) -> None:
        if not scanners:
            raise ValueError(f"scanner {name!r} needs at least one member")
        self.name = name
        self.members = tuple(scanners)
        self.version = "+".join(member.version for member in self.members)

    def scan(self, text: str) -> list[Finding]:
        return self.scan_many([text])[0]

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        combined: list[list[Finding]] = [[] for _ in texts]
        for member in self.members:
            for findings, more in zip(combined, member.scan_many(texts), strict=True):
                findings.extend(more)
        return combined

    def readiness_problem(self) -> str | None:
        for member in self.members:
            problem = getattr(member, "readiness_problem", None)
            if problem is not None and (message := problem()) is not None:
                return str(message)
        return None


def _checkpoint_path(settings: DetoxifySettings) -> Path:
    model = settings.model or ""
    if model in DETOXIFY_CHECKPOINT_FILES:
        return _checkpoint_dir(settings) / DETOXIFY_CHECKPOINT_FILES[model]
    return Path(model).expanduser()


def _checkpoint_dir(settings: DetoxifySettings) -> Path:
    if settings.checkpoint_dir is not None:
        return settings.checkpoint_dir
    # torch.hub.get_dir() without importing torch: $TORCH_HOME or ~/.cache/torch, + hub.
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def _package_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _as_list(values: Any) -> list[float]:
    return [float(v) for v in values] if isinstance(values, list) else [float(values)]
