"""Job engines: run many independent jobs (one output video each) on one machine or a Dask cluster.

A job is ``(key, payload)``; the job function is a plain top-level function ``fn(payload) -> value``
so that it pickles to worker processes and machines. Whatever a job raises becomes a failed
:class:`JobResult` carrying one line of error; the other jobs go on. Engines are chosen by name:

| engine  | what | when |
|---------|------|------|
| serial  | in this process, one after another | ``--workers 1``; debugging |
| local   | a process pool on this machine (no set-up) | the default |
| dask    | a Dask ``LocalCluster`` (``--workers N``) or an existing cluster (``--scheduler tcp://HOST:8786``) | ``pip install 'facepipe[dask]'`` |

Writers used inside jobs must be atomic (``pipeline.media.atomic``) so that a killed run leaves
only whole files and a re-run can skip what is done.
"""

from __future__ import annotations

from pipeline.jobs.engine import ENGINES, Engine, JobResult, open_engine, run_jobs

__all__ = ["ENGINES", "Engine", "JobResult", "open_engine", "run_jobs"]
