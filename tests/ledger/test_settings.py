"""Ledger settings: origin rules, unknown keys refused, key paths under the data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ledger.settings import AnchorSettings, LedgerSettings


def test_defaults_anchor_in_process() -> None:
    settings = LedgerSettings()
    assert settings.origin == "aigc-gateway.local/ledger"
    assert settings.anchor.rpc_url is None
    assert settings.signing_key_path(Path("/data")) == Path("/data/keys/ledger-ed25519.pem")
    assert settings.anchor_key_path(Path("/data")) is None


@pytest.mark.parametrize("origin", ["", "has space", "a+b", "https://example.com/log"])
def test_origin_must_be_a_schemaless_key_name(origin: str) -> None:
    with pytest.raises(ValidationError):
        LedgerSettings(origin=origin)


def test_unknown_keys_and_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        LedgerSettings.model_validate({"orgin": "x"})
    with pytest.raises(ValidationError):
        AnchorSettings(every_entries=0)


def test_absolute_key_paths_stay_absolute(tmp_path: Path) -> None:
    settings = LedgerSettings(
        signing_key_file=tmp_path / "k.pem", anchor=AnchorSettings(key_file=Path("eth.key"))
    )
    assert settings.signing_key_path(Path("/data")) == tmp_path / "k.pem"
    assert settings.anchor_key_path(Path("/data")) == Path("/data/eth.key")
