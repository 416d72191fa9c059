"""The owned arithmetic of alt-profanity-check's classifier equals scikit-learn's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moderation import ScannerNotReadyError
from moderation.scanners.profanity_model import CalibratedLinearModel, load_profanity_check_model

EVAL_TEXTS = Path(__file__).resolve().parents[2] / "data" / "moderation_eval.jsonl"
# Beyond the evaluation set: no text, no known word, stop words only, repeats, case.
EDGE_TEXTS = [
    "",
    "zzqx vbnmk",
    "the and of",
    "idiot idiot idiot idiot",
    "YOU ARE A FUCKING IDIOT",
    "Great product! Free shipping, buy now.",
    "新品上市",
]


def _sklearn_probabilities(classifier: Any, vectorizer: Any, texts: list[str]) -> list[float]:
    return [float(p) for p in classifier.predict_proba(vectorizer.transform(texts))[:, 1]]


def _tiny_training_set() -> tuple[list[str], list[int]]:
    toxic = ["you idiot", "shut up moron", "stupid idiot", "you are a moron", "idiot fool"]
    clean = ["lovely colour", "fresh lotion", "great serum", "soft skin", "buy two today"]
    return [*toxic, *clean] * 3, [1] * 5 * 3 + [0] * 5 * 3


def _fit(calibration: str = "sigmoid", **tfidf: Any) -> tuple[Any, Any]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    texts, labels = _tiny_training_set()
    vectorizer = TfidfVectorizer(**tfidf)
    features = vectorizer.fit_transform(texts)
    classifier = CalibratedClassifierCV(LinearSVC(), method=calibration, cv=3)
    classifier.fit(features, labels)
    return classifier, vectorizer


def test_the_bundled_model_equals_predict_proba_on_the_evaluation_texts() -> None:
    from profanity_check import profanity_check as library

    lines = EVAL_TEXTS.read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines] + EDGE_TEXTS
    ours = load_profanity_check_model().probabilities(texts)
    theirs = _sklearn_probabilities(library.model, library.vectorizer, texts)
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_the_arithmetic_equals_predict_proba_on_a_model_fitted_here() -> None:
    classifier, vectorizer = _fit()
    model = CalibratedLinearModel.from_fitted(classifier, vectorizer)
    sample = ["you idiot", "great serum", "moron moron fresh", "unknown words", "", *EDGE_TEXTS]
    assert len(model.folds) == 3
    expected = _sklearn_probabilities(classifier, vectorizer, sample)
    assert model.probabilities(sample) == pytest.approx(expected, abs=1e-12)


def test_a_text_without_known_words_scores_the_intercepts_alone() -> None:
    classifier, vectorizer = _fit()
    model = CalibratedLinearModel.from_fitted(classifier, vectorizer)
    by_intercepts = sum(fold.probability(0.0) for fold in model.folds) / len(model.folds)
    assert model.probability("zzqx") == by_intercepts


def test_another_calibration_is_refused_not_approximated() -> None:
    classifier, vectorizer = _fit(calibration="isotonic")
    with pytest.raises(ScannerNotReadyError, match="sigmoid"):
        CalibratedLinearModel.from_fitted(classifier, vectorizer)


@pytest.mark.parametrize("tfidf", [{"sublinear_tf": True}, {"norm": "l1"}, {"use_idf": False}])
def test_another_tf_idf_is_refused_not_approximated(tfidf: dict[str, Any]) -> None:
    classifier, vectorizer = _fit(**tfidf)
    with pytest.raises(ScannerNotReadyError, match="TF-IDF"):
        CalibratedLinearModel.from_fitted(classifier, vectorizer)
