"""Scale-out (issue 12): Celery workers and several API processes, as real processes.

Every row is real work on this machine: ``aigc-gateway serve`` and ``aigc-gateway worker``
processes on a fresh PostgreSQL database (created and dropped by the run), Redis as the
broker, the ledger anchoring on eth-tester, and an OpenAI-compatible upstream on loopback
(``tests/support/upstream.py``, in a process of its own) as the text generator — it
stands for a GPU model. The load comes from a client process of its own (kept-alive
``http.client`` connections, one per thread), so the client never shares a GIL with a
server.

  (a) jobs/s in Celery mode with an upstream that answers after 0.3 s, for 1, 2 and 4
      workers × 8 slots behind one API process; N text jobs are submitted
      (``POST /v1/generations`` → 202) and the run ends when the last one is final.
      Ideal = slots / 0.3 s. Baseline: one in_process API process, same upstream,
      8 concurrent synchronous clients (each request 0.3 s + governance).
  (b) governed text requests/s through 1 vs 2 in_process API processes, upstream at
      0 ms, the same number of client threads (split evenly over the processes).
  (c) CPU ms per governed request: user+sys CPU time of the gateway processes (API
      processes and workers, from /proc) over the measured window, divided by requests.

    python bench/scale_out.py            # full run (~5 minutes on a busy 2-core machine)
    python bench/scale_out.py --quick    # smoke run (tiny sizes, 1 worker only)

Prints one table; the baseline rows are measured in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get(
    "AIGC_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BROKER_URL = os.environ.get("AIGC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FINAL = ("released", "pending_review", "blocked", "failed")
SLOTS_PER_WORKER = 8
SLOW_UPSTREAM_S = 0.3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- CPU time


def cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a live process (all its threads), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is the state (field 3); utime, stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (a worker's children, if it forked any)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(parents.get(current, []))
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_seconds(child) for pid in pids for child in descendants(pid))


# --------------------------------------------------------------------------- processes


@dataclass
class Processes:
    """The gateway processes of one deployment, logged to files; stopped with terminate,
    then kill. API processes are named ``api-N``, workers ``wN``."""

    logs: Path
    env: dict[str, str]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def start(self, apis: Sequence[str] = (), workers: Sequence[str] = ()) -> None:
        """Start these processes side by side and wait until each is up."""
        for name in apis:
            port = free_port()
            self.urls[name] = f"http://127.0.0.1:{port}"
            self._spawn(name, ["serve", "--host", "127.0.0.1", "--port", str(port)])
        for name in workers:
            self._spawn(name, ["worker", "--concurrency", str(SLOTS_PER_WORKER), "--name", name])
        deadline = time.monotonic() + 180
        waiting = [*apis, *workers]
        while waiting:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{waiting[0]} did not start: {self.log(waiting[0])}")
            for name in list(waiting):
                if self.running[name].poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log(name)}")
                if self._up(name):
                    waiting.remove(name)
            time.sleep(0.2)

    def _up(self, name: str) -> bool:
        if name not in self.urls:  # a worker says so once its pipeline is loaded
            return "ready in" in self.log(name)
        try:
            return httpx.get(f"{self.urls[name]}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def _spawn(self, name: str, args: list[str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as out:
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", *args],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def pids(self, prefix: str) -> list[int]:
        return [p.pid for name, p in self.running.items() if name.startswith(prefix)]

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        started = time.monotonic()
        stop_processes(list(self.running.values()))
        note(f"stopped {', '.join(self.running)} ({time.monotonic() - started:.1f} s)")
        self.running.clear()


def stop_processes(processes: list[subprocess.Popen[Any]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database for one run, dropped afterwards."""
    name = f"aigc_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def upstream_process(delay_s: float) -> Iterator[str]:
    """The loopback upstream in a process of its own (its CPU is not the gateway's)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--upstream", str(delay_s)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("the upstream did not start")
        yield url
    finally:
        stop_processes([process])


def run_upstream(delay_s: float) -> None:
    """Child process: serve until stdin closes (or a signal)."""
    from tests.support.upstream import upstream_server

    with upstream_server(delay_s=delay_s) as url:
        print(url, flush=True)
        sys.stdin.read()


# --------------------------------------------------------------------------- load client


class Connection:
    """One kept-alive HTTP/1.1 connection (``http.client``: lean, so the client is cheap)."""

    def __init__(self, base_url: str, key: str) -> None:
        parsed = urlsplit(base_url)
        self._address = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._connection: http.client.HTTPConnection | None = None

    def post_json(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, Any]]:
        payload = json.dumps(body).encode()
        try:
            return self._post(path, payload)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self._connection = None  # the server closed an idle connection
            return self._post(path, payload)

    def _post(self, path: str, payload: bytes) -> tuple[int, dict[str, Any]]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(*self._address, timeout=120)
        self._connection.request("POST", path, body=payload, headers=self._headers)
        response = self._connection.getresponse()
        return response.status, json.loads(response.read())


def run_client(spec: dict[str, Any]) -> None:
    """Child process: warm up, say ``ready``, wait for ``go``, send ``count`` requests from
    ``threads`` threads (thread i on urls[i % len(urls)]), print the outcome as JSON.

    ``expect`` is 201 (in_process: the answer is the final generation) or 202 (celery:
    the answer is the queued job)."""
    urls: list[str] = spec["urls"]
    threads: int = spec["threads"]
    count: int = spec["count"]
    expect: int = spec["expect"]
    connections = [Connection(urls[i % len(urls)], spec["key"]) for i in range(threads)]
    lock = threading.Lock()
    issued = iter(range(count + threads * spec["warmup"]))
    ids: list[str] = []
    problems: list[str] = []

    def send(connection: Connection, n: int) -> str:
        body: dict[str, object] = {"kind": "text", "prompt": f"春季新品保温杯 {n}"}
        status, answer = connection.post_json("/v1/generations", body)
        if status != expect:
            raise RuntimeError(f"{status}: {answer}")
        if expect == 201 and answer["status"] not in FINAL:
            raise RuntimeError(f"not final: {answer}")
        return str(answer["id"])

    def warm(connection: Connection) -> None:
        for _ in range(spec["warmup"]):
            with lock:
                n = next(issued)
            ids_warm.append(send(connection, n))

    def work(connection: Connection) -> None:
        while True:
            with lock:
                n = next(issued, None)
            if n is None:
                return
            try:
                generation_id = send(connection, n)
            except Exception as exc:
                with lock:
                    problems.append(repr(exc)[:300])
                return
            with lock:
                ids.append(generation_id)

    ids_warm: list[str] = []
    pool = [threading.Thread(target=warm, args=(c,)) for c in connections]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(json.dumps({"ready": len(ids_warm)}), flush=True)
    sys.stdin.readline()  # go
    started_cpu = time.process_time()
    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(c,)) for c in connections]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - started_cpu
    print(
        json.dumps({"elapsed": elapsed, "ids": ids, "problems": problems, "cpu": client_cpu}),
        flush=True,
    )


@dataclass
class Client:
    """The load client process of one run."""

    process: subprocess.Popen[str]
    stdin: IO[str]
    stdout: IO[str]

    @classmethod
    def start(cls, spec: dict[str, Any]) -> Client:
        process = subprocess.Popen(
            [sys.executable, __file__, "--client", json.dumps(spec)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        return cls(process, process.stdin, process.stdout)

    def ready(self) -> int:
        line = self.stdout.readline()
        if not line:
            raise RuntimeError("the load client died while warming up")
        return int(json.loads(line)["ready"])

    def go(self) -> None:
        self.stdin.write("go\n")
        self.stdin.flush()

    def result(self) -> dict[str, Any]:
        line = self.stdout.readline()
        self.process.wait(timeout=30)
        if not line:
            raise RuntimeError("the load client died")
        outcome: dict[str, Any] = json.loads(line)
        return outcome


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Row:
    name: str
    count: int
    elapsed_s: float
    api_cpu_s: float
    worker_cpu_s: float
    client_cpu_s: float
    ideal_per_s: float | None = None
    released: int = 0
    idle_ms_per_s: float = 0.0  # CPU ms per second of the same processes, idle

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s

    @property
    def cpu_ms(self) -> float:
        return (self.api_cpu_s + self.worker_cpu_s) * 1000 / self.count


def admin_key(data_dir: Path) -> str:
    return (data_dir / "secrets" / "admin_api_key").read_text().strip()


def generate_key(url: str, data_dir: Path) -> str:
    created = httpx.post(
        f"{url}/v1/keys",
        json={"role": "generate"},
        headers={"Authorization": f"Bearer {admin_key(data_dir)}"},
        timeout=30,
    )
    if created.status_code != 201:
        raise RuntimeError(f"could not create a key: {created.status_code} {created.text}")
    return str(created.json()["key"])


def base_env(data_dir: Path, models_dir: Path, database_url: str, upstream: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIGC_DATA_DIR": str(data_dir),
        "AIGC_DATABASE_URL": database_url,
        "AIGC_MODELS_DIR": str(models_dir),
        "AIGC_LEDGER__ANCHOR__NODE": "eth_tester",
        "AIGC_GENERATORS__DEFAULT_TEXT_GENERATOR": "openai-upstream",
        "AIGC_GENERATORS__UPSTREAM_BASE_URL": upstream,
        "AIGC_BROKER_URL": BROKER_URL,
        "AIGC_JOBS__QUEUE_PREFIX": f"b{uuid.uuid4().hex[:8]}.",
        # API processes sharing one database share cache invalidations through Redis;
        # set for every run alike, so 1 and 2 processes pay the same.
        "AIGC_REDIS_URL": BROKER_URL,
        "AIGC_LOG_LEVEL": "WARNING",
    }


def final_count(engine: sa.Engine) -> tuple[int, int]:
    """(generations in a final state, all generations)."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT status, count(*) FROM generations GROUP BY 1"))
        counts = {str(status): int(n) for status, n in rows}
    return sum(counts.get(status, 0) for status in FINAL), sum(counts.values())


