"""Secret files: private, and one secret when processes create it side by side."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from gateway.secrets import load_or_create_secret


def _create(path: str, results: multiprocessing.Queue[bytes]) -> None:
    results.put(load_or_create_secret(Path(path)))


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "webhook_master_key"
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[bytes] = context.Queue()
    creators = [context.Process(target=_create, args=(str(path), results)) for _ in range(8)]
    for creator in creators:
        creator.start()
    for creator in creators:
        creator.join(timeout=30)
    assert all(creator.exitcode == 0 for creator in creators)
    seen = {results.get(timeout=5) for _ in creators}
    assert seen == {path.read_bytes()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
