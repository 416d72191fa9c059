"""The command line: keys, ledger audit/prove/verify-bundle, certs, review stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from gateway.cli import app
from ledger.checkpoint import NoteSigner

pytestmark = pytest.mark.db


@pytest.fixture
def env(
    data_dir: Path, database_url: str, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    values = {
        "AIGC_DATA_DIR": str(data_dir),
        "AIGC_MODELS_DIR": str(tiny_models_dir),
        "AIGC_DATABASE_URL": database_url,
        "AIGC_LEDGER__ANCHOR__ENABLED": "false",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_keys_create_prints_only_the_key_last(env: dict[str, str]) -> None:
    command = ["keys", "create", "--tenant", "acme", "--role", "review"]
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    last_line = completed.stdout.strip().splitlines()[-1]
    assert last_line.startswith("aigc_")
    assert len(last_line.split()) == 1
    assert "store it now" in completed.stderr
    code, listed = run("keys", "list", "--tenant", "acme")
    assert code == 0
    key_id = last_line.split("_")[1]
    assert key_id in listed
    assert run("keys", "revoke", key_id)[0] == 0
    assert "revoked" in run("keys", "list", "--tenant", "acme")[1]
    assert run("keys", "revoke", "nope")[0] == 1


def test_generate_then_audit_prove_and_verify_bundle(env: dict[str, str], tmp_path: Path) -> None:
    code, output = run("generate", "春季新品上市", "--params", '{"max_new_tokens": 8}')
    assert code == 0, output
    generation = json.loads(output)
    assert generation["status"] == "released"
    code, report = run("ledger", "audit")
    assert code == 0, report
    assert report.startswith("ok: 3 leaves")
    code, bundle_text = run("ledger", "prove", str(generation["provenance"]["ledger_index"]))
    assert code == 0
    bundle = tmp_path / "bundle.json"
    bundle.write_text(bundle_text)
    assert run("ledger", "verify-bundle", str(bundle), "--trust-bundle-key")[0] == 0
    tampered = json.loads(bundle_text)
    tampered["entry"]["leaf"]["decision"] = "blocked"
    bundle.write_text(json.dumps(tampered))
    code, failed = run("ledger", "verify-bundle", str(bundle))
    assert code == 1
    assert failed.startswith("FAILED")
    bundle.write_text("{not json")
    assert run("ledger", "verify-bundle", str(bundle))[0] == 2


def _write_bundle(tmp_path: Path) -> tuple[Path, str]:
    """Generate one entry, prove it, and return the bundle file and the bundle's own vkey."""
    code, output = run("generate", "春季新品上市", "--params", '{"max_new_tokens": 8}')
    assert code == 0, output
    index = json.loads(output)["provenance"]["ledger_index"]
    code, bundle_text = run("ledger", "prove", str(index))
    assert code == 0
    bundle = tmp_path / "bundle.json"
    bundle.write_text(bundle_text)
    return bundle, json.loads(bundle_text)["public_key"]["vkey"]


def test_verify_bundle_without_a_pinned_key_is_not_ok(env: dict[str, str], tmp_path: Path) -> None:
    bundle, _ = _write_bundle(tmp_path)
    result = CliRunner().invoke(app, ["ledger", "verify-bundle", str(bundle)])
    assert result.exit_code == 3
    assert result.stdout.startswith("self-consistent, key not pinned")
    assert "--vkey" in result.stderr
    assert "--trust-bundle-key" in result.stderr


def test_verify_bundle_trusting_its_own_key_says_so(env: dict[str, str], tmp_path: Path) -> None:
    bundle, _ = _write_bundle(tmp_path)
    code, output = run("ledger", "verify-bundle", str(bundle), "--trust-bundle-key")
    assert code == 0
    assert output.startswith("ok (bundle's own key trusted, not pinned)")


def test_verify_bundle_with_the_right_vkey_is_ok(env: dict[str, str], tmp_path: Path) -> None:
    bundle, vkey = _write_bundle(tmp_path)
    code, output = run("ledger", "verify-bundle", str(bundle), "--vkey", vkey)
    assert code == 0
    assert output.startswith("ok: ")


def test_verify_bundle_with_a_wrong_vkey_fails(env: dict[str, str], tmp_path: Path) -> None:
    bundle, vkey = _write_bundle(tmp_path)
    # Same key name, different key: a forger's bundle would look exactly like this.
    other = NoteSigner(vkey.split("+")[0], Ed25519PrivateKey.generate()).vkey
    code, output = run("ledger", "verify-bundle", str(bundle), "--vkey", other)
    assert code == 1
    assert output.startswith("FAILED")


def test_certs_show_and_rotate(env: dict[str, str]) -> None:
    code, shown = run("certs", "show")
    assert code == 0
    roles = [json.loads(line)["role"] for line in shown.splitlines()]
    assert roles == ["root", "intermediate", "signing"]
    before = json.loads(shown.splitlines()[-1])["serial"]
    code, rotated = run("certs", "rotate")
    assert code == 0
    assert json.loads(rotated)["serial"] != before


def test_review_stats_prints_a_table(env: dict[str, str]) -> None:
    code, output = run("review", "stats")
    assert code == 0
    assert "votes" in output


def test_help_explains_every_command() -> None:
    code, output = run("--help")
    assert code == 0
    for command in ("serve", "generate", "keys", "models", "ledger", "certs", "review", "verify"):
        assert command in output