def wait_final(engine: sa.Engine, wanted: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, _ = final_count(engine)
        if done >= wanted:
            return
        time.sleep(0.05)
    raise RuntimeError(f"only {final_count(engine)} of {wanted} generations final")


def final_states(engine: sa.Engine, ids: list[str]) -> dict[str, int]:
    """How many of these generations are in each state."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT status, count(*) FROM generations WHERE id = ANY(:ids) GROUP BY 1"),
            {"ids": ids},
        )
        return {str(status): int(n) for status, n in rows}


@dataclass
class Bench:
    """What every deployment of one benchmark run shares: one fresh database and one data
    directory (secrets, keys), initialised by the first API process."""

    scratch: Path
    models_dir: Path
    database_url: str
    data_dir: Path
    idle_s: float  # how long the processes' idle CPU is measured before each window
    key: str = ""


@contextmanager
def deployment(bench: Bench, *, celery: bool, delay_s: float) -> Iterator[Processes]:
    """An upstream with this delay and an (empty) set of gateway processes using it."""
    with ExitStack() as stack:
        upstream = stack.enter_context(upstream_process(delay_s))
        env = base_env(bench.data_dir, bench.models_dir, bench.database_url, upstream)
        env["AIGC_EXECUTION"] = "celery" if celery else "in_process"
        processes = Processes(Path(tempfile.mkdtemp(prefix="logs-", dir=bench.scratch)), env)
        stack.callback(processes.stop_all)
        yield processes


def start(bench: Bench, processes: Processes, apis: list[str], workers: list[str]) -> None:
    started = time.monotonic()
    if not bench.key:  # the very first process: migrations, admin key, secrets
        processes.start(apis[:1])
        bench.key = generate_key(processes.urls[apis[0]], bench.data_dir)
        apis = apis[1:]
    processes.start(apis, workers)
    note(f"started {', '.join(processes.running)} ({time.monotonic() - started:.1f} s)")


def measure(
    name: str,
    bench: Bench,
    processes: Processes,
    *,
    threads: int,
    count: int,
    warmup: int,
    ideal_per_s: float | None = None,
) -> Row:
    """One measured window: a warmed-up client process sends ``count`` requests spread over
    every running API process; CPU of every gateway process over the window."""
    celery = processes.env["AIGC_EXECUTION"] == "celery"
    engine = sa.create_engine(bench.database_url, pool_size=1)
    try:
        before, _ = final_count(engine)
        urls = [url for api, url in processes.urls.items() if api in processes.running]
        spec = {
            "urls": urls,
            "key": bench.key,
            "threads": threads,
            "count": count,
            "warmup": warmup,
            "expect": 202 if celery else 201,
        }
        client = Client.start(spec)
        try:
            before += client.ready()
            wait_final(engine, before, timeout_s=120)
            api_pids, worker_pids = processes.pids("api-"), processes.pids("w")
            # What the processes spend with no request at all (anchoring, outbox, reaper
            # loops): part of every figure below, the more so the slower the requests.
            idle_started = time.perf_counter()
            idle_cpu = tree_cpu_seconds(api_pids + worker_pids)
            time.sleep(bench.idle_s)
            idle_cpu = tree_cpu_seconds(api_pids + worker_pids) - idle_cpu
            idle_ms_per_s = idle_cpu * 1000 / (time.perf_counter() - idle_started)
            api_cpu, worker_cpu = tree_cpu_seconds(api_pids), tree_cpu_seconds(worker_pids)
            started = time.perf_counter()
            client.go()
            if celery:
                wait_final(engine, before + count, timeout_s=300)
                elapsed = time.perf_counter() - started
                outcome = client.result()
            else:
                outcome = client.result()
                elapsed = float(outcome["elapsed"])  # the client's clock: its requests only
            api_cpu = tree_cpu_seconds(api_pids) - api_cpu
            worker_cpu = tree_cpu_seconds(worker_pids) - worker_cpu
        finally:
            stop_processes([client.process])
        if outcome["problems"] or len(outcome["ids"]) != count:
            raise RuntimeError(f"{name}: {len(outcome['ids'])}/{count}: {outcome['problems'][:3]}")
        states = final_states(engine, outcome["ids"])
        if sum(states.get(state, 0) for state in FINAL) != count:
            raise RuntimeError(f"{name}: not every generation is final: {states}")
    finally:
        engine.dispose()
    note(f"{name}: {count} in {elapsed:.2f} s; final states {states}")
    return Row(
        name,
        count,
        elapsed,
        api_cpu,
        worker_cpu,
        float(outcome["cpu"]),
        ideal_per_s,
        states.get("released", 0),
        idle_ms_per_s,
    )


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_table(rows: list[Row]) -> None:
    """``CPU ms/req`` is (API + worker CPU) / n; ``released`` counts the final states that
    are releases (the rest were held for review by moderation: governed all the same);
    ``idle ms/s`` is what the same processes spent per second with no request."""
    header = ("run", "n", "released", "s", "per s", "ideal/s", "% ideal", "API ms", "worker ms")
    print(
        "\n{:<42} {:>5} {:>8} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>9}".format(
            *header, "CPU ms/req", "idle ms/s"
        )
    )
    for row in rows:
        ideal = f"{row.ideal_per_s:.1f}" if row.ideal_per_s else ""
        share = f"{100 * row.rate / row.ideal_per_s:.0f} %" if row.ideal_per_s else ""
        print(
            f"{row.name:<42} {row.count:>5} {row.released:>8} {row.elapsed_s:>6.2f} "
            f"{row.rate:>7.1f} {ideal:>7} {share:>7} {row.api_cpu_s * 1000 / row.count:>7.2f} "
            f"{row.worker_cpu_s * 1000 / row.count:>9.2f} {row.cpu_ms:>10.2f} "
            f"{row.idle_ms_per_s:>9.1f}"
        )


def tiny_models(models_dir: Path | None) -> Path:
    """The tiny default models: the given directory, else the tests' cached build (the
    same key as ``tests/generators/tiny_models.py``), built there if missing."""
    from generators.tiny import build_default_models
    from tests.generators.tiny_models import builders_fingerprint

    cached = ROOT / ".pytest_cache" / "d" / f"aigc-tiny-models-{builders_fingerprint()}"
    target = models_dir or cached
    target.mkdir(parents=True, exist_ok=True)
    build_default_models(target)  # idempotent: seconds only when nothing is built yet
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 worker (smoke test)")
    parser.add_argument("--models-dir", type=Path, help="tiny models (built here if missing)")
    parser.add_argument("--upstream", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream is not None:
        run_upstream(args.upstream)
        return
    if args.client is not None:
        run_client(json.loads(args.client))
        return
    quick = args.quick
    models_dir = tiny_models(args.models_dir)
    rounds = 2 if quick else 15  # jobs per slot in (a)
    fast_count = 60 if quick else 1200  # requests per (b) run
    fast_threads = 16
    load_before = os.getloadavg()
    wall = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="scale-out-") as scratch, fresh_database() as url:
        data_dir = Path(scratch) / "data"
        data_dir.mkdir()
        bench = Bench(Path(scratch), models_dir, url, data_dir, idle_s=1.0 if quick else 3.0)
        with deployment(bench, celery=False, delay_s=SLOW_UPSTREAM_S) as processes:
            start(bench, processes, ["api-1"], [])
            rows.append(
                measure(
                    "(a) baseline: in_process 1 API, 8 clients",
                    bench,
                    processes,
                    threads=8,
                    count=8 * rounds,
                    warmup=1,
                    ideal_per_s=8 / SLOW_UPSTREAM_S,
                )
            )
        with deployment(bench, celery=True, delay_s=SLOW_UPSTREAM_S) as processes:
            workers: list[str] = []
            for total in (1,) if quick else (1, 2, 4):
                added = [f"w{n}" for n in range(len(workers) + 1, total + 1)]
                start(bench, processes, [] if workers else ["api-1"], added)
                workers += added
                slots = total * SLOTS_PER_WORKER
                rows.append(
                    measure(
                        f"(a) celery: 1 API, {total} worker{'s' * (total > 1)} × 8",
                        bench,
                        processes,
                        threads=16,
                        count=slots * rounds,
                        warmup=1,
                        ideal_per_s=slots / SLOW_UPSTREAM_S,
                    )
                )
        with deployment(bench, celery=False, delay_s=0.0) as processes:
            for apis in (1, 2):
                start(bench, processes, [f"api-{apis}"], [])
                rows.append(
                    measure(
                        f"(b) in_process {apis} API, 0 ms, {fast_threads} clients",
                        bench,
                        processes,
                        threads=fast_threads,
                        count=fast_count,
                        warmup=3,
                    )
                )
    load_after = os.getloadavg()
    print_table(rows)
    one, two = rows[-2], rows[-1]
    print(
        f"\n(b) 2 API / 1 API processes: {two.rate / one.rate:.2f}× (target ≥ 1.7×); "
        f"(c) CPU ms per governed request = (API + worker CPU) / n (target ≤ 2.5)"
    )
    client_ms = ", ".join(f"{row.client_cpu_s * 1000 / row.count:.2f}" for row in rows)
    print(f"load client CPU ms/req per row (its own process): {client_ms}")
    print(
        f"{os.cpu_count()} CPUs; load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f} (1 min); whole run {time.monotonic() - wall:.0f} s"
    )


if __name__ == "__main__":
    main()
