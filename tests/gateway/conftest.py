"""Fixtures of the verification tests: the stamper's keys and a small provenance world."""

from tests.gateway.test_verification_world import provenance_settings, world

__all__ = ["provenance_settings", "world"]  # fixtures, imported for pytest
