"""Bad input: one-line error, non-zero exit, no traceback, nothing at the output path, nothing lost."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.media.decode import probe
from tests.conftest import REPO, ffmpeg_make, media, one_line_error, run_cli


def test_missing_file(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    result = run_cli("convert", tmp_path / "nope.mp4", "-o", output, "--passthrough")
    one_line_error(result, output=output)
    assert "not found" in result.stderr


def test_text_file_named_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20)
    output = tmp_path / "out.mp4"
    result = run_cli("convert", fake, "-o", output, "--passthrough")
    one_line_error(result, output=output)


def test_truncated_mp4_with_index_at_the_end_is_refused(tmp_path: Path) -> None:
    data = media("single_face.mp4").read_bytes()  # moov atom at the end: nothing decodable remains
    assert data.find(b"moov") > len(data) * 0.3
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: int(len(data) * 0.3)])
    output = tmp_path / "out.mp4"
    one_line_error(run_cli("convert", broken, "-o", output, "--passthrough"), output=output)


def test_truncated_mp4_with_decodable_frames_converts_them_and_warns(tmp_path: Path) -> None:
    data = media("WolfgangLanger_Pexels.mp4").read_bytes()  # moov first: the first 30% still decodes
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: int(len(data) * 0.3)])
    output = tmp_path / "out.mp4"
    result = run_cli("convert", broken, "-o", output, "--passthrough", "-q")
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "truncated" in result.stderr
    frames = probe(output).frame_count
    assert 50 < frames < 472


def test_file_without_video(tmp_path: Path, ffmpeg_bin: str) -> None:
    audio = tmp_path / "sound.m4a"
    ffmpeg_make(ffmpeg_bin, "-i", media("single_face.mp4"), "-vn", "-c:a", "aac", audio)
    output = tmp_path / "out.mp4"
    result = run_cli("convert", audio, "-o", output, "--passthrough")
    one_line_error(result, output=output)
    assert "no video stream" in result.stderr


@pytest.mark.parametrize("target", ["/proc/facepipe-out.mp4", "missing-folder/out.mp4"])
def test_unwritable_output(tmp_path: Path, target: str) -> None:
    output = Path(target) if target.startswith("/") else tmp_path / target
    result = run_cli("convert", media("single_face.mp4"), "-o", output, "--passthrough")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()


def test_output_equal_to_input_leaves_input_untouched(tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(media("single_face.mp4").read_bytes())
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    result = run_cli("convert", source, "-o", tmp_path / "." / "clip.mp4", "--passthrough", "--overwrite")
    assert result.returncode != 0 and "is the input file" in result.stderr
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest


def test_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    result = run_cli("convert", media("single_face.mp4"), "-o", output, "--passthrough")
    assert result.returncode != 0 and "--overwrite" in result.stderr
    assert output.read_bytes() == b"precious"


def test_malformed_config(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text("[encode\ncrf = 18\n")
    output = tmp_path / "out.mp4"
    result = run_cli("convert", media("single_face.mp4"), "-o", output, "-c", config)
    one_line_error(result, output=output)
    assert str(config) in result.stderr


def _ffmpeg_children_writing(path_fragment: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if path_fragment in command and "ffmpeg" in command:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM),
                                            (signal.SIGHUP, 128 + signal.SIGHUP)])
def test_interrupt_leaves_no_output_and_no_ffmpeg(tmp_path: Path, signum: int, status: int) -> None:
    """Ctrl-C, kill/timeout (SIGTERM) and a closed terminal (SIGHUP) all clean up the same way."""
    output = tmp_path / "interrupted.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "convert", str(media("WolfgangLanger_Pexels.mp4")), "-o", str(output),
         "--passthrough", "-q", "--set", "encode.preset=veryslow"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even if the suite runs with SIGINT ignored

    def partial_files() -> list[Path]:
        return list(tmp_path.glob(".interrupted.*facepipe-partial.mp4"))

    deadline = time.time() + 60
    while not partial_files() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert partial_files(), "convert never started writing"
    time.sleep(0.5)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not output.exists() and not partial_files()
    time.sleep(0.2)
    assert not _ffmpeg_children_writing("interrupted"), "ffmpeg left running"