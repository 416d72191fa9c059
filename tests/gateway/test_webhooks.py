"""Webhook signing, callback URL checks (SSRF, pinning) and the pure parts of one attempt
(which answers are retried, the backoff). Delivery itself — retries, pins, refusals at
delivery time — runs through the outbox: ``tests/gateway/test_webhook_outbox.py``."""

from __future__ import annotations

import pytest

from gateway.webhooks import (
    CallbackTarget,
    CallbackUrlNotAllowedError,
    InvalidCallbackUrlError,
    WebhookSignatureError,
    resolve_callback_target,
    sign_payload,
    validate_callback_url,
    verify_signature,
)
from gateway.webhooks.attempt import AttemptResult, backoff_s, classify
from tests.support.dns import FakeDns, fake_dns

SECRET = b"whsec_test_secret"


def test_sign_and_verify_round_trip() -> None:
    body = b'{"id":"gen_1","status":"released"}'
    header = sign_payload(SECRET, body, 1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert verify_signature(SECRET, body, header, now=1_800_000_010) == 1_800_000_000


@pytest.mark.parametrize(
    ("secret", "body", "header", "now"),
    [
        (b"wrong-secret", b"{}", None, 1_800_000_000),  # wrong key
        (SECRET, b'{"tampered":1}', None, 1_800_000_000),  # body changed in transit
        (SECRET, b"{}", None, 1_800_000_301),  # too old: a replay
        (SECRET, b"{}", "v1=abc", 1_800_000_000),  # malformed: no timestamp
        (SECRET, b"{}", "", 1_800_000_000),  # missing
        (SECRET, b"{}", "t=1800000000,v1=é€", 1_800_000_000),  # non-ASCII: a no, not a crash
    ],
)
def test_wrong_signature_is_detected(
    secret: bytes, body: bytes, header: str | None, now: int
) -> None:
    signed = sign_payload(SECRET, b"{}", 1_800_000_000) if header is None else header
    with pytest.raises(WebhookSignatureError) as error:
        verify_signature(secret, body, signed, now=now)
    assert error.value.http_status == 401


def test_rotation_accepts_any_matching_v1() -> None:
    body = b"{}"
    old = sign_payload(b"old", body, 1_800_000_000).split(",")[1]
    header = sign_payload(SECRET, body, 1_800_000_000) + "," + old
    verify_signature(b"old", body, header, now=1_800_000_000)
    verify_signature(SECRET, body, header, now=1_800_000_000)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "http://127.0.0.1/x",
        "http://localhost:8000/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
        "https://user:pw@example.com/x",
        "/relative",
    ],
)
def test_callback_urls_refused(url: str) -> None:
    with pytest.raises(InvalidCallbackUrlError):
        validate_callback_url(url)


def test_public_callback_url_is_accepted() -> None:
    assert validate_callback_url("https://hooks.example.com/aigc") == (
        "https://hooks.example.com/aigc"
    )


# ---------------------------------------------------------------------- SSRF and pinning


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return fake_dns(monkeypatch)


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.20.30.40"],
        ["169.254.169.254"],  # cloud metadata
        ["::1"],
        ["::ffff:10.0.0.1"],  # IPv4-mapped
        ["0.0.0.0"],
        ["224.0.0.1"],
        ["93.184.216.34", "192.168.1.10"],  # one private answer among public ones
    ],
)
def test_host_resolving_to_a_private_address_is_refused(dns: FakeDns, addresses: list[str]) -> None:
    dns.answers["hooks.test"] = [addresses]
    with pytest.raises(CallbackUrlNotAllowedError) as error:
        resolve_callback_target("https://hooks.test/aigc")
    assert (error.value.http_status, error.value.code) == (422, "callback_url_not_allowed")


def test_public_host_resolves_to_a_pinned_target(dns: FakeDns) -> None:
    dns.answers["hooks.test"] = [["93.184.216.34", "2606:2800:220:1::1"]]
    target = resolve_callback_target("https://hooks.test/aigc")
    assert target == CallbackTarget(
        "https://hooks.test/aigc", ("93.184.216.34", "2606:2800:220:1::1")
    )


def test_private_targets_allowed_by_the_setting(dns: FakeDns) -> None:
    dns.answers["hooks.test"] = [["10.0.0.7"]]
    target = resolve_callback_target("http://hooks.test/x", allow_private_networks=True)
    assert target.addresses == ("10.0.0.7",)


def test_unresolvable_host_is_refused_when_given(dns: FakeDns) -> None:
    dns.answers["nowhere.test"] = [[]]
    with pytest.raises(InvalidCallbackUrlError) as error:
        resolve_callback_target("https://nowhere.test/x")
    assert error.value.code == "invalid_callback_url"


# ---------------------------------------------------------------------- one attempt


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_network_like_answers_are_worth_a_retry(status: int) -> None:
    result = classify(status, None)
    assert (result.delivered, result.retry, result.error) == (False, True, f"HTTP {status}")


@pytest.mark.parametrize("status", [301, 302, 400, 401, 404, 410, 422])
def test_other_answers_end_the_delivery(status: int) -> None:
    """Redirects are not followed (nor retried): they could point anywhere."""
    result = classify(status, None)
    assert (result.delivered, result.retry, result.status_code) == (False, False, status)


def test_2xx_is_delivered() -> None:
    assert classify(204, None) == AttemptResult(True, retry=False, status_code=204)


def test_retry_after_seconds_are_read() -> None:
    assert classify(503, "7").retry_after_s == 7.0
    assert classify(429, "Wed, 21 Oct 2026 07:28:00 GMT").retry_after_s is None  # a date
    assert classify(503, "-1").retry_after_s is None


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [backoff_s(n, initial_s=1.0, max_s=5.0, jitter=False) for n in range(1, 6)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    for _ in range(50):  # jitter spreads retries over [half, all] of the delay
        assert 2.0 <= backoff_s(3, initial_s=1.0, max_s=300.0) <= 4.0


def test_backoff_honours_retry_after_within_the_cap() -> None:
    assert backoff_s(1, initial_s=1.0, max_s=300.0, retry_after_s=30.0) == 30.0
    assert backoff_s(1, initial_s=1.0, max_s=10.0, retry_after_s=600.0) == 10.0
    assert backoff_s(4, initial_s=1.0, max_s=300.0, jitter=False, retry_after_s=2.0) == 8.0
