"""``bench/verify.py --quick`` runs end to end: both paths reach their verdicts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "verify.py"


def test_verify_benchmark_quick_run(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_verify", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_verify", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    printed: list[str] = []

    rows = module.main(["--quick"], out=printed.append)

    assert [(row.case, row.verdict) for row in rows] == [
        ("full verify", "verified"),
        ("stripped", "verified_via_watermark"),
    ]
    assert all(row.ours_p50_ms > 0 and row.reader_p50_ms > 0 for row in rows)
    assert printed[0].startswith("| size | file | verdict |")
