"""Public verify under hostile load: concurrent huge-canvas PNG uploads against a real server.

Starts ``aigc-gateway serve`` as a separate process on a free loopback port with a
temporary ``AIGC_DATA_DIR``, sends ``--concurrency`` simultaneous ``POST /v1/verify``
uploads of one ``--size-px``² PNG (small on disk, huge once decoded), samples the server's
resident memory while they run (psutil when installed, else ``/proc/<pid>/status``
``VmHWM``/``VmRSS``), and prints one table: peak RSS, p50/p99 latency, statuses.

Three scenarios in one run, each on its own fresh server:

- ``guards off`` — the baseline: the hardening's limits switched off by settings (full-size
  decode, no concurrency pool, the public pixel limit raised to the general one), which is
  how the gateway behaved before them;
- ``public`` — today's defaults, no key: the header says 36 Mpx, above the public limit,
  so the answer is 413 before a pixel is decoded;
- ``keyed`` — today's defaults, one audit key per request (so per-client caps do not
  apply): decoded downscaled, at most ``verify_concurrent_total`` at once, the others wait
  (or 503 after the wait).

Target (issue 18 item 5): 16 concurrent 6000×6000 uploads — peak server RSS under 1.5 GB
and every request answered (no connection dropped)::

    .venv/bin/python bench/verify_memory.py            # full run, prints the table
    .venv/bin/python bench/verify_memory.py --quick    # 1000², 4 at once (smoke test)
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / ".venv" / "bin" / "aigc-gateway"
TARGET_PEAK_MB = 1536.0
FULL_SIZE_PX, FULL_CONCURRENCY = 6000, 16
QUICK_SIZE_PX, QUICK_CONCURRENCY = 1000, 4
REQUEST_TIMEOUT_S = 300.0
SAMPLE_INTERVAL_S = 0.02


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # the HTTP status, or the transport error's class name
    latency_s: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    env: dict[str, str]
    keyed: bool


# The hardening's limits switched off: what the gateway did before them.
_GUARDS_OFF = {
    "AIGC_LIMITS__VERIFY_DECODE_SIDE_PX": "0",
    "AIGC_LIMITS__VERIFY_PUBLIC_MAX_IMAGE_PIXELS": "40000000",
    "AIGC_LIMITS__VERIFY_CONCURRENT_TOTAL": "1000",
    "AIGC_LIMITS__VERIFY_CONCURRENT_PER_CLIENT": "1000",
}
SCENARIOS = (
    Scenario("guards off (baseline)", _GUARDS_OFF, keyed=False),
    Scenario("public (defaults)", {}, keyed=False),
    Scenario("keyed (defaults)", {}, keyed=True),
)


@dataclass(frozen=True, slots=True)
class Result:
    scenario: str
    size_px: int
    concurrency: int
    upload_bytes: int
    peak_rss_mb: float
    outcomes: tuple[Outcome, ...]


def hostile_png(size_px: int) -> bytes:
    """A PNG of ``size_px``² that compresses to about 0.5 MB at 6000² (a bomb's shape).

    Blocks of 64×8 pixels of one random grey level: deflate squeezes the runs and the
    repeated rows, the decoder still has to materialise every pixel.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(45438)
    levels = rng.integers(0, 256, size=(size_px // 8 + 1, size_px // 64 + 1), dtype=np.uint8)
    pixels = np.repeat(np.repeat(levels, 8, axis=0), 64, axis=1)[:size_px, :size_px]
    image = Image.fromarray(np.ascontiguousarray(pixels), "L").convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int, overrides: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AIGC_DATA_DIR": str(data_dir),
        "AIGC_LOG_LEVEL": "WARNING",
        **overrides,
    }
    command = [str(SERVE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_until_healthy(process, f"http://127.0.0.1:{port}")
    return process


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not start (exit code {process.poll()})")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, kernel high-water mark) of ``pid`` in MB."""
    try:
        import psutil  # optional: not a dependency of the gateway

        info = psutil.Process(pid).memory_info()
        return info.rss / 2**20, getattr(info, "peak_wset", info.rss) / 2**20
    except ImportError:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        return _kb_to_mb(fields["VmRSS"]), _kb_to_mb(fields["VmHWM"])


def _kb_to_mb(field: str) -> float:
    return int(field.split()[0]) / 1024


class RssSampler:
    """Samples a process's RSS in a thread; the peak is the max of samples and VmHWM."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self._sample()

    def _sample(self) -> None:
        try:
            current, high_water = rss_mb(self.pid)
        except (OSError, KeyError):
            return  # the process has gone; keep what was seen
        self.peak_mb = max(self.peak_mb, current, high_water)


def audit_keys(base_url: str, data_dir: Path, count: int) -> list[str]:
    """``count`` audit keys, created with the first-start admin key."""
    admin = (data_dir / "secrets" / "admin_api_key").read_text().strip()
    headers = {"Authorization": f"Bearer {admin}"}
    return [
        httpx.post(f"{base_url}/v1/keys", json={"role": "audit"}, headers=headers).json()["key"]
        for _ in range(count)
    ]


def upload(base_url: str, png: bytes, key: str | None) -> Outcome:
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.post(
            f"{base_url}/v1/verify",
            files={"file": ("huge.png", png, "image/png")},
            headers=headers,
            timeout=REQUEST_TIMEOUT_S,
        )
        status = str(response.status_code)
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return Outcome(status, time.perf_counter() - started)


def run(scenario: Scenario, png: bytes, size_px: int, concurrency: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="aigc-bench-") as tmp:
        port = free_port()
        process = start_server(Path(tmp), port, scenario.env)
        base_url = f"http://127.0.0.1:{port}"
        keys: list[str | None] = [None] * concurrency
        if scenario.keyed:
            keys = list(audit_keys(base_url, Path(tmp), concurrency))
        try:
            with RssSampler(process.pid) as sampler, ThreadPoolExecutor(concurrency) as pool:
                outcomes = tuple(pool.map(lambda key: upload(base_url, png, key), keys))
            alive = process.poll() is None
        finally:
            process.terminate()
            process.wait(timeout=30)
    if not alive:
        outcomes = (*outcomes, Outcome("server died", 0.0))
    return Result(scenario.name, size_px, concurrency, len(png), sampler.peak_mb, outcomes)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def table(results: Sequence[Result]) -> str:
    lines = [
        "| scenario | upload | concurrent | peak RSS (MB) | p50 (s) | p99 (s) | statuses |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join([*lines, *(_row(result) for result in results)])


def _row(result: Result) -> str:
    latencies = [o.latency_s for o in result.outcomes]
    statuses = collections.Counter(o.status for o in result.outcomes)
    status_text = ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items()))
    verdict = "ok" if result.peak_rss_mb < TARGET_PEAK_MB else "OVER TARGET"
    return (
        f"| {result.scenario} | {result.size_px}² PNG, {result.upload_bytes / 1e6:.2f} MB"
        f" | {result.concurrency}"
        f" | {result.peak_rss_mb:.0f} ({verdict}, target < {TARGET_PEAK_MB:.0f})"
        f" | {statistics.median(latencies):.2f} | {percentile(latencies, 0.99):.2f}"
        f" | {status_text} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--size-px", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    size_px = args.size_px or (QUICK_SIZE_PX if args.quick else FULL_SIZE_PX)
    concurrency = args.concurrency or (QUICK_CONCURRENCY if args.quick else FULL_CONCURRENCY)
    png = hostile_png(size_px)
    results = []
    for scenario in SCENARIOS:
        print(f"running {scenario.name} …", file=sys.stderr, flush=True)
        results.append(run(scenario, png, size_px, concurrency))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
