"""The live figures: sampled twice a second for the status line, the browser page and ``--stats``.

Latency is per frame, from ``frame.meta['captured_at']`` (the wall clock when the source had the
decoded picture: after network, demuxing and decoding, and after real-time pacing for a file) to the
moment every output has taken the frame (written into the recording's/stream's encoder pipe, JPEG
encoded for the browser, shown in the window). It leaves out what happens after: ffmpeg's encoding in
its own process, the network, the viewer's player.
"""

from __future__ import annotations


import resource
import threading
import time
from collections import deque
from typing import Any

from rich.live import Live
from rich.text import Text

from pipeline.frame import Frame
from pipeline.io import Sink
from pipeline.runner import RunStats
from pipeline.videoinfo import VideoInfo


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))]


def rss_mb() -> float:
    """Resident memory now (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as statm:
            import os

            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LatencyMeter:
    """Wraps the outputs; records each frame's capture-to-output latency (all of them, and a recent window)."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.latencies: list[float] = []  # 8 bytes a frame: 10 minutes at 30 fps is 140 kB
        self.recent: deque[tuple[float, float]] = deque(maxlen=2000)  # (output time, latency)

    def open(self, info: VideoInfo) -> None:
        self.inner.open(info)

    def write(self, frame: Frame) -> None:
        self.inner.write(frame)
        captured = frame.meta.get("captured_at")
        if captured is not None:
            now = time.monotonic()
            self.latencies.append(now - captured)
            self.recent.append((now, now - captured))

    def close(self, ok: bool) -> None:
        self.inner.close(ok)


class LiveMonitor:
    """Samples the run every ``interval`` seconds; keeps the latest figures and a per-second series."""

    def __init__(self, stats: RunStats, meter: LatencyMeter, interval: float = 0.5, show: bool = False) -> None:
        self.stats, self.meter, self.interval = stats, meter, interval
        self.series: list[dict[str, Any]] = []
        self.latest: dict[str, Any] = {}
        self.peak_rss_mb = 0.0
        self._show = show
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-monitor", daemon=True)
        self._started = time.monotonic()
        self._last_second = -1
        self._previous: tuple[float, int, int, int, dict[str, tuple[float, int]]] | None = None

    def __enter__(self) -> "LiveMonitor":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def snapshot(self) -> dict[str, Any]:
        return dict(self.latest)

    def _steps(self) -> dict[str, tuple[float, int]]:
        return {step.name: (step.seconds, step.frames) for step in list(self.stats.steps)}

    def sample(self) -> dict[str, Any]:
        now = time.monotonic()
        counters = (now, self.stats.frames_in, self.stats.frames_out, self.stats.frames_dropped, self._steps())
        previous = self._previous or (self._started, 0, 0, 0, {})
        self._previous = counters
        span = max(1e-6, now - previous[0])
        window = now - max(1.0, span)
        recent = sorted(latency for at, latency in list(self.meter.recent) if at >= window)
        stage_ms: dict[str, float] = {}
        for name, (seconds, frames) in counters[4].items():
            before = previous[4].get(name, (0.0, 0))
            if frames > before[1]:
                stage_ms[name] = round(1000 * (seconds - before[0]) / (frames - before[1]), 1)
        frames_in = counters[1] - previous[1]
        dropped = counters[3] - previous[3]
        rss = rss_mb()
        self.peak_rss_mb = max(self.peak_rss_mb, rss)
        compute = {name: ms for name, ms in stage_ms.items() if name not in ("decode",)}
        figures = {
            "t": round(now - self._started, 2),
            "fps_in": round(frames_in / span, 1),
            "fps_out": round((counters[2] - previous[2]) / span, 1),
            "dropped_pct": round(100 * dropped / frames_in, 1) if frames_in else 0.0,
            "dropped_total": counters[3],
            "latency_ms_p50": _ms(percentile(recent, 0.5)),
            "latency_ms_p95": _ms(percentile(recent, 0.95)),
            "slowest_stage": max(compute, key=compute.get) if compute else "",
            "stage_ms": stage_ms,
            "rss_mb": round(rss, 1),
        }
        self.latest = figures
        return figures

    def _run(self) -> None:
        live = Live(Text(""), console=_console(), refresh_per_second=4, transient=True) if self._show else None
        if live is not None:
            live.start()
        try:
            while not self._stop.wait(self.interval):
                figures = self.sample()
                second = int(figures["t"])
                if second != self._last_second:  # the --stats series: one row a second
                    self._last_second = second
                    self.series.append(figures)
                if live is not None:
                    live.update(Text(status_line(figures)))
        finally:
            if live is not None:
                live.stop()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def _console() -> Any:
    from pipeline.cli.progress import console

    return console


def status_line(figures: dict[str, Any]) -> str:
    def show(value: Any, digits: int = 0) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    slowest = figures.get("slowest_stage") or "–"
    slowest_ms = figures.get("stage_ms", {}).get(slowest)
    return (f"live {figures['t']:6.1f}s  in {show(figures['fps_in'], 1)} fps  out {show(figures['fps_out'], 1)} fps  "
            f"dropped {show(figures['dropped_pct'], 1)}%  latency p50 {show(figures['latency_ms_p50'])} ms "
            f"p95 {show(figures['latency_ms_p95'])} ms  slowest {slowest}"
            + (f" {slowest_ms:.0f} ms" if slowest_ms is not None else ""))


def summary(stats: RunStats, meter: LatencyMeter, monitor: LiveMonitor) -> dict[str, Any]:
    latency = sorted(meter.latencies)
    return {"frames_in": stats.frames_in, "frames_out": stats.frames_out, "frames_dropped": stats.frames_dropped,
            "dropped_pct": round(100 * stats.frames_dropped / stats.frames_in, 2) if stats.frames_in else 0.0,
            "fps": round(stats.fps, 2),
            "latency_ms_median": _ms(percentile(latency, 0.5)), "latency_ms_p95": _ms(percentile(latency, 0.95)),
            "latency_ms_p99": _ms(percentile(latency, 0.99)),
            "peak_rss_mb": round(max(monitor.peak_rss_mb, rss_mb()), 1),
            "latency_covers": "capture (decoded picture available) to every output having taken the frame"}



