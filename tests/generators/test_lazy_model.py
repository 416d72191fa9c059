"""``LazyModel``: one load under concurrency, file problems and load failures reported."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from generators.interface import GeneratorNotReadyError
from generators.model_files import LazyModel


def test_loads_once_however_many_threads_ask() -> None:
    loads: list[int] = []

    def load() -> str:
        loads.append(1)
        return "model"

    model = LazyModel(threading.Lock(), load, lambda: None, "not installed")
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: model.get(), range(64))) == {"model"}
    assert loads == [1]
    assert model.readiness_problem() is None


def test_missing_files_are_reported_without_loading() -> None:
    def load() -> str:
        raise AssertionError("must not load")

    model = LazyModel(threading.Lock(), load, lambda: "no config.json", "not installed")
    assert model.readiness_problem() == "no config.json"
    with pytest.raises(GeneratorNotReadyError) as caught:
        model.get()
    assert caught.value.message == "not installed"
    assert caught.value.operator_detail == "no config.json"


def test_a_failed_load_becomes_the_readiness_problem() -> None:
    attempts: list[int] = []

    def load() -> str:
        attempts.append(1)
        raise GeneratorNotReadyError("could not load", operator_detail="weights are corrupt")

    model = LazyModel(threading.Lock(), load, lambda: None, "not installed")
    with pytest.raises(GeneratorNotReadyError):
        model.get()
    assert model.readiness_problem() == "weights are corrupt"
    with pytest.raises(GeneratorNotReadyError):
        model.get()
    assert attempts == [1]  # not retried on every request
