"""``bench/scale_out.py --quick`` runs end to end: real API processes and a Celery worker
on the machine's PostgreSQL and Redis, one table.

Runs in the PostgreSQL pass only (AIGC_TEST_DB=postgres): the benchmark creates and
drops a database of its own there. About a minute on an idle 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("AIGC_TEST_DB") != "postgres",
        reason="the benchmark runs on PostgreSQL and Redis; runs in the AIGC_TEST_DB=postgres pass",
    ),
]


def test_scale_out_benchmark_quick_run(tiny_models_dir: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "bench/scale_out.py", "--quick", "--models-dir", str(tiny_models_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("run "))
    assert "CPU ms/req" in lines[header]
    rows = [line[:40] for line in lines[header + 1 : header + 5]]
    assert [row.split(",")[0] for row in rows] == [
        "(a) baseline: in_process 1 API",
        "(a) celery: 1 API",
        "(b) in_process 1 API",
        "(b) in_process 2 API",
    ]
    assert "(b) 2 API / 1 API processes" in completed.stdout
