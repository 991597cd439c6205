"""`facepipe extract`: the faceset format that training reads, written safely."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from pipeline.media.faceset import ALIGNMENTS, FacesetWriter, read_alignments
from pipeline.frame import Face, Frame
from stages.faces.geometry import TEMPLATE_NAME, template_in_crop, transform
from pipeline.videoinfo import VideoInfo
from tests.conftest import media, run_cli

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


def test_interrupted_source_leaves_a_valid_alignments_file(tmp_path: Path) -> None:
    align = {"size": 64, "coverage": 0.7, "template": TEMPLATE_NAME}
    info = VideoInfo(path="a.mp4", width=64, height=64, fps=25.0, frame_count=1, duration=0.04)
    writer = FacesetWriter(tmp_path, align)
    writer.open(info)
    writer.write(Frame(index=0, pts=0.0, image=np.zeros((64, 64, 3), np.uint8), faces=[_face()]))
    writer.close(ok=True)
    committed = (tmp_path / ALIGNMENTS).read_text()

    writer.open(VideoInfo(path="b.mp4", width=64, height=64, fps=25.0, frame_count=1, duration=0.04))
    writer.write(Frame(index=5, pts=0.2, image=np.zeros((64, 64, 3), np.uint8), faces=[_face()]))
    assert (tmp_path / "faces" / "b_000005_3.png").exists()
    writer.close(ok=False)  # e.g. Ctrl-C: this source is discarded
    assert not (tmp_path / "faces" / "b_000005_3.png").exists()
    assert (tmp_path / ALIGNMENTS).read_text() == committed
    assert [r["file"] for r in json.loads(committed)["faces"]] == ["faces/a_000000_3.png"]
