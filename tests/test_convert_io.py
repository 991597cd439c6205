"""`facepipe convert` as a plain transcode (no face stages) on real clips: structure and quality kept."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.media.decode import probe
from tests.conftest import ffmpeg_make, media, psnr, read_frames, run_cli

CLIPS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"]


def convert(source: Path, output: Path, *extra: str) -> None:
    result = run_cli("convert", source, "-o", output, "--passthrough", "-q", *extra)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", CLIPS)
def test_passthrough_keeps_frames_size_duration_audio_and_quality(name: str, tmp_path: Path) -> None:
    source = media(name)
    output = tmp_path / "out.mp4"
    convert(source, output)
    before, after = probe(source), probe(output)
    assert after.frame_count == before.frame_count
    assert (after.width, after.height) == (before.width, before.height)
    assert abs(after.duration - before.duration) <= 1.0 / before.fps + 0.01
    assert after.has_audio == before.has_audio
    # every frame at its source time: variable frame rate stays in sync with the audio
    assert before.timestamps and after.timestamps
    assert np.abs(np.array(after.timestamps) - np.array(before.timestamps)).max() < 0.002
    original, converted = read_frames(source), read_frames(output)
    assert len(original) == len(converted)
    scores = [psnr(a, b) for a, b in zip(original[::4], converted[::4])]
    assert np.mean(scores) > 35.0, f"mean PSNR {np.mean(scores):.1f} dB"


def test_no_audio_in_no_audio_out(tmp_path: Path, ffmpeg_bin: str) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg_make(ffmpeg_bin, "-i", media("single_face.mp4"), "-an", "-c:v", "copy", silent)
    output = tmp_path / "out.mp4"
    convert(silent, output)
    assert not probe(output).has_audio
    assert probe(output).frame_count == probe(silent).frame_count


def test_pcm_audio_is_reencoded_for_mp4(tmp_path: Path, ffmpeg_bin: str) -> None:
    source = tmp_path / "pcm.mov"
    ffmpeg_make(ffmpeg_bin, "-i", media("single_face.mp4"), "-c:v", "copy", "-c:a", "pcm_s16le", source)
    output = tmp_path / "out.mp4"
    convert(source, output)
    info = probe(output)
    assert [a.codec for a in info.audio] == ["aac"]
    assert info.frame_count == 72


def test_rotation_metadata_is_applied(tmp_path: Path, ffmpeg_bin: str) -> None:
    source = tmp_path / "rotated.mp4"
    ffmpeg_make(ffmpeg_bin, "-display_rotation", "90", "-i", media("single_face.mp4"), "-c", "copy", source)
    output = tmp_path / "out.mp4"
    convert(source, output)
    info = probe(output)
    assert (info.width, info.height) == (360, 640)
    upright = read_frames(media("single_face.mp4"))[10]
    converted = read_frames(output)[10]
    best = max(psnr(cv2.rotate(upright, turn), converted) for turn in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE))
    assert best > 30.0, "output is not the source turned by 90 degrees"


def test_odd_size_is_padded_not_refused(tmp_path: Path, ffmpeg_bin: str) -> None:
    source = tmp_path / "odd.mkv"
    ffmpeg_make(ffmpeg_bin, "-i", media("single_face.mp4"), "-vf", "scale=641:361", "-c:v", "ffv1", "-an", source)
    output = tmp_path / "out.mp4"
    convert(source, output)
    info = probe(output)
    assert (info.width, info.height) == (642, 362)
    assert info.frame_count == 72
    frames, original = read_frames(output), read_frames(source)
    # every frame: ffmpeg's pad on odd 4:2:0 planes spoils a band of some frames (about 34 dB), at random
    worst = min(psnr(out[:361, :641], src) for out, src in zip(frames, original))
    assert worst > 40.0, f"worst frame {worst:.1f} dB"


@pytest.mark.parametrize("codec, suffix", [("libx265", ".mp4"), ("libvpx-vp9", ".webm")])
def test_other_encoders(codec: str, suffix: str, tmp_path: Path) -> None:
    output = tmp_path / f"out{suffix}"
    convert(media("single_face.mp4"), output, "--set", f"encode.codec={codec}")
    info = probe(output)
    assert info.frame_count == 72
    assert info.codec == {"libx265": "hevc", "libvpx-vp9": "vp9"}[codec]
    assert info.has_audio


def test_max_frames_and_start_trim_video_and_audio(tmp_path: Path) -> None:
    output = tmp_path / "part.mp4"
    convert(media("WolfgangLanger_Pexels.mp4"), output, "--set", "decode.start=2.0", "--set", "decode.max_frames=48")
    info = probe(output)
    assert info.frame_count == 48
    assert abs(info.duration - 48 / 23.976) < 0.1


def test_a_clip_that_starts_late_in_its_stream_keeps_every_frame_through_the_stages(
        tmp_path: Path, ffmpeg_bin: str) -> None:
    """A clip cut from later in a stream (timestamps from 5 s, as a copy-cut or a stream segment has):
    the probe put its frames at -5 s, and a convert that decodes (any stage) wrote an MP4 whose every
    frame an edit list hid, so players showed nothing. Frames, times and pixels must come through."""
    late = tmp_path / "late.mp4"
    ffmpeg_make(ffmpeg_bin, "-i", media("single_face.mp4"), "-an", "-output_ts_offset", "5", "-c:v", "copy", late)
    info = probe(late)
    assert info.timestamps is not None and abs(info.timestamps[0]) < 1e-6 and info.timestamps[-1] > 2.0
    output = tmp_path / "out.mp4"
    result = run_cli("convert", late, "-o", output, "-q", "--set", 'pipeline.stages=["detect"]')
    assert result.returncode == 0, result.stderr
    after = probe(output)
    assert after.frame_count == info.frame_count == 72
    assert np.abs(np.array(after.timestamps) - np.array(info.timestamps)).max() < 0.002
    frames = read_frames(output)
    assert len(frames) == 72 and psnr(frames[40], read_frames(late)[40]) > 35.0
