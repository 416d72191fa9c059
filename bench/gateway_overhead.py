"""What the gateway adds to a text generation: in-process generator vs HTTP.

The same generation (tiny LM, 32 new tokens, fixed seed) is timed three ways:

  (a) in process, calling the generator directly;
  (b) over HTTP (``POST /v1/generations``) to a gateway in its own process, with the
      full pipeline (moderation, stamping, ledger and its EVM anchoring);
  (c) the same with every domain stage replaced by its named pass-through, which
      isolates the HTTP, auth and bookkeeping overhead.

At concurrency 1 the three are interleaved — a, b, c, a, b, c … — so that a change in
the machine's speed during the run (shared CPUs drift by tens of percent) falls on all
three alike. "added p50" is p50 − p50(a); "paired Δ" is the median of the per-round
differences to (a), a second estimate of the same thing. Concurrency 8 is then run
against each gateway in turn.

    python bench/gateway_overhead.py            # 100 rounds, 40 requests at concurrency 8
    python bench/gateway_overhead.py --quick    # smoke run (a few requests)

Prints p50/p99 latency and requests/s per row, the ratio to (a) and the added latency.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "新款保温杯，适合通勤"
PARAMS = {"max_new_tokens": 32, "seed": 7}


@dataclass(frozen=True)
class Row:
    name: str
    concurrency: int
    latencies_ms: list[float]
    wall_s: float
    added_ms: float | None = None  # median paired difference to (a), when interleaved

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.wall_s


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run_rows(name: str, call: Callable[[], object], count: int, concurrency: int) -> Row:
    started = time.perf_counter()
    if concurrency == 1:
        latencies = [timed(call) for _ in range(count)]
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = list(pool.map(lambda _: timed(call), range(count)))
    return Row(name, concurrency, latencies, time.perf_counter() - started)


def watermark_key(secrets_dir: Path) -> int:
    """The servers' text-watermark key, so every path samples the very same tokens."""
    from gateway.wiring import SecretFiles

    return SecretFiles(secrets_dir).text_watermark_key()


def tiny_lm_generation(models_dir: Path, secrets_dir: Path) -> Callable[[], Any]:
    """The tiny LM generating ``PROMPT``, built as the servers build it (same watermark key)."""
    from common.types import ContentKind
    from generators.interface import GenerationRequest
    from generators.registry import build_generator
    from generators.settings import GeneratorSettings

    settings = GeneratorSettings(models_dir=models_dir)
    generator = build_generator(
        settings.default_text_generator, settings, watermark_key=watermark_key(secrets_dir)
    )
    request = GenerationRequest(kind=ContentKind.TEXT, prompt=PROMPT, params=PARAMS)
    return lambda: generator.generate(request)


def in_process_call(models_dir: Path, secrets_dir: Path) -> Callable[[], object]:
    call = tiny_lm_generation(models_dir, secrets_dir)
    call()  # load and warm up
    return call


def interleaved_rows(calls: dict[str, Callable[[], object]], rounds: int) -> list[Row]:
    """Each round times every call once, in turn; the first call is the baseline."""
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            latencies[name].append(timed(call))
    baseline = latencies[next(iter(calls))]
    rows = []
    for name, values in latencies.items():
        added = statistics.median(v - b for v, b in zip(values, baseline, strict=True))
        # Each path ran for its share of the wall time: its rate is 1 / its mean latency.
        rows.append(Row(name, 1, values, sum(values) / 1000, added))
    return rows


def completion_tokens(models_dir: Path, secrets_dir: Path) -> int:
    return int(tiny_lm_generation(models_dir, secrets_dir)().usage.completion_tokens)


