"""``bench/gateway_overhead.py --quick`` runs end to end: two live gateways, one table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gateway_overhead_benchmark_quick_run(tiny_models_dir: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "bench/gateway_overhead.py",
            "--quick",
            "--models-dir",
            str(tiny_models_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [line for line in completed.stdout.splitlines() if line.startswith("(")]
    assert [row.split(",")[0].split()[0] for row in rows] == ["(a)", "(b)", "(c)", "(b)", "(c)"]
    assert "tokens (checked per HTTP response)" in completed.stdout
