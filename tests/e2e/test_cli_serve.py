"""``aigc-gateway serve`` as an operator runs it: a real process on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.db]


def test_serve_starts_answers_and_writes_the_admin_key(
    data_dir: Path, database_url: str, tiny_models_dir: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AIGC_DATA_DIR": str(data_dir),
        "AIGC_DATABASE_URL": database_url,
        "AIGC_MODELS_DIR": str(tiny_models_dir),
        "AIGC_LEDGER__ANCHOR__NODE": "eth_tester",  # tests/ledger/test_anvil.py runs anvil
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        assert process.poll() is None, "the server exited"
        admin_key = (data_dir / "secrets" / "admin_api_key").read_text().strip()
        keys = httpx.get(f"{base_url}/v1/keys", headers={"Authorization": f"Bearer {admin_key}"})
        assert keys.status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "admin_api_key" in output  # the log says where the first admin key is
    assert admin_key not in output  # and never the key itself
