"""Ledger benchmark: append throughput and inclusion-proof latency, against a naive baseline.

    .venv/bin/python bench/ledger.py            # full run (10^6 leaves on SQLite: minutes)
    .venv/bin/python bench/ledger.py --quick    # tiny sizes, seconds (used as a smoke test)

Appends/s are measured at batch sizes 1, 64 and 1024 (records per ``append_many`` call,
so one transaction and one signed checkpoint per batch) on SQLite and PostgreSQL.
Inclusion proofs are read from trees of 10^4, 10^5 and 10^6 leaves: ours reads O(log n)
stored subtree hashes in one query; the naive baseline reads every leaf hash and
recomputes the tree (RFC 6962 §2.1.1 straight from the definition), as a log without
stored interior nodes must. PostgreSQL is used when reachable at ``--pg-url``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.db import create_engine_for
from ledger.checkpoint import NoteSigner
from ledger.interface import EventRecord, EventType
from ledger.merkle import (
    largest_power_of_two_below,
    naive_root,
)
from ledger.models import create_tables
from ledger.service import Ledger
from ledger.settings import LedgerSettings
from ledger.verify import verify_inclusion

DEFAULT_PG_URL = os.environ.get(
    "AIGC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True, slots=True)
class Plan:
    append_counts: dict[int, int]  # batch size -> records appended
    proof_sizes: tuple[int, ...]
    proofs_per_size: int
    naive_runs: int


FULL = Plan({1: 2000, 64: 32_768, 1024: 65_536}, (10**4, 10**5, 10**6), 1000, 3)
QUICK = Plan({1: 50, 64: 512, 1024: 2048}, (1000, 4000), 100, 2)


def record(n: int) -> EventRecord:
    return EventRecord(
        type=EventType.STAMP,
        generation_id=f"gen_{n}",
        tenant="bench",
        actor="pipeline",
        time="2026-11-23T11:00:00Z",
        artifact_sha256=f"{n:064x}",
        watermark_id=f"wm-{n}",
        decision="allow",
    )


# --- databases -----------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as directory:
        # Configured as the gateway configures it: WAL, synchronous=NORMAL, busy timeout.
        engine = create_engine_for(f"sqlite:///{Path(directory) / 'ledger.db'}")
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_database(url: str) -> Iterator[Engine]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(f"{url}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgres_reachable(url: str) -> bool:
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.OperationalError:
        return False
    return True


def new_ledger(engine: Engine) -> Ledger:
    create_tables(engine)
    settings = LedgerSettings(batch_max_entries=1 << 20)
    return Ledger(engine, NoteSigner(settings.origin, Ed25519PrivateKey.generate()), settings)


# --- measurements --------------------------------------------------------------------


def appends_per_s(engine: Engine, batch: int, count: int) -> float:
    ledger = new_ledger(engine)
    records = [record(i) for i in range(count)]
    started = time.perf_counter()
    if batch == 1:
        for item in records:
            ledger.append(item)
    else:
        for start in range(0, count, batch):
            ledger.append_many(records[start : start + batch])
    return count / (time.perf_counter() - started)


def fill(ledger: Ledger, size: int, *, chunk: int = 10_000) -> None:
    done = ledger.size()
    while done < size:
        step = min(chunk, size - done)
        ledger.append_many([record(i) for i in range(done, done + step)])
        done += step


@dataclass(frozen=True, slots=True)
class ProofFigures:
    size: int
    ours_median_ms: float
    ours_p99_ms: float
    hashes: int
    proof_bytes: int
    naive_median_ms: float


def naive_inclusion_proof(leaf_hashes: list[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) recomputed from every leaf (RFC 6962 §2.1.1): the baseline."""
    if len(leaf_hashes) <= 1:
        return []
    k = largest_power_of_two_below(len(leaf_hashes))
    if index < k:
        return [*naive_inclusion_proof(leaf_hashes[:k], index), naive_root(leaf_hashes[k:])]
    return [*naive_inclusion_proof(leaf_hashes[k:], index - k), naive_root(leaf_hashes[:k])]


