"""The frame loop: decode, each stage, and encode run in their own threads joined by bounded queues.

Why threads: ffmpeg runs in child processes and numpy/OpenCV/torch release the GIL, so a thread per
step overlaps decoding, each stage and encoding on several cores. Bounded queues give backpressure:
memory stays at ``queue_frames`` frames per hop whatever the video length. Each hop is FIFO with one
worker, so frame order is kept without sequence numbers. A stage that wants batches gets up to
``batch_size`` consecutive frames per call (fewer at the end of the video, and one at a time for live
sources, where latency matters more than throughput).

Errors in any thread stop every thread; the first error is re-raised in the caller. Ctrl-C does the
same, closes the source (killing its ffmpeg) and closes the sink with ``ok=False`` (deleting its
temporary file). Live sources never block the decoder: when compute falls behind, the oldest waiting
frame is dropped and counted.

Why numpy's BLAS runs on one thread while the stages do (``one_blas_thread``): the threads above are the
parallelism. OpenBLAS splits even a small matrix product across every core and its idle workers then
spin, so on 2 cores the numpy segmenter's products (``models.segmenter_cpu``) took 5-7 s of CPU
from the other stages over the sample's 194 frames. One thread gives the same frames, bit for bit.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from pipeline.errors import Cancelled, Stopped
from pipeline.io import Sink, Source
from pipeline.stage import Stage, StageContext, StageSummary

if TYPE_CHECKING:
    from pipeline.frame import Frame

_END = object()
Summary = TypeVar("Summary", bound=StageSummary)


@dataclass
class StepTiming:
    """Busy time of one step (seconds spent in its own work, not waiting on queues)."""

    name: str
    frames: int = 0
    calls: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        per_frame = 1000.0 * self.seconds / self.frames if self.frames else 0.0
        return {"frames": self.frames, "calls": self.calls, "seconds": round(self.seconds, 4),
                "ms_per_frame": round(per_frame, 3)}


@dataclass
class RunStats:
    """Counts and timings of one run, and what each stage reported at its end."""

    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    wall_seconds: float = 0.0
    steps: list[StepTiming] = field(default_factory=list)
    # stage name -> its summary, for the stages that had one; None when no runner ran stages (a
    # one-ffmpeg transcode), so the stats JSON then has no "stages" key at all
    stages: dict[str, StageSummary] | None = None

    @property
    def fps(self) -> float:
        return self.frames_out / self.wall_seconds if self.wall_seconds else 0.0

    def summary(self, name: str, kind: type[Summary]) -> Summary | None:
        """Stage ``name``'s summary if that stage ran and reported one of type ``kind``."""
        found = (self.stages or {}).get(name)
        return found if isinstance(found, kind) else None

    def as_dict(self) -> dict[str, Any]:
        """The ``--stats`` JSON: counts, per-step timings and, after a staged run, each stage's summary."""
        out: dict[str, Any] = {
            "frames_in": self.frames_in, "frames_out": self.frames_out, "frames_dropped": self.frames_dropped,
            "wall_seconds": round(self.wall_seconds, 3), "fps": round(self.fps, 2),
            "steps": {s.name: s.as_dict() for s in self.steps}}
        if self.stages is not None:
            out["stages"] = {name: summary.as_dict() for name, summary in self.stages.items()}
        return out


class _Stop(Exception):
    """Raised inside worker threads when another thread failed or the user cancelled."""


