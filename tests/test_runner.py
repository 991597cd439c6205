"""The threaded runner: order, batching, backpressure, errors and live dropping, on real frames."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pytest

from pipeline.frame import Frame
from pipeline.videoinfo import VideoInfo
from pipeline.runner import Runner
from pipeline.stage import Stage
from tests.conftest import media, read_frames


@dataclass
class ListSource:
    images: list[np.ndarray]
    live: bool = False
    delay: float = 0.0
    closed: bool = False
    info: VideoInfo = field(init=False)

    def __post_init__(self) -> None:
        h, w = self.images[0].shape[:2]
        self.info = VideoInfo(path="memory", width=w, height=h, fps=30.0, frame_count=len(self.images), duration=0.0)

    def open(self) -> VideoInfo:
        return self.info

    def frames(self) -> Iterator[Frame]:
        for index, image in enumerate(self.images):
            if self.closed:
                return
            if self.delay:
                time.sleep(self.delay)
            yield Frame(index=index, pts=index / 30.0, image=image.copy())

    def close(self) -> None:
        self.closed = True


class ListSink:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.closed_ok: bool | None = None

    def open(self, info: VideoInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self, ok: bool) -> None:
        self.closed_ok = ok


class JitterStage(Stage):
    """Takes a random time per batch and inverts the image, recording the batch sizes it saw."""

    name = "jitter"

    def __init__(self, batch_size: int) -> None:
        super().__init__(None)
        self.batch_size = batch_size
        self.sizes: list[int] = []
        self.threads: set[str] = set()
        self.thread_ids: set[int] = set()

    def process(self, batch: list[Frame]) -> list[Frame]:
        self.sizes.append(len(batch))
        self.threads.add(threading.current_thread().name)
        self.thread_ids.add(threading.get_ident())
        time.sleep(random.random() * 0.002)
        for frame in batch:
            frame.image = 255 - frame.image
        return batch


@pytest.fixture(scope="module")
def real_frames() -> list[np.ndarray]:
    return read_frames(media("single_face.mp4"))


def test_order_batching_and_content(real_frames: list[np.ndarray]) -> None:
    first, second = JitterStage(batch_size=5), JitterStage(batch_size=1)
    sink = ListSink()
    stats = Runner(ListSource(real_frames), [first, second], sink, queue_frames=3).run()
    assert [f.index for f in sink.frames] == list(range(len(real_frames)))
    assert all(np.array_equal(f.image, real_frames[f.index]) for f in sink.frames)  # inverted twice
    assert first.sizes[:-1] == [5] * (len(first.sizes) - 1) and sum(first.sizes) == 72
    assert set(second.sizes) == {1}
    assert sink.closed_ok is True
    assert stats.frames_out == 72 and [s.name for s in stats.steps] == ["decode", "jitter", "jitter", "encode"]
    assert first.threads != {threading.main_thread().name}


@pytest.mark.parametrize("threads, expected_groups", [(1, 1), (2, 2), (0, 3)])
def test_stage_threads_group_stages_and_keep_order_and_timings(real_frames: list[np.ndarray], threads: int,
                                                               expected_groups: int) -> None:
    stages = [JitterStage(batch_size=4), JitterStage(batch_size=1), JitterStage(batch_size=1)]
    sink = ListSink()
    stats = Runner(ListSource(real_frames[:30]), stages, sink, queue_frames=2, threads=threads).run()
    assert [f.index for f in sink.frames] == list(range(30))
    assert all(np.array_equal(f.image, 255 - real_frames[f.index]) for f in sink.frames)  # inverted three times
    idents = [next(iter(stage.thread_ids)) for stage in stages]
    assert all(len(stage.thread_ids) == 1 for stage in stages)
    assert len(set(idents)) == expected_groups
    assert [s.frames for s in stats.steps[1:-1]] == [30, 30, 30]  # each stage still timed on its own


class FailingStage(Stage):
    name = "failing"

    def process(self, batch: list[Frame]) -> list[Frame]:
        if batch[0].index == 10:
            raise ValueError("stage exploded at frame 10")
        return batch


def test_stage_error_stops_everything_and_discards_output(real_frames: list[np.ndarray]) -> None:
    source, sink = ListSource(real_frames), ListSink()
    with pytest.raises(ValueError, match="frame 10"):
        Runner(source, [FailingStage(None)], sink, queue_frames=2).run()
    assert sink.closed_ok is False
    assert source.closed
    assert len(sink.frames) <= 10


class SlowStage(Stage):
    name = "slow"

    def process(self, batch: list[Frame]) -> list[Frame]:
        time.sleep(0.02)
        return batch


def test_live_source_drops_frames_when_behind_and_keeps_order(real_frames: list[np.ndarray]) -> None:
    source = ListSource(real_frames, live=True, delay=0.002)
    sink = ListSink()
    stats = Runner(source, [SlowStage(None)], sink, queue_frames=2).run()
    indices = [f.index for f in sink.frames]
    assert stats.frames_dropped > 0
    assert stats.frames_dropped + len(indices) == len(real_frames)
    assert indices == sorted(indices)


class BlasThreadsStage(Stage):
    """Records how many threads numpy's BLAS would use while the stage runs."""

    name = "blas"

    def __init__(self) -> None:
        super().__init__(None)
        self.seen: set[int] = set()

    def process(self, batch: list[Frame]) -> list[Frame]:
        from threadpoolctl import threadpool_info

        self.seen.update(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
        return batch


def test_numpy_blas_runs_on_one_thread_while_stages_run_and_is_restored(real_frames: list[np.ndarray]) -> None:
    """The stage threads are the parallelism: a BLAS that spreads a small product over every core spins
    its idle workers against the other stages (``runner.one_blas_thread``)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        before = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
        if not before:
            pytest.skip("numpy here is built without a BLAS that threadpoolctl can see")
        stage = BlasThreadsStage()
        Runner(ListSource(real_frames[:6]), [stage], ListSink()).run()
        assert stage.seen == {1}
        assert [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"] == before
