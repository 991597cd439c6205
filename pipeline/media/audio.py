"""Live sound: PCM from a live source, handed to each output that carries it, held back to match the video.

A live source publishes 16-bit stereo PCM chunks stamped with their source time (seconds on the same
clock as ``frame.pts``). Every output that carries sound subscribes and gets its own cursor.

How sound stays in sync: an output's video is constant-rate (frame ``n`` stands for source time
``n / fps``; frames dropped to keep up are filled by repeating the last one), and its sound is a
continuous sample stream (sample ``k`` stands for ``k / rate``). A chunk is released to the encoder only
once the video written to that output has reached the chunk's time, so the sound is delayed by exactly
the video latency measured frame by frame, and the muxer never holds more than one frame of it. Gaps
(a reconnect) become silence; overlaps are trimmed.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import BinaryIO

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


class AudioWriter:
    """Writes one subscriber's PCM into an encoder's pipe, never ahead of that encoder's video.

    ``advance(t)`` is called by the video side after writing the frame for source time ``t``; a thread
    releases the sound up to ``t + LEAD``. The lead covers the AAC encoder's look-ahead (two 1024-sample
    frames) and ffmpeg's scheduler, which stops reading an input that runs more than 100 ms ahead of the
    others: with no lead the two inputs wait for each other for ever. Sync does not depend on it (it
    comes from the sample count), only how much sound the muxer holds.
    """

    LEAD = 0.3

    def __init__(self, feed: AudioFeed, pipe: BinaryIO, frame_seconds: float) -> None:
        self._box = feed.subscribe()
        self._pipe = pipe
        self._frame_seconds = frame_seconds
        self._written = 0  # samples written
        self._video_time = 0.0
        self._finish_at: float | None = None
        self._cond = threading.Condition()
        self._pending: list[tuple[int, np.ndarray]] = []
        self._thread = threading.Thread(target=self._run, name="audio-writer", daemon=True)
        self._thread.start()

    def advance(self, video_time: float) -> None:
        with self._cond:
            self._video_time = max(self._video_time, video_time)
            self._cond.notify()

    def finish(self, end_time: float, timeout: float = 5.0) -> None:
        """Write the sound up to ``end_time`` (silence where none came), then close the pipe."""
        with self._cond:
            self._finish_at = end_time
            self._cond.notify()
        self._thread.join(timeout)

    def _limit(self) -> int:
        limit_time = self._finish_at if self._finish_at is not None else self._video_time + self.LEAD
        return int(round(limit_time * RATE))

    def _drain_box(self) -> None:
        while True:
            try:
                at, pcm = self._box.get_nowait()
            except queue.Empty:
                return
            self._pending.append((int(round(at * RATE)), pcm))

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait(timeout=0.02)
                    limit = self._limit()
                    finishing = self._finish_at is not None
                self._drain_box()
                self._write_until(limit)
                if finishing:
                    if self._written < limit:
                        self._write(np.zeros((limit - self._written, CHANNELS), np.int16))
                    return
        except (BrokenPipeError, OSError, ValueError):
            return  # the encoder went away; the video side reports why
        finally:
            try:
                self._pipe.close()
            except OSError:
                pass

    def _write_until(self, limit: int) -> None:
        keep: list[tuple[int, np.ndarray]] = []
        for start, pcm in self._pending:
            end = start + len(pcm)
            if end <= self._written:
                continue  # wholly before what is written (or before the first frame)
            if start >= limit:
                keep.append((start, pcm))
                continue
            if start > self._written:
                self._write(np.zeros((start - self._written, CHANNELS), np.int16))  # a gap: silence
            first = self._written - start
            last = min(len(pcm), limit - start)
            self._write(pcm[first:last])
            if start + last < end:
                keep.append((start + last, pcm[last:]))
        self._pending = keep

    def _write(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self._pipe.write(np.ascontiguousarray(pcm, dtype=np.int16).tobytes())
            self._written += len(pcm)


def audio_pipe() -> tuple[int, BinaryIO]:
    """A pipe for an ffmpeg child's second input: (read fd to pass as ``pipe:N``, writable file)."""
    read_fd, write_fd = os.pipe()
    return read_fd, os.fdopen(write_fd, "wb", buffering=0)
