"""``bench/stamping.py --quick`` runs end to end and prints a table for both formats."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "stamping.py"


def test_stamping_benchmark_quick_run(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_stamping", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_stamping", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    printed: list[str] = []

    rows = module.main(["--quick"], out=printed.append)

    assert {row.media_type for row in rows} == {"image/png", "image/jpeg"}
    assert all(row.ours_ms["total"] > 0 and row.direct_ms["total"] > 0 for row in rows)
    assert "ours total" in printed[0]
