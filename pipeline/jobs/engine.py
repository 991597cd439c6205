"""The engine interface, the result record and the one call commands use: :func:`run_jobs`."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from pipeline.registry import Registry

ENGINES = Registry("job engine", {
    "serial": "pipeline.jobs.local:SerialEngine",
    "local": "pipeline.jobs.local:ProcessPoolEngine",
    "dask": "pipeline.jobs.dask_engine:DaskEngine",
}, setting="--engine")

Job = tuple[str, Any]  # (key, payload)


@dataclass
class JobResult:
    key: str
    ok: bool
    value: Any = None
    error: str = ""  # one line: what went wrong
    seconds: float = 0.0


class Engine(Protocol):
    name: str
    workers: int

    def map(self, fn: Callable[[Any], Any], jobs: list[Job], on_done: Callable[[JobResult], None]) -> list[JobResult]:
        """Run ``fn(payload)`` for every job; ``on_done`` is called in this process as each finishes."""

    def close(self) -> None:
        """Release workers (a cluster that was started here is shut down; one passed in is left running)."""


def call_job(fn: Callable[[Any], Any], key: str, payload: Any) -> JobResult:
    """Run one job, turning any exception into a failed result with a one-line error (runs in the worker)."""
    start = time.perf_counter()
    try:
        value = fn(payload)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a job's failure must never stop the batch
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not getattr(exc, "user_error", False) and type(exc).__name__ != "FacepipeError":
            where = traceback.extract_tb(exc.__traceback__)[-1:] or []
            place = f" ({where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
            line = f"{type(exc).__name__}: {line}{place}"
        return JobResult(key, False, error=line, seconds=time.perf_counter() - start)
    return JobResult(key, True, value=value, seconds=time.perf_counter() - start)


def open_engine(workers: int = 0, scheduler: str | None = None, name: str | None = None) -> Engine:
    """``scheduler`` → Dask on that cluster; ``workers`` > 1 with ``name='dask'`` → a Dask LocalCluster;
    ``workers == 1`` → serial; otherwise a local process pool (``workers`` 0 = one per core)."""
    if scheduler:
        name = "dask"
    elif name is None:
        name = "serial" if workers == 1 else "local"
    return ENGINES.load(name)(workers=workers, scheduler=scheduler)


def run_jobs(fn: Callable[[Any], Any], jobs: Iterable[Job], engine: Engine,
             on_done: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Every job's result, in the order given; failures are results, never exceptions."""
    listed = list(jobs)
    if not listed:
        return []
    results = engine.map(fn, listed, on_done or (lambda result: None))
    order = {key: i for i, (key, _) in enumerate(listed)}
    return sorted(results, key=lambda r: order.get(r.key, len(order)))
