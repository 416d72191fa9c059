"""Webhook signing and delivery against a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from gateway.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    CallbackTarget,
    CallbackUrlNotAllowedError,
    DeliveryAttempt,
    DeliveryResult,
    InvalidCallbackUrlError,
    WebhookSender,
    WebhookSignatureError,
    resolve_callback_target,
    sign_payload,
    validate_callback_url,
    verify_signature,
)
from tests.support.dns import FakeDns, fake_dns
from tests.support.receiver import Receiver, running_receiver

SECRET = b"whsec_test_secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def make_sender(results: list[DeliveryResult], **overrides: object) -> WebhookSender:
    options: dict[str, object] = {
        "max_attempts": 4,
        "initial_backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "timeout_s": 2.0,
        "allow_private_networks": True,
        "jitter": False,
        "on_result": results.append,
    }
    options.update(overrides)
    secret = options.pop("secret", SECRET)
    return WebhookSender(secret, **options)  # type: ignore[arg-type]  # test knobs


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


def test_delivery_is_signed_and_verifiable(receiver: Receiver) -> None:
    results: list[DeliveryResult] = []
    with make_sender(results) as sender:
        delivery_id = sender.send(
            receiver.url,
            "generation.released",
            {"id": "gen_1", "status": "released", "note": "已发布"},
        )
        assert sender.wait_idle(10)

    (request,) = receiver.requests
    verify_signature(SECRET, request.body, request.headers[SIGNATURE_HEADER])
    assert json.loads(request.body) == {"id": "gen_1", "status": "released", "note": "已发布"}
    assert request.headers[EVENT_HEADER] == "generation.released"
    assert request.headers[DELIVERY_HEADER] == delivery_id
    assert request.headers["Content-Type"] == "application/json"
    with pytest.raises(WebhookSignatureError):
        verify_signature(b"not-the-secret", request.body, request.headers[SIGNATURE_HEADER])
    assert results == [
        DeliveryResult(
            delivery_id,
            receiver.url,
            "generation.released",
            delivered=True,
            attempts=1,
            status_code=200,
            error=None,
        )
    ]


def test_retries_server_errors_with_backoff(receiver: Receiver) -> None:
    receiver.statuses = [500, 503, 429]
    results: list[DeliveryResult] = []
    with make_sender(results) as sender:
        sender.send(receiver.url, "generation.blocked", {"id": "gen_2"})
        assert sender.wait_idle(10)

    assert len(receiver.requests) == 4
    assert len({r.headers[DELIVERY_HEADER] for r in receiver.requests}) == 1
    assert results[0].delivered
    assert results[0].attempts == 4


def test_attempts_are_bounded(receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    results: list[DeliveryResult] = []
    with make_sender(results, max_attempts=3) as sender:
        sender.send(receiver.url, "generation.blocked", {"id": "gen_3"})
        assert sender.wait_idle(10)

    assert len(receiver.requests) == 3
    assert (results[0].delivered, results[0].attempts, results[0].status_code) == (False, 3, 500)


def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [401]
    results: list[DeliveryResult] = []
    with make_sender(results) as sender:
        sender.send(receiver.url, "generation.released", {"id": "gen_4"})
        assert sender.wait_idle(10)
    assert len(receiver.requests) == 1
    assert results[0].delivered is False


def test_send_never_blocks_on_a_slow_receiver(receiver: Receiver) -> None:
    receiver.delay_s = 0.3
    results: list[DeliveryResult] = []
    with make_sender(results) as sender:
        started = time.monotonic()
        for n in range(5):
            sender.send(receiver.url, "generation.released", {"id": f"gen_{n}"})
        assert time.monotonic() - started < 0.2
        assert sender.wait_idle(15)
    assert len(results) == 5


def test_unreachable_receiver_is_retried_then_given_up() -> None:
    results: list[DeliveryResult] = []
    with make_sender(results, max_attempts=2) as sender:
        sender.send("http://127.0.0.1:9/closed-port", "generation.released", {"id": "x"})
        assert sender.wait_idle(10)
    assert (results[0].delivered, results[0].attempts) == (False, 2)
    assert results[0].error == "ConnectError"


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


def test_private_hosts_refused_by_default() -> None:
    sender = WebhookSender(SECRET)
    with pytest.raises(InvalidCallbackUrlError):
        sender.send("http://127.0.0.1:8000/hook", "generation.released", {})
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


def test_delivery_connects_to_the_checked_address(receiver: Receiver, dns: FakeDns) -> None:
    """A second DNS answer (rebinding to an internal address) is never asked for."""
    port = urlsplit(receiver.url).port
    url = f"http://hooks.test:{port}/hooks/aigc"
    dns.answers["hooks.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    target = resolve_callback_target(url, allow_private_networks=True)
    receiver.statuses = [503]  # a retry must not resolve again either
    results: list[DeliveryResult] = []
    with make_sender(results) as sender:
        sender.send(url, "generation.released", {"id": "gen_9"}, target=target)
        assert sender.wait_idle(10)
    assert dns.lookups == ["hooks.test"]
    assert len(receiver.requests) == 2
    assert receiver.requests[-1].headers["Host"] == f"hooks.test:{port}"
    assert results[0].delivered


def test_delivery_without_a_target_resolves_once(receiver: Receiver, dns: FakeDns) -> None:
    port = urlsplit(receiver.url).port
    url = f"http://hooks.test:{port}/hooks/aigc"
    dns.answers["hooks.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    receiver.statuses = [500, 500]
    results: list[DeliveryResult] = []
    with make_sender(results) as sender:
        sender.send(url, "generation.released", {"id": "gen_10"})
        assert sender.wait_idle(10)
    assert dns.lookups == ["hooks.test"]
    assert (len(receiver.requests), results[0].delivered) == (3, True)


def test_delivery_to_a_name_resolving_privately_is_given_up(dns: FakeDns) -> None:
    dns.answers["hooks.test"] = [["169.254.169.254"]]
    results: list[DeliveryResult] = []
    with make_sender(results, allow_private_networks=False) as sender:
        sender.send("http://hooks.test/x", "generation.released", {"id": "x"})
        assert sender.wait_idle(10)
    assert (results[0].delivered, results[0].attempts) == (False, 1)
    assert results[0].error == "resolves to a private address"


def test_pinned_private_target_refused_when_private_networks_are_off() -> None:
    sender = WebhookSender(SECRET)
    target = CallbackTarget("https://hooks.example.com/x", ("10.0.0.1",))
    with pytest.raises(CallbackUrlNotAllowedError):
        sender.send(target.url, "generation.released", {}, target=target)


def test_https_delivery_keeps_host_and_server_name() -> None:
    import httpx

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    target = CallbackTarget("https://hooks.example.com:8443/aigc?x=1", ("93.184.216.34",))
    results: list[DeliveryResult] = []
    with make_sender(results, transport=httpx.MockTransport(answer)) as sender:
        sender.send(target.url, "generation.released", {"id": "g"}, target=target)
        assert sender.wait_idle(10)
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34:8443/aigc?x=1"
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert results[0].delivered


# ---------------------------------------------------------------------- rotation, attempt log


def test_several_secrets_sign_with_several_v1(receiver: Receiver) -> None:
    results: list[DeliveryResult] = []
    with make_sender(results, secret=lambda: [b"new", b"old"]) as sender:
        sender.send(receiver.url, "generation.released", {"id": "gen_r"})
        assert sender.wait_idle(10)
    (request,) = receiver.requests
    header = request.headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    verify_signature(b"new", request.body, header)
    verify_signature(b"old", request.body, header)
    with pytest.raises(WebhookSignatureError):
        verify_signature(SECRET, request.body, header)


def test_every_attempt_is_reported(receiver: Receiver) -> None:
    receiver.statuses = [500]
    attempts: list[DeliveryAttempt] = []
    results: list[DeliveryResult] = []
    with make_sender(results, on_attempt=attempts.append) as sender:
        sender.send(receiver.url, "generation.blocked", {"id": "gen_a"}, subject="gen_a")
        assert sender.wait_idle(10)
    assert [(a.attempt, a.status_code, a.delivered) for a in attempts] == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert {(a.subject, a.address, a.url) for a in attempts} == {
        ("gen_a", "127.0.0.1", receiver.url)
    }
    assert attempts[0].error == "HTTP 500"
