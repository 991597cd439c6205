"""Dask distributed: a ``LocalCluster`` started here, or an existing scheduler (``tcp://HOST:8786``).

Optional (``pip install 'facepipe[dask]'``). Workers on other machines need facepipe installed and
the same paths (a shared file system) for inputs and outputs.
"""

from __future__ import annotations

from typing import Any, Callable

from pipeline.errors import FacepipeError
from pipeline.jobs.engine import Job, JobResult, call_job


class DaskEngine:
    name = "dask"

    def __init__(self, workers: int = 0, scheduler: str | None = None) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise FacepipeError("the Dask engine needs dask[distributed]: pip install 'facepipe[dask]'") from None
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise FacepipeError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        else:
            import os

            import warnings

            count = workers if workers > 0 else (os.cpu_count() or 1)
            with warnings.catch_warnings():
                # the scheduler's HTTP endpoint moves to a free port when 8787 is taken (another cluster): fine
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                self._cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=40)
            self.client = Client(self._cluster)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or workers

    def map(self, fn: Callable[[Any], Any], jobs: list[Job], on_done: Callable[[JobResult], None]) -> list[JobResult]:
        from dask.distributed import as_completed

        futures = {self.client.submit(call_job, fn, key, payload, key=f"facepipe-{key}", pure=False): key
                   for key, payload in jobs}
        results = []
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its job only
                result = JobResult(futures[future], False, error=f"worker lost: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            on_done(result)
            results.append(result)
        return results

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
