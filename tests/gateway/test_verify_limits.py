"""The public verify under hostile load: rate limits that hold, concurrency caps, pixel limits.

Redis runs on 127.0.0.1:6379 on this machine; each test that uses it gets its own key
prefix and removes its keys afterwards.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import limits.storage.memory
import pytest
import redis
from fastapi.testclient import TestClient
from limits.strategies import MovingWindowRateLimiter
from PIL import Image, ImageFile

from gateway import ratelimit
from gateway.app import create_app
from gateway.models import Role
from gateway.ratelimit import Bucket, MemoryRateLimiter, RedisRateLimiter
from gateway.runtime import Runtime
from gateway.verification import VerificationReport
from tests.gateway.conftest import REDIS_URL
from tests.support.gateway import bearer, issue_key

TEXT = {"text": "hello"}


def _client(runtime: Runtime) -> TestClient:
    # No lifespan: the runtime fixture has started the runtime, and each app instance
    # stands for one more gateway process (its own in-memory state).
    return TestClient(create_app(runtime=runtime), raise_server_exceptions=False)


def _assert_retry_after(response: Any, status: int = 429) -> None:
    assert response.status_code == status, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["request_id"]


# --- rate limits ----------------------------------------------------------------------


def test_every_429_carries_retry_after(runtime: Runtime) -> None:
    runtime.settings.limits.verify_requests_per_minute = 2
    http = _client(runtime)
    for _ in range(2):
        assert http.post("/v1/verify", json=TEXT).status_code == 200
    response = http.post("/v1/verify", json=TEXT)
    _assert_retry_after(response)
    assert response.json()["error"]["details"]["retry_after_s"] > 0


def test_a_tenant_bucket_limits_a_tenant_across_many_keys(runtime: Runtime) -> None:
    runtime.settings.limits.verify_requests_per_minute = 100
    runtime.settings.limits.verify_tenant_requests_per_minute = 3
    http = _client(runtime)
    keys = [issue_key(runtime, "acme", Role.GENERATE) for _ in range(4)]
    statuses = [http.post("/v1/verify", json=TEXT, headers=bearer(k)).status_code for k in keys]
    assert statuses == [200, 200, 200, 429]
    # Another tenant has its own bucket.
    other = issue_key(runtime, "globex", Role.GENERATE)
    assert http.post("/v1/verify", json=TEXT, headers=bearer(other)).status_code == 200


def test_two_app_instances_sharing_redis_share_one_bucket(
    runtime: Runtime, redis_prefix: str
) -> None:
    runtime.settings.limits.verify_requests_per_minute = 3
    runtime.settings.limits.rate_limit_redis_url = REDIS_URL
    runtime.settings.limits.rate_limit_redis_prefix = redis_prefix
    first, second = _client(runtime), _client(runtime)
    assert [first.post("/v1/verify", json=TEXT).status_code for _ in range(2)] == [200, 200]
    assert second.post("/v1/verify", json=TEXT).status_code == 200
    _assert_retry_after(second.post("/v1/verify", json=TEXT))
    _assert_retry_after(first.post("/v1/verify", json=TEXT))


def test_redis_limiter_spends_all_buckets_or_none(redis_prefix: str) -> None:
    limiter = RedisRateLimiter.from_url(REDIS_URL, redis_prefix, MemoryRateLimiter())
    roomy, tight = Bucket("key:a", 100), Bucket("tenant:t", 1)
    assert limiter.take_all([roomy, tight]) is None
    wait_s = limiter.take_all([roomy, tight])
    assert wait_s is not None
    assert 0 < wait_s <= 60
    # The refused request did not spend the roomy bucket's token: 99 are left.
    assert all(limiter.take_all([roomy]) is None for _ in range(99))
    assert limiter.take_all([roomy]) is not None
    limiter.close()


def test_redis_unreachable_falls_back_to_the_process_buckets() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", "x:", MemoryRateLimiter())
    bucket = Bucket("ip:192.0.2.1", 2)
    assert [limiter.take_all([bucket]) is None for _ in range(3)] == [True, True, False]


def test_redis_keys_stay_under_the_configured_prefix(redis_prefix: str) -> None:
    limiter = RedisRateLimiter.from_url(REDIS_URL, redis_prefix, MemoryRateLimiter())
    assert limiter.take_all([Bucket("ip:192.0.2.7", 5)]) is None
    client = redis.Redis.from_url(REDIS_URL)
    assert [key.decode() for key in client.scan_iter(match=redis_prefix + "*")] == [
        f"{redis_prefix}LIMITER/ip:192.0.2.7/5/1/minute"
    ]
    client.close()
    limiter.close()


def test_memory_limiter_spends_all_buckets_or_none() -> None:
    limiter = MemoryRateLimiter()
    roomy, tight = Bucket("key:a", 60), Bucket("tenant:t", 1)
    assert limiter.take_all([roomy, tight]) is None
    assert limiter.take_all([roomy, tight]) == pytest.approx(60.0, abs=1.0)
    assert all(limiter.take_all([roomy]) is None for _ in range(59))
    assert limiter.take_all([roomy]) is not None


class FakeClock:
    """Stands in for the ``time`` module where the windows read the wall clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_retry_after_is_when_the_oldest_request_leaves_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(1_000_000.0)
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(ratelimit, "time", clock)
    limiter, bucket = MemoryRateLimiter(), Bucket("ip:192.0.2.1", 60)
    assert all(limiter.take_all([bucket]) is None for _ in range(60))
    assert limiter.take_all([bucket]) == pytest.approx(60.0)
    clock.now += 45
    assert limiter.take_all([bucket]) == pytest.approx(15.0)
    clock.now += 15.01
    assert limiter.take_all([bucket]) is None
    assert limiter.take_all([Bucket("ip:192.0.2.2", 60)]) is None