def pin_full_length_key(models_dir: Path, secrets_dir: Path) -> int:
    """Write the first watermark key (0, 1, 2 …) under which the LM uses all 32 tokens.

    The green list steers sampling, so the key decides when the model stops; fixing it
    makes every run (and every path in a run) do the same, full amount of work.
    """
    from common.privatefiles import write_private

    wanted = int(PARAMS["max_new_tokens"])
    tokens = 0
    for candidate in range(64):
        write_private(secrets_dir / "text_watermark_key", candidate.to_bytes(8, "big"))
        tokens = completion_tokens(models_dir, secrets_dir)
        if tokens == wanted:
            break
    return tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, models_dir: Path, secrets_dir: Path, passthrough: bool
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "AIGC_DATA_DIR": str(data_dir),
        "AIGC_MODELS_DIR": str(models_dir),
        "AIGC_SECRETS_DIR": str(secrets_dir),
        "AIGC_LOG_LEVEL": "WARNING",
    }
    args = [sys.executable, __file__, "--serve", str(port)] + (
        ["--passthrough"] if passthrough else []
    )
    process = subprocess.Popen(args, env=env, cwd=ROOT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the gateway did not start")


def serve(port: int, passthrough: bool) -> None:
    """Child process: the gateway on its embedded defaults, optionally with pass-throughs."""
    import uvicorn
    from passthrough import LedgerNotConfigured, ModerationNotConfigured, StampingNotConfigured

    from gateway.app import create_app
    from gateway.db import create_engine_for
    from gateway.runtime import build_runtime
    from gateway.settings import Settings

    settings = Settings()
    parts = (
        {
            "moderation": ModerationNotConfigured(),
            "stamping": StampingNotConfigured(),
            "ledger": LedgerNotConfigured(create_engine_for(settings.database_url_resolved)),
        }
        if passthrough
        else {}
    )
    runtime = build_runtime(settings, **parts)  # type: ignore[arg-type]
    uvicorn.run(
        create_app(runtime=runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_keep_alive=75,  # as a load balancer in front would keep it
    )


class GatewayClient:
    """A kept-alive HTTP/1.1 connection from the standard library, one per thread.

    Lean on purpose: the row measures the gateway, and httpx spends ~0.8 ms of its own
    per request (measured here against the same server), which a client is free to avoid.
    """

    def __init__(self, base_url: str, key: str) -> None:
        parsed = urlsplit(base_url)
        self._address = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._local = threading.local()

    def post_json(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, Any]]:
        payload = json.dumps(body).encode()
        try:
            return self._post(path, payload)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self._local.connection = None  # the server closed an idle connection
            return self._post(path, payload)

    def _post(self, path: str, payload: bytes) -> tuple[int, dict[str, Any]]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self._address, timeout=120)
            self._local.connection = connection
        connection.request("POST", path, body=payload, headers=self._headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())


def http_call(client: GatewayClient, expected_tokens: int) -> Callable[[], object]:
    body: dict[str, object] = {"kind": "text", "prompt": PROMPT, "params": PARAMS}

    def call() -> None:
        status, answer = client.post_json("/v1/generations", body)
        assert status == 201, answer
        # Same tokens as the in-process baseline, or the comparison is void.
        assert answer["usage"]["completion_tokens"] == expected_tokens

    for _ in range(3):
        call()  # warm up: model load, first stamp, first ledger batch
    return call


def generate_key(data_dir: Path, secrets_dir: Path) -> str:
    env = {
        **os.environ,
        "AIGC_DATA_DIR": str(data_dir),
        "AIGC_SECRETS_DIR": str(secrets_dir),
        "AIGC_LEDGER__ANCHOR__ENABLED": "false",
    }
    command = ["keys", "create", "--tenant", "bench", "--role", "generate"]
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip().splitlines()[-1]


def print_table(rows: list[Row], baseline: Row) -> None:
    """``added p50`` is p50 − p50(a), the issue's figure; ``paired Δ`` is the median of the
    per-round differences to (a) (concurrency 1 only), a second estimate under drift."""
    header = ("path", "conc", "n", "p50 ms", "p99 ms", "req/s", "p50/(a)", "added p50", "paired Δ")
    print("\n{:<34} {:>4} {:>4} {:>8} {:>8} {:>7} {:>8} {:>10} {:>9}".format(*header))
    for row in rows:
        paired = "" if row.added_ms is None else f"{row.added_ms:.1f}"
        print(
            f"{row.name:<34} {row.concurrency:>4} {len(row.latencies_ms):>4} {row.p50:>8.1f} "
            f"{row.p99:>8.1f} {row.rps:>7.1f} {row.p50 / baseline.p50:>8.2f} "
            f"{row.p50 - baseline.p50:>10.1f} {paired:>9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few requests per row (smoke test)")
    parser.add_argument("--models-dir", type=Path, help="tiny models (built here if missing)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--passthrough", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.passthrough)
        return
    rounds, count = (4, 8) if args.quick else (100, 40)
    paths = (("(b) HTTP, full pipeline", False), ("(c) HTTP, pass-through stages", True))
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as servers:
        models_dir = args.models_dir or Path(scratch) / "models"
        from generators.tiny import build_default_models

        build_default_models(models_dir)
        secrets_dir = Path(scratch) / "secrets"
        tokens = pin_full_length_key(models_dir, secrets_dir)
        clients: dict[str, GatewayClient] = {}
        for label, passthrough in paths:
            data_dir = Path(scratch) / label[1]
            data_dir.mkdir()
            key = generate_key(data_dir, secrets_dir)
            process, base_url = start_server(data_dir, models_dir, secrets_dir, passthrough)
            servers.callback(stop, process)
            clients[label] = GatewayClient(base_url, key)
        calls = {"(a) generator in process": in_process_call(models_dir, secrets_dir)}
        calls.update({label: http_call(client, tokens) for label, client in clients.items()})
        rows = interleaved_rows(calls, rounds)
        for label in clients:
            rows.append(run_rows(label, calls[label], count, 8))
        print_table(rows, rows[0])
        print(
            f"\nevery request generated {tokens} tokens (checked per HTTP response); "
            f"concurrency 1 interleaved over {rounds} rounds"
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


if __name__ == "__main__":
    main()
