"""`facepipe extract`: the faceset format that training reads, written safely."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.media.faceset import FacesetWriter, read_alignments
from pipeline.frame import Face, Frame
from stages.faces.geometry import TEMPLATE_NAME, template_in_crop, transform
from pipeline.videoinfo import VideoInfo
from tests.conftest import REPO, media, run_cli

RECORD_KEYS = {"file", "source", "frame", "track", "box", "score", "landmarks", "matrix"}


def test_extract_video_and_photos_writes_the_faceset(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("single_face.jpg", "multi_face.jpg"):
        shutil.copy(media(name), photos / name)
    out, debug = tmp_path / "faceset", tmp_path / "debug"
    result = run_cli("extract", media("single_face.mp4"), photos, "-o", out, "--every", "2",
                     "--set", "decode.max_frames=8", "--debug", debug)
    assert result.returncode == 0, result.stderr
    assert "frames without a face" in result.stderr + result.stdout  # the summary table

    data = read_alignments(out)
    assert data["version"] == 1
    assert data["align"] == {"size": 256, "coverage": 0.7, "template": TEMPLATE_NAME}
    records = data["faces"]
    video = [r for r in records if r["source"].endswith("single_face.mp4")]
    assert [r["frame"] for r in video] == [0, 2, 4, 6]
    assert len([r for r in records if r["source"].endswith("multi_face.jpg")]) == 5
    assert len([r for r in records if r["source"].endswith("single_face.jpg")]) == 1
    template = template_in_crop(256)
    for record in records:
        assert set(record) == RECORD_KEYS
        assert Path(record["file"]).name.startswith(Path(record["source"]).stem)  # "-2" when stems clash
        crop = cv2.imread(str(out / record["file"]), cv2.IMREAD_UNCHANGED)
        assert crop.shape == (256, 256, 4) and crop.dtype == np.uint8
        alpha = crop[:, :, 3]
        assert alpha[128, 128] == 255 and alpha[0, 0] == 0
        points = np.array(record["landmarks"])
        assert points.shape == (68, 2) and len(record["box"]) == 4
        in_crop = transform(points, np.array(record["matrix"]))
        assert np.linalg.norm(in_crop[36:48] - template[36:48], axis=1).mean() < 0.05 * 256
    assert video[0]["file"] == "faces/single_face_000000_0.png"
    assert not list(out.glob(".*tmp*"))
    assert len(list(debug.glob("single_face_*.jpg"))) == 4 and (debug / "multi_face_000000.jpg").exists()

    # Extracting the same source again replaces its records instead of adding to them.
    again = run_cli("extract", media("single_face.mp4"), "-o", out, "--every", "2", "-q",
                    "--set", "decode.max_frames=4")
    assert again.returncode == 0, again.stderr
    records = read_alignments(out)["faces"]
    assert [r["frame"] for r in records if r["source"].endswith("single_face.mp4")] == [0, 2]
    assert len(records) == 2 + 6


def test_missing_input_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("extract", tmp_path / "nope.mp4", "-o", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("facepipe: error: input not found")
    assert len(result.stderr.strip().splitlines()) == 1


def _face(size: int = 64) -> Face:
    face = Face(box=np.array([0, 0, 10, 10], np.float32), landmarks=np.zeros((68, 2), np.float32), track_id=3)
    face.matrix = np.eye(2, 3)
    face.crop = np.zeros((size, size, 3), np.uint8)
    face.mask = np.ones((size, size), np.float32)
    return face


def test_interrupted_source_keeps_its_faces_and_resumes(tmp_path: Path) -> None:
    align = {"size": 64, "coverage": 0.7, "template": TEMPLATE_NAME}
    settings = {"every": 1}
    writer = FacesetWriter(tmp_path, align)
    assert writer.plan("a.mp4", settings) == 0
    writer.open(VideoInfo(path="a.mp4", width=64, height=64, fps=25.0, frame_count=1, duration=0.04))
    writer.write(Frame(index=0, pts=0.0, image=np.zeros((64, 64, 3), np.uint8), faces=[_face()]))
    writer.close(ok=True)

    assert writer.plan("b.mp4", settings) == 0
    writer.open(VideoInfo(path="b.mp4", width=64, height=64, fps=25.0, frame_count=9, duration=0.36))
    writer.write(Frame(index=5, pts=0.2, image=np.zeros((64, 64, 3), np.uint8), faces=[_face()]))
    writer.close(ok=False)  # e.g. Ctrl-C: what was written is kept, the source is marked incomplete
    assert (tmp_path / "faces" / "b_000005_3.png").exists()
    data = read_alignments(tmp_path)
    assert [r["file"] for r in data["faces"]] == ["faces/a_000000_3.png", "faces/b_000005_3.png"]
    assert data["sources"]["b.mp4"]["complete"] is False and data["sources"]["a.mp4"]["complete"] is True

    again = FacesetWriter(tmp_path, align)
    assert again.plan("a.mp4", settings) is None  # done: skipped
    assert again.plan("b.mp4", settings) == 6  # resumed after the last frame that reached the writer
    assert again.plan("a.mp4", {"every": 2}) == 0  # other settings: extracted again
    again.open(VideoInfo(path="a.mp4", width=64, height=64, fps=25.0, frame_count=1, duration=0.04))
    again.write(Frame(index=1, pts=0.04, image=np.zeros((64, 64, 3), np.uint8), faces=[_face()]))
    again.close(ok=True)
    files = [r["file"] for r in read_alignments(tmp_path)["faces"]]
    assert files == ["faces/b_000005_3.png", "faces/a_000001_3.png"]
    assert not (tmp_path / "faces" / "a_000000_3.png").exists()  # the replaced crop is gone


def test_an_interrupted_frame_leaves_no_orphan_crop_and_no_half_recorded_frame(tmp_path: Path) -> None:
    """Ctrl-C between a crop's rename into place and its record (or between two faces of one frame):
    the faceset must list exactly its files, and the frame must be redone, not doubled, on resume."""
    from pipeline.media.faceset import face_record

    align = {"size": 64, "coverage": 0.7, "template": TEMPLATE_NAME}
    writer = FacesetWriter(tmp_path, align)
    assert writer.plan("c.mp4", {"every": 1}) == 0
    writer.open(VideoInfo(path="c.mp4", width=64, height=64, fps=25.0, frame_count=9, duration=0.36))
    writer.write(Frame(index=3, pts=0.12, image=np.zeros((64, 64, 3), np.uint8), faces=[_face()]))
    # Frame 4 was cut short: one crop renamed into place with no record, another recorded but the frame
    # never marked done (next_frame still 4).
    (tmp_path / "faces" / "c_000004_3.png").write_bytes((tmp_path / "faces" / "c_000003_3.png").read_bytes())
    (tmp_path / "faces" / "c_000004_5.png").write_bytes(b"x")
    writer._records["c.mp4"].append(face_record(_face(), "faces/c_000004_5.png", "c.mp4", 4))
    writer.close(ok=False)
    data = read_alignments(tmp_path)
    assert [r["file"] for r in data["faces"]] == ["faces/c_000003_3.png"]
    assert sorted(p.name for p in (tmp_path / "faces").glob("*.png")) == ["c_000003_3.png"]
    assert FacesetWriter(tmp_path, align).plan("c.mp4", {"every": 1}) == 4  # frame 4 is redone


def test_bad_input_leaves_no_empty_folder(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    out = tmp_path / "faceset"
    result = run_cli("extract", text, "-o", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not out.exists()


def test_ctrl_c_keeps_the_faces_and_a_rerun_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    clip = media("WolfgangLanger_Pexels.mp4")
    common = ["--end", "60f", "--every", "2", "-q"]
    whole = tmp_path / "whole"
    assert run_cli("extract", clip, "-o", whole, *common).returncode == 0
    expected = [(r["frame"], r["track"]) for r in read_alignments(whole)["faces"]]
    assert len(expected) >= 20

    out = tmp_path / "interrupted"
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "extract", str(clip), "-o", str(out), *common],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even if launched with SIGINT ignored
    deadline = time.time() + 120
    def finished_faces() -> int:  # a hidden ``.NAME.PID.facepipe-partial.png`` is still being written
        return sum(not p.name.startswith(".") for p in (out / "faces").glob("*.png"))

    while finished_faces() < 8 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "kept" in stderr and "resume" in stderr
    kept = read_alignments(out)
    assert 8 <= len(kept["faces"]) < len(expected)
    assert sorted(p.name for p in (out / "faces").glob("*.png")) == sorted(Path(r["file"]).name for r in kept["faces"])
    assert not list(out.rglob(".*facepipe-partial*"))

    resumed = run_cli("extract", clip, "-o", out, *common)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at frame" in resumed.stderr
    frames = [(r["frame"], r["track"]) for r in read_alignments(out)["faces"]]
    assert len(frames) == len(set(frames))  # nothing twice
    assert sorted(f for f, _ in frames) == sorted(f for f, _ in expected)  # nothing lost
    assert len(list((out / "faces").glob("*.png"))) == len(frames)

    again = run_cli("extract", clip, "-o", out, *common[:-1])
    assert again.returncode == 0 and "already extracted" in again.stderr
