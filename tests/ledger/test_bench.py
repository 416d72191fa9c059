"""Smoke run of bench/ledger.py on tiny sizes: it runs, verifies a proof and prints tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ledger.py"


def test_bench_quick_prints_both_tables(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_ledger", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ledger"] = module
    try:
        spec.loader.exec_module(module)
        module.main(["--quick", "--no-postgres", "--proof-sizes", "300"])
    finally:
        del sys.modules["bench_ledger"]
    out = capsys.readouterr().out
    assert "| batch size | SQLite |" in out
    assert "| SQLite | 300 |" in out
    assert "naive median ms" in out
