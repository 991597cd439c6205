"""Live sound: PCM from a live source, handed to each output that carries it, held back to match the video.

A live source publishes 16-bit stereo PCM chunks stamped with their source time (seconds on the same
clock as ``frame.pts``). Every output that carries sound subscribes and gets its own cursor.

How sound stays in sync: an output's pictures keep their source times and its sound is a continuous
sample stream stamped by sample count (sample ``k`` is source time ``k / rate``). A chunk is handed to
the muxer only once the picture written to that output has reached the chunk's time (plus a small
lead), so the sound is delayed by exactly the video latency measured frame by frame, and the muxer
never holds more than that lead of it. Gaps (a reconnect) become silence; overlaps are trimmed.
"""

from __future__ import annotations

import queue
import threading

import numpy as np

RATE = 48000
CHANNELS = 2
SAMPLE_BYTES = 2 * CHANNELS


class AudioFeed:
    """Fan-out of PCM chunks ``(source_seconds, int16 array of shape (samples, 2))`` to subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[queue.Queue] = []
        self._lock = threading.Lock()

    def subscribe(self) -> queue.Queue:
        box: queue.Queue = queue.Queue(maxsize=2000)  # ~40 s of 20 ms chunks; a stuck output cannot grow memory
        with self._lock:
            self._subscribers.append(box)
        return box

    def publish(self, at: float, pcm: np.ndarray) -> None:
        with self._lock:
            boxes = list(self._subscribers)
        for box in boxes:
            try:
                box.put_nowait((at, pcm))
            except queue.Full:
                pass  # that output is not consuming; never block the source


class AudioCursor:
    """One output's read position in the sound: :meth:`take` returns the samples from where it stopped up
    to a source time, silence where none came (a reconnect), overlaps trimmed. Called by the output's
    own thread after each picture, with that picture's time plus a small lead, so the sound is held back
    by exactly the video latency and the muxer never waits for it."""

    LEAD = 0.1  # seconds of sound given ahead of the picture (the AAC encoder looks ahead 2x1024 samples)

    def __init__(self, feed: AudioFeed) -> None:
        self._box = feed.subscribe()
        self.position = 0  # samples handed out
        self._pending: list[tuple[int, np.ndarray]] = []

    def take(self, until: float) -> np.ndarray:
        while True:
            try:
                at, pcm = self._box.get_nowait()
            except queue.Empty:
                break
            self._pending.append((int(round(at * RATE)), pcm))
        limit = int(round(until * RATE))
        out: list[np.ndarray] = []
        keep: list[tuple[int, np.ndarray]] = []
        for start, pcm in self._pending:
            end = start + len(pcm)
            if end <= self.position:
                continue  # wholly before what is handed out (or before the first picture)
            if start >= limit:
                keep.append((start, pcm))
                continue
            if start > self.position:
                out.append(np.zeros((start - self.position, CHANNELS), np.int16))  # a gap: silence
                self.position = start
            first, last = self.position - start, min(len(pcm), limit - start)
            out.append(pcm[first:last])
            self.position = start + last
            if last < len(pcm):
                keep.append((start + last, pcm[last:]))
        self._pending = keep
        return np.concatenate(out) if out else np.zeros((0, CHANNELS), np.int16)

    def silence_until(self, until: float) -> np.ndarray:
        """Silence from the position to ``until`` (the end of the output), after :meth:`take`."""
        missing = int(round(until * RATE)) - self.position
        self.position += max(0, missing)
        return np.zeros((max(0, missing), CHANNELS), np.int16)
