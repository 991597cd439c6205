"""Colour round trip: a run with face stages leaves untouched pixels as a plain transcode does, and
keeps the source's colour tags (BT.601 stays BT.601)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.media.colour import video_colour
from pipeline.media.decode import probe
from pipeline.videoinfo import VideoInfo
from tests.conftest import REPO, media, psnr, read_frames, run_cli

FRAMES = 24


def _convert(source: Path, output: Path, *extra: str) -> list[np.ndarray]:
    result = run_cli("convert", source, "-o", output, "-q", "--set", f"decode.max_frames={FRAMES}", *extra)
    assert result.returncode == 0, result.stderr
    return read_frames(output, FRAMES)


def _shift_and_psnr(reference: list[np.ndarray], frames: list[np.ndarray]) -> tuple[np.ndarray, float]:
    shift = np.mean([f.astype(np.float64).mean((0, 1)) - r.astype(np.float64).mean((0, 1)) for r, f in zip(reference, frames)], axis=0)
    return shift, float(np.mean([psnr(r, f) for r, f in zip(reference, frames)]))


@pytest.mark.parametrize("clip, tagged", [
    ("samples/sample.mp4", "smpte170m"),  # SD, BT.601
    ("people/lp_d13_webcam_selfie_man_glasses.mp4", "bt709"),  # HD (720x1280), BT.709
])
def test_detect_only_convert_matches_a_passthrough(tmp_path: Path, clip: str, tagged: str) -> None:
    source = REPO / clip if clip.startswith("samples/") else media(clip)
    reference = read_frames(source, FRAMES)
    passthrough = _convert(source, tmp_path / "pass.mp4", "--passthrough")
    detect_only = _convert(source, tmp_path / "detect.mp4", "--set", 'pipeline.stages=["detect"]')
    assert len(detect_only) == len(passthrough) == FRAMES
    shift_pass, psnr_pass = _shift_and_psnr(reference, passthrough)
    shift_detect, psnr_detect = _shift_and_psnr(reference, detect_only)
    assert np.abs(shift_detect - shift_pass).max() <= 0.3, (shift_pass, shift_detect)
    assert np.abs(shift_detect).max() <= 0.5, shift_detect
    assert psnr_detect >= psnr_pass - 1.0, (psnr_pass, psnr_detect)
    for output in ("pass.mp4", "detect.mp4"):
        assert probe(tmp_path / output).color.get("colorspace") == tagged


@pytest.mark.parametrize("size, expected", [((640, 360), "bt601"), ((1280, 720), "bt709"), ((720, 1280), "bt709")])
def test_untagged_video_is_read_as_players_read_it(size: tuple[int, int], expected: str) -> None:
    info = VideoInfo(path="x.mp4", width=size[0], height=size[1], fps=25.0, frame_count=1, duration=0.04)
    colour = video_colour(info)
    assert colour.matrix == expected and colour.range == "tv"
    full = video_colour(VideoInfo(path="x", width=640, height=360, fps=25.0, frame_count=1, duration=0.04,
                                  color={"color_range": "pc", "colorspace": "bt709"}))
    assert full.matrix == "bt709" and full.range == "pc" and full.tags["color_range"] == "pc"
