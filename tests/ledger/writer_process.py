"""A ledger writer run as its own process by the crash and multi-process tests.

    python -m tests.ledger.writer_process URL KEY_FILE --count N --threads T --tag P

Prints ``index leaf_hash`` for every acknowledged append (flushed at once), so a parent
that kills this process knows exactly which appends were acknowledged.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from gateway.db import create_engine_for
from ledger.checkpoint import NoteSigner, load_or_create_signing_key
from ledger.interface import EventRecord, EventType
from ledger.models import create_tables
from ledger.service import Ledger
from ledger.settings import LedgerSettings


def _record(tag: str, n: int) -> EventRecord:
    return EventRecord(
        type=EventType.MODERATION,
        generation_id=f"{tag}-{n}",
        tenant="acme",
        actor=tag,
        time="2026-11-23T11:00:00Z",
        decision="allow",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key_file", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", default="w")
    args = parser.parse_args()
    settings = LedgerSettings()
    engine = create_engine_for(args.url)  # as the gateway builds it: WAL on SQLite
    create_tables(engine)
    signer = NoteSigner(settings.origin, load_or_create_signing_key(args.key_file))
    ledger = Ledger(engine, signer, settings)
    out = threading.Lock()
    per_thread = args.count // args.threads

    def work(thread: int) -> None:
        for i in range(per_thread):
            receipt = ledger.append(_record(args.tag, thread * per_thread + i))
            with out:
                sys.stdout.write(f"{receipt.index} {receipt.leaf_hash}\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=work, args=(t,)) for t in range(args.threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
