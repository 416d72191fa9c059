"""``aigc-gateway verify``: offline with a proof bundle, JSON and human output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from common.types import MediaType
from gateway.cli_verify import BundleLedger, verify_command
from gateway.runtime import Runtime
from tests.gateway.test_verification_world import (
    WATERMARK_KEY,
    World,
    encode,
    sample_photo,
    strip_metadata,
)

pytestmark = pytest.mark.db


def cli() -> typer.Typer:
    """The command as the lead registers it in gateway/cli.py."""
    app = typer.Typer()
    app.command(name="verify")(verify_command)
    app.command(name="noop", hidden=True)(lambda: None)  # keeps "verify" a sub-command
    return app


@pytest.fixture
def offline_files(world: World, tmp_path: Path) -> dict[str, Path]:
    published = world.publish(encode(sample_photo("astronaut", 384), "PNG"), MediaType.PNG)
    stamp = world.ledger.find_latest(artifact_sha256=published.result.sha256)
    assert stamp is not None
    files = {
        "image": tmp_path / "stamped.png",
        "stripped": tmp_path / "stripped.jpg",
        "bundle": tmp_path / "proof.json",
        "anchors": tmp_path / "anchors.pem",
        "wm_key": tmp_path / "watermark.key",
    }
    files["image"].write_bytes(published.data)
    files["stripped"].write_bytes(strip_metadata(published.data, "JPEG", quality=80))
    files["bundle"].write_text(json.dumps(world.ledger.prove(stamp.index)))
    files["anchors"].write_text(world.anchors)
    files["wm_key"].write_bytes(WATERMARK_KEY)
    return files


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli(), ["verify", *map(str, args)])
    return result.exit_code, result.output


def run_offline(files: dict[str, Path], name: str, *args: str | Path) -> tuple[int, str]:
    """The command on ``files[name]`` with the proof bundle and the trust anchors."""
    bundle = ("--offline-bundle", files["bundle"], "--trust-anchors", files["anchors"])
    return run(files[name], *bundle, *args)


def test_offline_bundle_verifies_the_stamped_file(
    world: World, offline_files: dict[str, Path]
) -> None:
    vkey = world.ledger.public_key_info().vkey
    code, output = run_offline(offline_files, "image", "--json", "--ledger-key", vkey)
    body = json.loads(output)
    assert code == 0, output
    assert body["verdict"] == "verified"
    assert body["offline_bundle"]["ok"] is True
    assert body["offline_bundle"]["key_pinned"] is True
    assert body["ledger"]["proof_ok"] is True


def test_offline_stripped_file_recovers_through_the_watermark(
    offline_files: dict[str, Path],
) -> None:
    code, output = run_offline(
        offline_files, "stripped", "--watermark-key-file", offline_files["wm_key"]
    )
    assert code == 0, output
    assert output.startswith("verdict: verified_via_watermark")
    assert "(not pinned)" in output


def test_offline_bundle_with_an_edited_leaf_makes_the_file_tampered(
    offline_files: dict[str, Path],
) -> None:
    bundle = json.loads(offline_files["bundle"].read_text())
    bundle["entry"]["leaf"]["decision"] = "blocked"
    offline_files["bundle"].write_text(json.dumps(bundle))
    code, output = run_offline(offline_files, "image", "--json")
    body = json.loads(output)
    assert code == 3
    assert body["verdict"] == "tampered"
    assert body["offline_bundle"]["ok"] is False
    assert "leaf" in body["offline_bundle"]["reason"]


def test_wrong_key_pin_and_unrelated_file(offline_files: dict[str, Path], tmp_path: Path) -> None:
    code, output = run_offline(
        offline_files, "image", "--json", "--ledger-key", "other+00000000+AAAA"
    )
    assert code == 3
    assert json.loads(output)["offline_bundle"]["reason"] == "bundle key is not the trusted key"
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode(sample_photo("coffee", 300), "JPEG"))
    code, output = run(photo, "--offline-bundle", offline_files["bundle"])
    assert code == 1
    assert output.startswith("verdict: unknown")


def test_bad_input_exits_2_with_a_reason(tmp_path: Path, offline_files: dict[str, Path]) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x00\xff" * 100)
    code, output = run(junk, "--offline-bundle", offline_files["bundle"])
    assert code == 2
    assert "unsupported_media_type" in output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, output = run(offline_files["image"], "--offline-bundle", broken)
    assert code == 2
    assert "cannot verify" in output


def test_bundle_ledger_answers_only_for_its_entry(offline_files: dict[str, Path]) -> None:
    ledger = BundleLedger(json.loads(offline_files["bundle"].read_text()))
    leaf = ledger.entry.leaf
    assert ledger.find_latest(artifact_sha256=leaf["artifact_sha256"]) == ledger.entry
    assert ledger.find_latest(watermark_id="nope") is None
    assert ledger.events_for_generation(leaf["generation_id"]) == [ledger.entry]
    assert ledger.prove(ledger.entry.index + 1) == {}


def test_online_mode_uses_the_data_directory(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from common.types import ContentKind
    from gateway.models import Role
    from gateway.pipeline import StampOrder
    from tests.support.gateway import issue_key

    issue_key(runtime, "acme", Role.GENERATE)
    generation = runtime.pipeline.stamp_upload(
        StampOrder(
            tenant_id="acme",
            kind=ContentKind.IMAGE,
            data=encode(sample_photo("astronaut", 320), "PNG"),
            media_type="image/png",
            policy=runtime.settings.default_policy,
            actor="test",
        )
    )
    stamped = tmp_path / "stamped.png"
    stamped.write_bytes(runtime.store.read(generation.artifact_path or ""))
    monkeypatch.setenv("AIGC_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("AIGC_DATABASE_URL", runtime.settings.database_url_resolved)
    code, output = run(stamped, "--json")
    body = json.loads(output)
    assert code == 0, output
    assert (body["verdict"], body["generation_id"]) == ("verified", generation.id)
    assert "offline_bundle" not in body
