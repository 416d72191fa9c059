"""Precision and recall of the moderation engine on the project's labelled evaluation set.

``tests/data/moderation_eval.jsonl`` holds short marketing-style texts in Chinese and
English written for this project, each labelled with the categories a compliance
reviewer expects the policy to act on (``ad_law``, ``pii``, ``bias``, ``toxicity``; an
empty list means the text should pass). A text counts as *predicted* for a category
when the policy's decision has a review or block reason in that category group.

The ``hard-*`` texts were written after the shipped lists, and the lists were not tuned
on them: their figures are the honest estimate. The core set's figures are a regression
check (its author also wrote the lists).

    .venv/bin/python bench/moderation_eval.py                    # cn-marketing, all texts
    .venv/bin/python bench/moderation_eval.py --show-errors      # list misses and false alarms
    .venv/bin/python bench/moderation_eval.py --quick            # smoke run: 40 texts
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository root must come before bench/, or "moderation" would name bench/moderation.py.
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))

from moderation import (  # noqa: E402
    Action,
    Decision,
    DetoxifySettings,
    Direction,
    ModerationSettings,
    build_engine,
    load_policy,
)
from moderation.scanners.toxicity import DETOXIFY_CATEGORIES  # noqa: E402

DATA = ROOT / "tests" / "data" / "moderation_eval.jsonl"
GROUPS = ("ad_law", "pii", "bias", "toxicity")


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    lang: str
    labels: frozenset[str]
    text: str


@dataclass(frozen=True, slots=True)
class Scores:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def load_examples(path: Path) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            examples.append(Example(row["id"], row["lang"], frozenset(row["labels"]), row["text"]))
    return examples


def group_of(category: str) -> str:
    if category in DETOXIFY_CATEGORIES:
        return "toxicity"
    return category.split(".", 1)[0]


def predicted_groups(decision: Decision) -> frozenset[str]:
    return frozenset(
        group_of(reason.category)
        for reason in decision.reasons
        if reason.action is not Action.ALLOW
    )


def score(examples: Sequence[Example], predictions: Sequence[frozenset[str]], group: str) -> Scores:
    counts: Counter[str] = Counter()
    for example, predicted in zip(examples, predictions, strict=True):
        expected, found = group in example.labels, group in predicted
        counts["tp"] += expected and found
        counts["fp"] += found and not expected
        counts["fn"] += expected and not found
    return Scores(counts["tp"], counts["fp"], counts["fn"])


def flagged_scores(examples: Sequence[Example], predictions: Sequence[frozenset[str]]) -> Scores:
    flagged_examples = [
        Example(e.id, e.lang, frozenset({"flagged"}) if e.labels else frozenset(), e.text)
        for e in examples
    ]
    flagged = [frozenset({"flagged"}) if p else frozenset() for p in predictions]
    return score(flagged_examples, flagged, "flagged")


def print_table(examples: Sequence[Example], predictions: Sequence[frozenset[str]]) -> None:
    print(
        f"{'category':<10} {'lang':<4} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} "
        f"{'precision':>9} {'recall':>7} {'F1':>5}"
    )
    for group in (*GROUPS, "flagged"):
        for lang in ("all", "zh", "en"):
            subset = [
                (e, p)
                for e, p in zip(examples, predictions, strict=True)
                if lang == "all" or e.lang == lang
            ]
            sub_examples = [e for e, _ in subset]
            sub_predictions = [p for _, p in subset]
            if group == "flagged":
                result = flagged_scores(sub_examples, sub_predictions)
                positives = sum(bool(e.labels) for e in sub_examples)
            else:
                result = score(sub_examples, sub_predictions, group)
                positives = sum(group in e.labels for e in sub_examples)
            if positives == 0 and result.false_positives == 0:
                continue
            predicted = result.true_positives + result.false_positives
            precision = f"{result.precision:>9.3f}" if predicted else f"{'-':>9}"
            print(
                f"{group:<10} {lang:<4} {positives:>4} {result.true_positives:>4} "
                f"{result.false_positives:>4} {result.false_negatives:>4} "
                f"{precision} {result.recall:>7.3f} {result.f1:>5.3f}"
            )


def print_errors(
    examples: Sequence[Example],
    predictions: Sequence[frozenset[str]],
    decisions: Sequence[Decision],
) -> None:
    print("\nerrors (expected → predicted):")
    for example, predicted, decision in zip(examples, predictions, decisions, strict=True):
        if set(example.labels) != set(predicted):
            evidence = ", ".join(f"{f.category}:{f.evidence}" for f in decision.findings)
            print(
                f"  {example.id:<14} {sorted(example.labels)} → {sorted(predicted)}  "
                f"{example.text[:40]}  [{evidence}]"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on 40 texts")
    parser.add_argument("--policy", default="cn-marketing")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--detoxify", default=None, help="detoxify model name or checkpoint")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)

    examples = load_examples(args.data)
    if args.quick:
        examples = examples[:: max(1, len(examples) // 40)][:40]
    settings = ModerationSettings(detoxify=DetoxifySettings(model=args.detoxify))
    engine = build_engine(settings)
    policy = load_policy(args.policy)
    decisions = engine.moderate_texts([e.text for e in examples], Direction.INPUT, policy)
    predictions = [predicted_groups(decision) for decision in decisions]

    langs = Counter(e.lang for e in examples)
    print(
        f"policy {policy.name} ({policy.version[:12]}), {len(examples)} texts "
        f"(zh {langs['zh']}, en {langs['en']}), toxicity classifiers: "
        f"{'detoxify + ' if args.detoxify else ''}alt-profanity-check + lexicons\n"
    )
    core = [i for i, e in enumerate(examples) if not e.id.startswith("hard-")]
    held_out = [i for i, e in enumerate(examples) if e.id.startswith("hard-")]
    for title, indices in (
        ("all texts", list(range(len(examples)))),
        ("core set (written alongside the shipped lists)", core),
        ("held-out set (written after the lists; the lists were not tuned on it)", held_out),
    ):
        if indices:
            print(f"== {title}: {len(indices)} texts")
            print_table([examples[i] for i in indices], [predictions[i] for i in indices])
            print()
    if args.show_errors:
        print_errors(examples, predictions, decisions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
