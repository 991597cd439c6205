"""The FAN landmark backend's plumbing, offline: a missing weights file is a clear one-line error;
a (randomly initialised) network saved under the expected name in a temporary TORCH_HOME is loaded
and run on our own boxes without any download. Accuracy is not tested (the weights are random)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import FacepipeError
from pipeline.frame import Face, Frame
from pipeline.videoinfo import VideoInfo
from pipeline.stage import StageContext
from stages.faces.landmarkers import FAN_FILE
from stages.landmarks import LandmarksConfig, LandmarksStage


def _context(config: LandmarksConfig) -> StageContext:
    info = VideoInfo(path="memory", width=320, height=240, fps=25.0, frame_count=1, duration=0.04)
    return StageContext(video=info, config=config, device="cpu")


def test_missing_fan_weights_name_the_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    stage = LandmarksStage(LandmarksConfig(backend="fan"))
    with pytest.raises(FacepipeError) as caught:
        stage.open(_context(stage.config))
    message = str(caught.value)
    assert FAN_FILE in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "dlib" in message and "\n" not in message
    assert not (tmp_path / "hub" / "checkpoints" / FAN_FILE).exists()  # nothing was downloaded


@pytest.mark.slow
def test_fan_backend_runs_offline_on_our_boxes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from face_alignment.models import FAN

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one 256x256 forward pass; extra OpenMP threads only contend on shared CPUs
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(FAN(4).state_dict(), folder / FAN_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    try:
        stage = LandmarksStage(LandmarksConfig(backend="fan", smooth=False))
        stage.open(_context(stage.config))
        image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
        face = Face(box=np.array([100, 60, 200, 190], np.float32), track_id=0)
        frame = Frame(index=0, pts=0.0, image=image, faces=[face])
        stage.process([frame])
        stage.close(True)
    finally:
        torch.set_num_threads(threads)
    assert face.landmarks is not None and face.landmarks.shape == (68, 2)
    assert face.landmarks.dtype == np.float32 and np.isfinite(face.landmarks).all()
