"""Engines on this machine: in-process (serial) and a process pool."""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from pipeline.jobs.engine import Job, JobResult, call_job


class SerialEngine:
    name = "serial"

    def __init__(self, workers: int = 1, scheduler: str | None = None) -> None:
        """One worker: this process."""
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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Pool initializer: a worker must not outlive the command (kill -9 leaves no handler to stop it).

    Without this, workers orphaned by kill -9 go on writing job records and holding memory for minutes.
    Linux: the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a
    thread polls the parent's PID. Either way a parent already gone when we get here means exit now.
    """
    import signal

    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True).start()


def _watch_parent(parent: int, interval: float = 0.5) -> None:
    """Exit as soon as ``parent`` is no longer this process's parent (it died; we were reparented)."""
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


class ProcessPoolEngine:
    """A pool of worker processes (spawned, so no torch/OpenMP state is forked). A worker that dies
    (a segfault in a codec, the OOM killer) fails its own job; the pool is rebuilt for the rest.
    Workers die with this process (:func:`die_with_parent`), even when it is killed with SIGKILL."""

    name = "local"

    def __init__(self, workers: int = 0, scheduler: str | None = None) -> None:
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)

    def map(self, fn: Callable[[Any], Any], jobs: list[Job], on_done: Callable[[JobResult], None]) -> list[JobResult]:
        import multiprocessing

        results: list[JobResult] = []
        pending = list(jobs)
        while pending:
            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
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
