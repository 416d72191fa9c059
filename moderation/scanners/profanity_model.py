"""alt-profanity-check's classifier as arithmetic we own: TF-IDF, linear SVMs, Platt sigmoids.

The library ships a word ``TfidfVectorizer`` and a ``CalibratedClassifierCV`` (five
``LinearSVC`` folds, each calibrated by a sigmoid). scikit-learn's ``predict_proba``
spends ~2.5 ms per call on validation and sparse matrices for the few words of a
sentence; the same sums in Python take ~6 µs (docs/moderation.md, Performance)::

    model = load_profanity_check_model()
    model.probabilities(["you are a fucking idiot", "great serum"])  # [0.99…, 0.01…]

For a text with term counts ``tf`` (the vectorizer's analyser: lowercase, token
pattern, English stop words), and per fold ``k`` the SVM ``(w_k, b_k)`` and sigmoid
``(A_k, B_k)``::

    x   = tf · idf / ‖tf · idf‖₂              (TfidfVectorizer, norm="l2"; 0 if no known word)
    f_k = w_k · x + b_k                        (LinearSVC.decision_function)
    p   = mean_k 1 / (1 + exp(A_k · f_k + B_k))  (Platt 1999; CalibratedClassifierCV, ensemble)

The parameters are read once from the fitted objects by ``from_fitted``; anything it
does not know how to evaluate (another calibration, sublinear tf, …) is a
``ScannerNotReadyError``, never a silent approximation. scikit-learn is pinned to the
version alt-profanity-check pins and pickled its model with, and a test checks
``probabilities`` against ``predict_proba`` on the evaluation texts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moderation.interface import ScannerNotReadyError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["CalibratedLinearModel", "SigmoidFold", "load_profanity_check_model"]


@dataclass(frozen=True, slots=True)
class SigmoidFold:
    """One fold's SVM intercept and its sigmoid: P = 1 / (1 + exp(slope · f + offset))."""

    intercept: float
    slope: float
    offset: float

    def probability(self, weighted_sum: float) -> float:
        return 1.0 / (1.0 + math.exp(self.slope * (weighted_sum + self.intercept) + self.offset))


@dataclass(frozen=True, slots=True, eq=False)
class CalibratedLinearModel:
    """Word TF-IDF (l2 rows) into an ensemble of sigmoid-calibrated linear SVMs."""

    analyze: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: NDArray[np.float64]  # (features,)
    # idf[j] · w_k[j]: the idf folded into each fold's weights once, (features, folds).
    idf_weights: NDArray[np.float64]
    folds: tuple[SigmoidFold, ...]

    @classmethod
    def from_fitted(cls, classifier: Any, vectorizer: Any) -> CalibratedLinearModel:
        """The parameters of a fitted ``CalibratedClassifierCV`` and ``TfidfVectorizer``."""
        import numpy as np

        _require_plain_l2_tfidf(vectorizer)
        pairs = _sigmoid_linear_pairs(classifier)
        weights = np.vstack([estimator.coef_[0] for estimator, _ in pairs]).T
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        return cls(
            analyze=vectorizer.build_analyzer(),
            vocabulary=dict(vectorizer.vocabulary_),
            idf=idf,
            idf_weights=idf[:, None] * weights,
            folds=tuple(
                SigmoidFold(float(estimator.intercept_[0]), float(sigmoid.a_), float(sigmoid.b_))
                for estimator, sigmoid in pairs
            ),
        )

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        return [self.probability(text) for text in texts]

    def probability(self, text: str) -> float:
        counts = self._term_counts(text)
        sums = [0.0] * len(self.folds)
        squares = 0.0
        # A sentence hits a handful of words, so the sums run over Python floats: a numpy
        # call per text costs more than this arithmetic.
        for index, tf in counts.items():
            squares += (tf * float(self.idf[index])) ** 2
            for fold, weight in enumerate(self.idf_weights[index].tolist()):
                sums[fold] += tf * weight
        norm = math.sqrt(squares) or 1.0  # no known word: x = 0, only the intercepts remain
        terms = zip(self.folds, sums, strict=True)
        return sum(fold.probability(total / norm) for fold, total in terms) / len(self.folds)

    def _term_counts(self, text: str) -> dict[int, int]:
        counts: dict[int, int] = {}
        for token in self.analyze(text):
            index = self.vocabulary.get(token)
            if index is not None:
                counts[index] = counts.get(index, 0) + 1
        return counts


def load_profanity_check_model() -> CalibratedLinearModel:
    """alt-profanity-check's bundled model (importing the library unpickles it)."""
    from profanity_check import profanity_check as library

    return CalibratedLinearModel.from_fitted(library.model, library.vectorizer)


def _require_plain_l2_tfidf(vectorizer: Any) -> None:
    """The TF-IDF above holds for word counts with idf and l2 rows only."""
    params = vectorizer.get_params()
    plain = (
        params.get("norm") == "l2"
        and params.get("use_idf")
        and not params.get("sublinear_tf")
        and not params.get("binary")
        and hasattr(vectorizer, "idf_")
    )
    if not plain:
        raise ScannerNotReadyError(
            "the profanity vectorizer is not a fitted word TF-IDF with l2 rows "
            "(norm='l2', use_idf, no sublinear_tf, no binary); it cannot be evaluated here"
        )


def _sigmoid_linear_pairs(classifier: Any) -> list[tuple[Any, Any]]:
    """(LinearSVC, sigmoid calibrator) per fold of a binary ``CalibratedClassifierCV``.

    ``calibrated_classifiers_`` is public; each pair's ``estimator`` and ``calibrators``
    and the sigmoid's ``a_``/``b_`` are scikit-learn's own fitted attributes, stable for
    the pinned version (checked by the tests).
    """
    folds = getattr(classifier, "calibrated_classifiers_", None)
    if getattr(classifier, "method", None) != "sigmoid" or not folds:
        raise ScannerNotReadyError(
            "the profanity classifier is not a fitted sigmoid CalibratedClassifierCV"
        )
    pairs = []
    for fold in folds:
        estimator, calibrators = fold.estimator, fold.calibrators
        coef = getattr(estimator, "coef_", None)
        if coef is None or coef.shape[0] != 1 or len(calibrators) != 1:
            raise ScannerNotReadyError("the profanity classifier is not a binary linear model")
        pairs.append((estimator, calibrators[0]))
    return pairs
