"""The job engines on real worker processes: a 2-worker Dask LocalCluster and the local process pool."""

from __future__ import annotations

import os

import pytest

from pipeline.errors import FacepipeError
from pipeline.jobs import open_engine, run_jobs


def square_or_fail(n: int) -> tuple[int, int]:
    """Top-level so it pickles to workers; returns the worker's pid to show the work was spread."""
    if n == 3:
        raise FacepipeError("job three is broken")
    if n == 5:
        raise ZeroDivisionError("division by zero")
    return n * n, os.getpid()


@pytest.mark.parametrize("name", ["dask", "local", "serial"])
def test_engine_runs_every_job_and_records_failures(name: str) -> None:
    if name == "dask":
        pytest.importorskip("distributed")
    engine = open_engine(2, name=name)
    seen = []
    try:
        results = run_jobs(square_or_fail, [(f"job{n}", n) for n in range(8)], engine, seen.append)
    finally:
        engine.close()
    assert [r.key for r in results] == [f"job{n}" for n in range(8)]  # the order given, not completion order
    assert len(seen) == 8  # on_done once per job
    assert [r.ok for r in results] == [n not in (3, 5) for n in range(8)]
    assert results[3].error == "job three is broken"  # a user error: its line as is
    assert results[5].error.startswith("ZeroDivisionError: division by zero")  # a crash: type and place
    assert [r.value[0] for r in results if r.ok] == [n * n for n in range(8) if n not in (3, 5)]
    if name != "serial":
        assert os.getpid() not in {r.value[1] for r in results if r.ok}  # ran in worker processes


def test_dask_engine_refuses_an_unreachable_scheduler() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(FacepipeError, match="cannot reach the Dask scheduler"):
        open_engine(scheduler="tcp://127.0.0.1:9")