def test_a_request_that_loses_the_race_for_a_last_slot_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roomy, tight = Bucket("key:a", 60), Bucket("tenant:t", 1)
    real_test = MovingWindowRateLimiter.test

    def test_then_lose_the_race(self: MovingWindowRateLimiter, item: Any, *ids: str) -> bool:
        passed = real_test(self, item, *ids)
        if ids == (tight.name,):
            self.hit(item, *ids)  # a concurrent request takes the last slot meanwhile
        return passed

    monkeypatch.setattr(MovingWindowRateLimiter, "test", test_then_lose_the_race)
    limiter = MemoryRateLimiter()
    assert limiter.take_all([roomy, tight]) == pytest.approx(60.0, abs=1.0)
    # Refused, and the roomy bucket it had already hit keeps that hit: 59 are left.
    assert all(limiter.take_all([roomy]) is None for _ in range(59))
    assert limiter.take_all([roomy]) is not None


# --- concurrency caps -------------------------------------------------------------------


class BlockedVerifier:
    """A verifier whose text verification waits until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def verify_text(self, text: str) -> VerificationReport:
        self.entered.release()
        assert self.release.wait(timeout=30)
        raise LookupError("released")  # a 500 is enough: the test looks at the others


def test_over_the_per_client_cap_answers_429(runtime: Runtime) -> None:
    runtime.settings.limits.verify_concurrent_per_client = 1
    blocked = BlockedVerifier()
    runtime.verifier = blocked  # type: ignore[assignment]  # a fake, duck-typed
    with _client(runtime) as http, ThreadPoolExecutor(1) as pool:
        held = pool.submit(http.post, "/v1/verify", json=TEXT)
        assert blocked.entered.acquire(timeout=10)
        _assert_retry_after(http.post("/v1/verify", json=TEXT))
        blocked.release.set()
        assert held.result(timeout=30).status_code == 500


def test_a_full_pool_answers_503_with_retry_after(runtime: Runtime) -> None:
    limits = runtime.settings.limits
    limits.verify_concurrent_total, limits.verify_queue_wait_s = 1, 0.2
    real_verifier, blocked = runtime.verifier, BlockedVerifier()
    runtime.verifier = blocked  # type: ignore[assignment]  # a fake, duck-typed
    key = issue_key(runtime, "acme", Role.GENERATE)
    with _client(runtime) as http, ThreadPoolExecutor(1) as pool:
        held = pool.submit(http.post, "/v1/verify", json=TEXT)
        assert blocked.entered.acquire(timeout=10)
        busy = http.post("/v1/verify", json=TEXT, headers=bearer(key))  # another client
        _assert_retry_after(busy, 503)
        assert busy.json()["error"]["code"] == "server_busy"
        blocked.release.set()
        held.result(timeout=30)
    # The slots are free again.
    runtime.verifier = real_verifier
    assert _client(runtime).post("/v1/verify", json=TEXT).status_code == 200


# --- pixel limits and downscaled decoding -------------------------------------------------


def _huge_png(size_px: int = 6000) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (size_px, size_px), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_huge_canvas_on_the_public_path_is_413_before_decoding(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = _huge_png()
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> Any:
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    response = _client(runtime).post("/v1/verify", files={"file": ("x.png", png, "image/png")})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"width_px": 6000, "height_px": 6000, "max_pixels": 16_000_000}
    assert decoded == []  # not one pixel was decoded


def test_a_huge_canvas_with_a_key_is_verified_downscaled(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []
    watermarker = runtime.watermarker  # the one the verifier's readers ask
    real_detect = watermarker.detect

    def recording_detect(image: Image.Image) -> Any:
        seen.append(image.size)
        return real_detect(image)

    monkeypatch.setattr(watermarker, "detect", recording_detect)
    key = issue_key(runtime, "acme", Role.AUDIT)
    response = _client(runtime).post(
        "/v1/verify", files={"file": ("x.png", _huge_png(), "image/png")}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    assert seen == [(1200, 1200)]  # 6000 / 5: the shorter side stays >= 1024
