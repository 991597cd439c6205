"""Engines on this machine: in-process (serial) and a process pool."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from pipeline.jobs.engine import Job, JobResult, call_job


class SerialEngine:
    name = "serial"

    def __init__(self, workers: int = 1, scheduler: str | None = None) -> None:
        self.workers = 1

    def map(self, fn: Callable[[Any], Any], jobs: list[Job], on_done: Callable[[JobResult], None]) -> list[JobResult]:
        results = []
        for key, payload in jobs:
            result = call_job(fn, key, payload)
            on_done(result)
            results.append(result)
        return results

    def close(self) -> None:
        pass


class ProcessPoolEngine:
    """A pool of worker processes (spawned, so no torch/OpenMP state is forked). A worker that dies
    (a segfault in a codec, the OOM killer) fails its own job; the pool is rebuilt for the rest."""

    name = "local"

    def __init__(self, workers: int = 0, scheduler: str | None = None) -> None:
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)

    def map(self, fn: Callable[[Any], Any], jobs: list[Job], on_done: Callable[[JobResult], None]) -> list[JobResult]:
        import multiprocessing

        results: list[JobResult] = []
        pending = list(jobs)
        while pending:
            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(call_job, fn, key, payload): (key, payload) for key, payload in pending}
                pending = []
                broken = False
                remaining = set(futures)
                while remaining:
                    done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                    for future in done:
                        key, payload = futures[future]
                        try:
                            result = future.result()
                        except BrokenProcessPool:
                            if not broken:  # the first casualty is blamed; the rest are retried
                                broken = True
                                result = JobResult(key, False, error="worker process died (crash or out of memory)")
                            else:
                                pending.append((key, payload))
                                continue
                        on_done(result)
                        results.append(result)
        return results

    def close(self) -> None:
        pass