def naive_proof_ms(engine: Engine, size: int, index: int) -> float:
    started = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT leaf_hash FROM ledger_leaves WHERE leaf_index < :n ORDER BY leaf_index"
            ),
            {"n": size},
        )
        leaf_hashes = [bytes.fromhex(row[0]) for row in rows]
    naive_inclusion_proof(leaf_hashes, index)
    return (time.perf_counter() - started) * 1000


def proof_figures(engine: Engine, ledger: Ledger, size: int, plan: Plan) -> ProofFigures:
    rng = random.Random(size)
    indices = [rng.randrange(size) for _ in range(plan.proofs_per_size)]
    for index in indices[:20]:  # warm the pool and SQLAlchemy's statement cache
        ledger.inclusion_proof(index, size)
    timings_ms = []
    proof = None
    for index in indices:
        started = time.perf_counter()
        proof = ledger.inclusion_proof(index, size)
        timings_ms.append((time.perf_counter() - started) * 1000)
    assert proof is not None
    verify_inclusion(
        proof.leaf_hash, index=proof.index, tree_size=size, proof=proof.hashes, root=proof.root_hash
    )
    naive = [naive_proof_ms(engine, size, rng.randrange(size)) for _ in range(plan.naive_runs)]
    timings_ms.sort()
    return ProofFigures(
        size=size,
        ours_median_ms=statistics.median(timings_ms),
        ours_p99_ms=timings_ms[int(len(timings_ms) * 0.99) - 1],
        hashes=len(proof.hashes),
        proof_bytes=32 * len(proof.hashes),
        naive_median_ms=statistics.median(naive),
    )


# --- report --------------------------------------------------------------------------


def run_backend(
    name: str, database: Callable[[], Any], plan: Plan
) -> tuple[dict[int, float], list[ProofFigures]]:
    rates = {}
    for batch, count in plan.append_counts.items():
        with database() as engine:
            rates[batch] = appends_per_s(engine, batch, count)
        print(f"  {name}: batch {batch}: {rates[batch]:,.0f} appends/s", file=sys.stderr)
    figures = []
    with database() as engine:
        ledger = new_ledger(engine)
        for size in plan.proof_sizes:
            started = time.perf_counter()
            fill(ledger, size)
            print(
                f"  {name}: filled {size:,} leaves in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
            figures.append(proof_figures(engine, ledger, size, plan))
    return rates, figures


def print_tables(results: dict[str, tuple[dict[int, float], list[ProofFigures]]]) -> None:
    print("\n### Appends per second (one transaction and one signed checkpoint per batch)\n")
    backends = list(results)
    print("| batch size | " + " | ".join(backends) + " |")
    print("|---:|" + "---:|" * len(backends))
    for batch in next(iter(results.values()))[0]:
        cells = [f"{results[b][0][batch]:,.0f}" for b in backends]
        print(f"| {batch} | " + " | ".join(cells) + " |")
    print("\n### Inclusion proofs: ours (stored subtrees) vs naive recompute from all leaves\n")
    print(
        "| backend | leaves | ours median ms | ours p99 ms | hashes | proof bytes "
        "| naive median ms | speed-up |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for backend, (_, figures) in results.items():
        for f in figures:
            print(
                f"| {backend} | {f.size:,} | {f.ours_median_ms:.3f} | {f.ours_p99_ms:.3f} "
                f"| {f.hashes} | {f.proof_bytes} | {f.naive_median_ms:,.1f} "
                f"| {f.naive_median_ms / f.ours_median_ms:,.0f}× |"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--proof-sizes", type=int, nargs="*", help="override the tree sizes")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.proof_sizes:
        plan = Plan(
            plan.append_counts, tuple(args.proof_sizes), plan.proofs_per_size, plan.naive_runs
        )
    results = {"SQLite": run_backend("SQLite", sqlite_database, plan)}
    if not args.no_postgres and postgres_reachable(args.pg_url):
        pg_plan = Plan(
            plan.append_counts,
            tuple(s for s in plan.proof_sizes if s <= 10**5),
            plan.proofs_per_size,
            plan.naive_runs,
        )
        results["PostgreSQL"] = run_backend(
            "PostgreSQL", lambda: postgres_database(args.pg_url), pg_plan
        )
    elif not args.no_postgres:
        print(f"PostgreSQL not reachable at {args.pg_url}: skipped", file=sys.stderr)
    print_tables(results)


if __name__ == "__main__":
    main()