class Runner:
    """Runs one source through stages into one sink. Use :func:`run` for the common case."""

    def __init__(self, source: Source, stages: list[Stage], sink: Sink, *, queue_frames: int = 16,
                 contexts: list[StageContext] | None = None,
                 on_frame: Callable[[RunStats], None] | None = None, max_in_flight: int = 0,
                 threads: int = 0) -> None:
        self.source, self.stages, self.sink = source, stages, sink
        self.queue_frames = queue_frames
        # stage worker threads: 0 = one per stage (a hop between every two stages); N = the stages in
        # N consecutive groups, each group's stages run one after another on one thread. A hop costs a
        # queue hand-over and, with more busy threads than cores, time slices lost to the others: on 2
        # cores the live swap gets lower latency from one compute thread than from six (bench/live.py).
        self.threads = threads
        # live only: at most this many frames between the source and the sink (0 = no limit). Every
        # frame in flight waits behind the others at the slowest stage, so latency grows by one
        # slowest-stage time per frame admitted; newer frames replace the one waiting at the entrance.
        self.max_in_flight = max_in_flight
        self._in_flight: set[int] = set()  # indices of the admitted frames not yet written
        self.contexts = contexts
        self.on_frame = on_frame
        self.stats = RunStats()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    # --- queue helpers that give up when the run is stopping -------------------------------------
    def _put(self, hop: queue.Queue, item: Any) -> None:
        while True:
            if self._stop.is_set():
                raise _Stop
            try:
                hop.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, hop: queue.Queue) -> Any:
        while True:
            if self._stop.is_set():
                raise _Stop
            try:
                return hop.get(timeout=0.1)
            except queue.Empty:
                continue

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)
        self._stop.set()

    # --- workers ---------------------------------------------------------------------------------
    def _decode(self, out: queue.Queue, timing: StepTiming) -> None:
        live = bool(getattr(self.source, "live", False))
        try:
            iterator = iter(self.source.frames())
            while True:
                if self._stop.is_set():
                    raise _Stop
                started = time.perf_counter()
                frame = next(iterator, None)
                timing.seconds += time.perf_counter() - started
                if frame is None:
                    break
                timing.frames += 1
                self.stats.frames_in += 1
                if live and self.max_in_flight:
                    self._admit(out, frame)
                elif live:
                    self._put_dropping_oldest(out, frame)
                else:
                    self._put(out, frame)
            self._put(out, _END)
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self._fail(exc)

    def _admit(self, hop: queue.Queue, frame: Frame) -> None:
        """Let ``frame`` in if fewer than ``max_in_flight`` frames are in the stages; else it replaces
        the frame still waiting at the entrance, or, when every frame in flight is already being
        worked on, it is dropped."""
        with self._lock:
            if len(self._in_flight) < self.max_in_flight:
                self._in_flight.add(frame.index)
                admit = True
            else:
                admit = False
        if admit:
            self._put_dropping_oldest(hop, frame)
            return
        try:
            waiting = hop.get_nowait()
        except queue.Empty:
            self.stats.frames_dropped += 1  # the new frame: all in flight are being worked on
            return
        self.stats.frames_dropped += 1  # the one that waited: the newer frame takes its place
        with self._lock:
            self._in_flight.discard(waiting.index)
            self._in_flight.add(frame.index)
        self._put_dropping_oldest(hop, frame)

    def _put_dropping_oldest(self, hop: queue.Queue, frame: Frame) -> None:
        while True:
            try:
                hop.put_nowait(frame)
                return
            except queue.Full:
                try:
                    hop.get_nowait()
                    self.stats.frames_dropped += 1
                except queue.Empty:
                    pass

    def _stage(self, group: list[tuple[Stage, StepTiming]], inbox: queue.Queue, out: queue.Queue, live: bool) -> None:
        """One worker: batches from ``inbox`` through every stage of ``group`` in turn, into ``out``."""
        batch_size = 1 if live else max(max(1, int(getattr(stage, "batch_size", 1))) for stage, _ in group)
        try:
            finished = False
            while not finished:
                batch: list[Frame] = []
                item = self._get(inbox)
                if item is _END:
                    finished = True
                else:
                    batch.append(item)
                    while len(batch) < batch_size:
                        item = self._get(inbox)
                        if item is _END:
                            finished = True
                            break
                        batch.append(item)
                if batch:
                    result = batch
                    for stage, timing in group:
                        started = time.perf_counter()
                        count = len(result)
                        result = stage.process(result)
                        timing.seconds += time.perf_counter() - started
                        timing.frames += count
                        timing.calls += 1
                    for frame in result:
                        self._put(out, frame)
            self._put(out, _END)
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)

    def _encode(self, inbox: queue.Queue, timing: StepTiming) -> None:
        try:
            while True:
                item = self._get(inbox)
                if item is _END:
                    return
                started = time.perf_counter()
                self.sink.write(item)
                timing.seconds += time.perf_counter() - started
                timing.frames += 1
                self.stats.frames_out += 1
                if self.max_in_flight:  # this frame and any a stage held back are out
                    with self._lock:
                        self._in_flight = {index for index in self._in_flight if index > item.index}
                if self.on_frame is not None:
                    self.on_frame(self.stats)
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)

    # --- orchestration ---------------------------------------------------------------------------
    def run(self) -> RunStats:
        started = time.perf_counter()
        info = self.source.info
        live = bool(getattr(self.source, "live", False))
        opened: list[Stage] = []
        sink_open = False
        ok = False
        try:
            for number, stage in enumerate(self.stages):
                context = self.contexts[number] if self.contexts else StageContext(video=info, config=stage.config)
                stage.open(context)
                opened.append(stage)
            self.sink.open(info)
            sink_open = True
            decode_timing = StepTiming("decode")
            stage_timings = [StepTiming(stage.name) for stage in self.stages]
            encode_timing = StepTiming("encode")
            self.stats.steps = [decode_timing, *stage_timings, encode_timing]
            groups = stage_groups(list(zip(self.stages, stage_timings)), self.threads)
            hops = [queue.Queue(maxsize=self.queue_frames) for _ in range(len(groups) + 1)]
            threads = [threading.Thread(target=self._decode, args=(hops[0], decode_timing), name="decode", daemon=True)]
            for number, group in enumerate(groups):
                threads.append(threading.Thread(target=self._stage, name="+".join(stage.name for stage, _ in group),
                                                daemon=True, args=(group, hops[number], hops[number + 1], live)))
            threads.append(threading.Thread(target=self._encode, args=(hops[-1], encode_timing), name="encode", daemon=True))
            with one_blas_thread():
                for thread in threads:
                    thread.start()
                try:
                    while any(thread.is_alive() for thread in threads):
                        threads[-1].join(timeout=0.1)
                        if self._stop.is_set():
                            break
                except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP as ``Stopped`` (keeps its signal)
                    self._stop.set()
                    self._errors.insert(0, exc if isinstance(exc, Stopped) else Cancelled("interrupted"))
                if self._stop.is_set():
                    self.source.close()  # unblocks a decode thread waiting on ffmpeg
                for thread in threads:
                    thread.join(timeout=10)
            if self._errors:
                raise self._errors[0]
            ok = True
        finally:
            self.source.close()
            for stage in opened:
                try:
                    stage.close(ok)
                except Exception:  # noqa: BLE001 - closing must not hide the real error
                    pass
            if sink_open:
                self.sink.close(ok)
            self.stats.wall_seconds = time.perf_counter() - started
            self.stats.stages = stage_summaries(opened)
        return self.stats


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """The BLAS libraries loaded so far (numpy's) limited to one thread until the context ends."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it, BLAS keeps its own threads
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def stage_summaries(stages: list[Stage]) -> dict[str, StageSummary]:
    """Each stage's summary by name, leaving out the stages with nothing to report."""
    found = ((stage.name, stage.summary()) for stage in stages)
    return {name: summary for name, summary in found if summary is not None}


def stage_groups(items: list[Any], threads: int) -> list[list[Any]]:
    """``items`` cut into ``threads`` consecutive groups of near-equal length (0: one item per group)."""
    if threads <= 0 or threads >= len(items):
        return [[item] for item in items]
    size, extra = divmod(len(items), threads)
    groups, start = [], 0
    for number in range(threads):
        end = start + size + (1 if number < extra else 0)
        groups.append(items[start:end])
        start = end
    return groups
