"""The corpus GAN paints through the swap stage, so its fakes get what a convert's swap gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.generator import ModelSpec
from models.multi_identity import MultiGenerator, save
from pipeline.cli.video_job import run_in_memory
from pipeline.cli.settings import load_config
from pipeline.corpus.job import FakeSpec
from pipeline.corpus.methods import load_method
from pipeline.frame import copy_frame
from pipeline.stage import StageContext
from stages import FACE_STAGES
from stages.blend import BlendStage

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"


@pytest.fixture(scope="module")
def aligned_frames() -> tuple[list, object]:
    config = load_config(overrides=["decode.max_frames=3", "detect.every=1"])
    frames, _ = run_in_memory(SAMPLE, config, list(FACE_STAGES))
    assert frames and all(frame.faces for frame in frames)
    return frames, config


def test_a_corpus_gan_fake_gets_the_blend_detail_step(aligned_frames, tmp_path: Path) -> None:
    import torch

    frames, config = aligned_frames
    torch.manual_seed(0)
    save(MultiGenerator(ModelSpec(64, 8, 16), ["ann", "bob"]), tmp_path, {"steps": 0}, None)
    method = load_method("gan")()
    stage = method.stage(FakeSpec("gan", "", "bob", str(tmp_path)))
    stage.open(StageContext(video=None, config=stage.config, device="cpu"))
    painted = stage.process([copy_frame(frame) for frame in frames])
    faces = [face for frame in painted for face in frame.faces]
    assert faces and all(face.swapped is not None for face in faces)
    assert all(face.swapped_resolution == 64 for face in faces)  # the blend's detail step keys on this

    def blend(batch: list) -> np.ndarray:
        blender = BlendStage(config.blend)
        blender.open(StageContext(video=None, config=config.blend, device="cpu"))
        return np.stack([frame.image for frame in blender.process(batch)])

    with_detail = blend([copy_frame(frame) for frame in painted])
    skipped = [copy_frame(frame) for frame in painted]
    for frame in skipped:
        for face in frame.faces:
            face.swapped_resolution = 0  # what the corpus GAN's own stage used to leave
    without = blend(skipped)
    assert np.abs(with_detail.astype(int) - without.astype(int)).max() > 0  # the detail step changed pixels
