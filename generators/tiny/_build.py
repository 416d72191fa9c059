"""Shared plumbing for the tiny-model builders: atomic directories and pinned torch state.

A builder writes into a hidden sibling directory and renames it into place only when
complete, so an interrupted build never looks finished; torch runs on a fixed number of threads with
deterministic algorithms and fixed seeds, so two builds write identical bytes::

    with atomic_model_dir(target) as work_dir, deterministic_torch(seed=7):
        ...save_pretrained(work_dir)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_model_dir", "deterministic_torch", "quiet_progress_bars"]


@contextlib.contextmanager
def atomic_model_dir(target: Path) -> Iterator[Path]:
    """Yield an empty work directory that becomes ``target`` when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work_dir = target.parent / f".{target.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir()
    try:
        yield work_dir
        if target.exists():
            # Another process finished the same deterministic build first: keep theirs.
            shutil.rmtree(work_dir)
        else:
            os.replace(work_dir, target)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise


@contextlib.contextmanager
def deterministic_torch(seed: int, threads: int = 1) -> Iterator[None]:
    """Seed torch, force deterministic kernels and a fixed thread count; restore after.

    A fixed count (not "all cores") because CPU reductions split across a different
    number of threads may sum in a different order, and the build must be byte-identical.
    One thread because on a busy machine OpenMP threads waiting at barriers made a
    two-thread build 13× slower than a one-thread one (measured here, load 9 on 2 cores).
    """
    import torch

    rng_state = torch.get_rng_state()
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        torch.set_rng_state(rng_state)


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """No "Writing model shards" bars from transformers while saving; restored after."""
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    # transformers leaves these two switches unannotated.
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            transformers_logging.enable_progress_bar()
