"""The moderation benchmarks run end to end on tiny sizes (their full runs are `make bench`)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", ["moderation.py", "moderation_eval.py"])
def test_benchmark_quick_run(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    main = runpy.run_path(str(BENCH / script), run_name="bench")["main"]
    assert main(["--quick"]) == 0
    output = capsys.readouterr().out
    assert "texts" in output


def test_evaluation_set_is_large_and_labelled() -> None:
    import json

    path = BENCH.parent / "tests" / "data" / "moderation_eval.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    assert {row["lang"] for row in rows} == {"zh", "en"}
    assert len({row["id"] for row in rows}) == len(rows)
    labels = {label for row in rows for label in row["labels"]}
    assert labels == {"ad_law", "pii", "bias", "toxicity"}
