"""Face stages on real media: detection rates, landmark accuracy, stability, alignment, tracking.

Thresholds are the ones of the issue ("What must hold"). Videos run through the real decoder and
threaded runner; each clip is processed once per module (fixtures) to keep the suite short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.frame import Frame
from stages.faces.geometry import EYE_CORNERS, inter_ocular
from pipeline.videoinfo import VideoInfo
from pipeline.runner import Runner
from pipeline.stage import StageContext
from stages.align import AlignConfig, AlignStage
from stages.detect import DetectConfig, DetectStage
from stages.landmarks import LandmarksConfig, LandmarksStage
from stages.strip import StripConfig, StripStage
from tests.conftest import media, psnr


@dataclass
class Collect:
    """A sink that keeps what the tests look at: faces (and, if asked, the images)."""

    keep_images: bool = False
    frames: list[Frame] = field(default_factory=list)

    def open(self, info: VideoInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        if not self.keep_images:
            frame.image = None  # type: ignore[assignment]
            for face in frame.faces:
                face.crop = face.mask = None
        self.frames.append(frame)

    def close(self, ok: bool) -> None:
        pass


def run_video(path: Path, stage_names: list[str], keep_images: bool = False,
              detect: DetectConfig | None = None) -> list[Frame]:
    from pipeline.media.decode import FileSource

    configs = {"detect": detect or DetectConfig(), "landmarks": LandmarksConfig(), "align": AlignConfig(),
               "strip": StripConfig()}
    classes = {"detect": DetectStage, "landmarks": LandmarksStage, "align": AlignStage, "strip": StripStage}
    source = FileSource(path)
    info = source.open()
    stages = [classes[name](configs[name]) for name in stage_names]
    contexts = [StageContext(video=info, config=stage.config) for stage in stages]
    sink = Collect(keep_images)
    Runner(source, stages, sink, contexts=contexts).run()
    return sink.frames


def run_image(image: np.ndarray, stage_names: list[str], **detect: object) -> Frame:
    frame = Frame(index=0, pts=0.0, image=image)
    info = VideoInfo(path="image", width=image.shape[1], height=image.shape[0], fps=1.0, frame_count=1, duration=1.0)
    configs = {"detect": DetectConfig(**detect), "landmarks": LandmarksConfig(), "align": AlignConfig(),
               "strip": StripConfig()}
    classes = {"detect": DetectStage, "landmarks": LandmarksStage, "align": AlignStage, "strip": StripStage}
    for name in stage_names:
        stage = classes[name](configs[name])
        stage.open(StageContext(video=info, config=stage.config))
        stage.process([frame])
        stage.close(True)
    return frame


def read_pts(path: Path) -> np.ndarray:
    text = path.read_text()
    body = text[text.index("{") + 1:text.index("}")]
    return np.array(body.split(), dtype=np.float64).reshape(-1, 2)


@pytest.fixture(scope="module")
def single_face() -> list[Frame]:
    """single_face.mp4 through detect, landmarks, align and strip, images kept."""
    return run_video(media("single_face.mp4"), ["detect", "landmarks", "align", "strip"], keep_images=True)


def detection_rate(frames: list[Frame]) -> float:
    return sum(1 for f in frames if f.faces) / len(frames)


# --- detection ------------------------------------------------------------------------------------

def test_detection_rate_woman_with_hand_over_face() -> None:
    frames = run_video(media("WolfgangLanger_Pexels.mp4"), ["detect"])
    assert len(frames) >= 400
    rate = detection_rate(frames)
    assert rate >= 0.97, f"face found in {rate:.1%} of frames"
    ids = {f.faces[0].track_id for f in frames if f.faces}
    assert len(ids) <= 2, f"one woman should keep one track id, got {sorted(ids)}"


def test_detection_rate_single_face(single_face: list[Frame]) -> None:
    rate = detection_rate(single_face)
    assert rate >= 0.97, f"face found in {rate:.1%} of frames"
    assert max(len(f.faces) for f in single_face) == 1
    assert len({f.faces[0].track_id for f in single_face if f.faces}) == 1


def test_no_face_in_cartoon() -> None:
    frames = run_video(media("no_face.mp4"), ["detect"])
    rate = detection_rate(frames)
    assert rate <= 0.01, f"false faces in {rate:.1%} of the cartoon's frames"


def test_five_faces_in_group_photo() -> None:
    frame = run_image(cv2.imread(str(media("multi_face.jpg"))), ["detect"])
    assert len(frame.faces) == 5
    assert len({f.track_id for f in frame.faces}) == 5


def test_max_faces_keeps_the_largest() -> None:
    image = cv2.imread(str(media("multi_face.jpg")))
    every = run_image(image, ["detect"]).faces
    two = run_image(image, ["detect"], max_faces=2).faces
    areas = sorted((f.width * f.height for f in every), reverse=True)
    assert [round(f.width * f.height) for f in two] == [round(a) for a in areas[:2]]


# --- landmarks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["einstein.jpg", "takeo.ppm"])
def test_landmark_error_against_hand_annotation(name: str) -> None:
    image = cv2.imread(str(media(f"landmarks/{name}")))
    truth = read_pts(media(f"landmarks/{Path(name).stem}.pts"))
    frame = run_image(image, ["detect", "landmarks"], min_face=0)
    face = min(frame.faces, key=lambda f: np.linalg.norm(f.landmarks.mean(axis=0) - truth.mean(axis=0)))
    nme = np.linalg.norm(face.landmarks - truth, axis=1).mean() / inter_ocular(truth)
    assert nme <= 0.08, f"{name}: mean error {nme:.3f} of the inter-ocular distance"


def test_smoothed_landmarks_are_steadier_and_follow_motion(single_face: list[Frame]) -> None:
    faces = [f.faces[0] for f in single_face if f.faces]
    raw = np.array([f.landmarks_raw[list(EYE_CORNERS)] for f in faces], np.float64)
    smooth = np.array([f.landmarks[list(EYE_CORNERS)] for f in faces], np.float64)
    raw_motion = np.linalg.norm(np.diff(raw, axis=0), axis=2).mean()
    smooth_motion = np.linalg.norm(np.diff(smooth, axis=0), axis=2).mean()
    ratio = smooth_motion / raw_motion
    assert ratio <= 0.6, f"smoothed eye corners move {ratio:.2f}x as much as raw ones"
    # Lag: the shift that best lines the smoothed track up with the raw one.
    r, s = raw.mean(axis=1), smooth.mean(axis=1)
    errors = [np.mean((s[k:] - r[:len(r) - k]) ** 2) for k in range(10)]
    lag = int(np.argmin(errors))
    assert lag <= 3, f"smoothed landmarks lag {lag} frames behind"
    # And they follow the head: the smoothed path stays close to the raw one overall.
    assert np.sqrt(errors[0]) < 0.05 * np.mean([inter_ocular(f.landmarks) for f in faces])


# --- alignment ------------------------------------------------------------------------------------

def test_align_then_paste_back_reproduces_the_face(single_face: list[Frame]) -> None:
    for frame in single_face[::12]:
        face = frame.faces[0]
        h, w = frame.image.shape[:2]
        assert face.crop.shape == (256, 256, 3) and face.mask.shape == (256, 256)
        np.testing.assert_allclose(face.inverse @ np.vstack([face.matrix, [0, 0, 1]]), np.eye(3)[:2], atol=1e-9)
        pasted = cv2.warpAffine(face.crop, face.inverse, (w, h), flags=cv2.INTER_CUBIC)
        region = cv2.warpAffine(face.mask, face.inverse, (w, h), flags=cv2.INTER_LINEAR) > 0.5
        value = psnr(frame.image, pasted, region)
        assert value >= 30.0, f"frame {frame.index}: paste-back PSNR {value:.1f} dB inside the mask"


def test_aligned_eyes_land_on_the_template(single_face: list[Frame]) -> None:
    from stages.faces.geometry import template_in_crop, transform

    template = template_in_crop(256)
    for frame in single_face[::12]:
        face = frame.faces[0]
        in_crop = transform(face.landmarks, face.matrix)
        error = np.linalg.norm(in_crop[36:48] - template[36:48], axis=1).mean()
        assert error < 0.05 * 256


def test_mask_covers_the_face_and_not_the_corners(single_face: list[Frame]) -> None:
    face = single_face[0].faces[0]
    assert face.mask[128, 128] > 0.99
    assert face.mask[:8, :8].max() < 0.01 and face.mask[-8:, -8:].max() < 0.01


# --- tracking -------------------------------------------------------------------------------------

MEAN_IOU, MIN_IOU = 0.95, 0.88  # tracked boxes (every=4) against the every-frame detector: measured 0.98, 0.93


def test_detect_every_n_tracks_in_between() -> None:
    path = media("single_face.mp4")
    every = run_video(path, ["detect"], detect=DetectConfig(every=4))
    full = run_video(path, ["detect"], detect=DetectConfig(every=1))  # the reference detects every frame
    assert all(f.faces[0].detected for f in full if f.faces)
    assert detection_rate(every) >= 0.97
    from stages.faces.geometry import box_iou

    tracked = [(a.faces[0], b.faces[0]) for a, b in zip(every, full)
               if a.faces and b.faces and not a.faces[0].detected]
    assert len(tracked) >= 40
    ious = [box_iou(a.box, b.box) for a, b in tracked]
    assert np.mean(ious) >= MEAN_IOU and min(ious) >= MIN_IOU, (np.mean(ious), min(ious))
    assert len({a.track_id for a, _ in tracked}) == 1


def test_a_face_tracking_loses_is_detected_again_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the detector on every 4th frame, a frame on which optical flow loses the face runs the
    detector there and then, so the face is not missing until the next scheduled detection."""
    import stages.detect as detect

    real, calls = detect.propagate, {"n": 0}

    def loses_the_third(*args, **kwargs):
        calls["n"] += 1
        return None if calls["n"] == 3 else real(*args, **kwargs)

    monkeypatch.setattr(detect, "propagate", loses_the_third)
    frames = run_video(media("single_face.mp4"), ["detect"], detect=DetectConfig(every=4))[:12]
    assert all(frame.faces for frame in frames), [len(f.faces) for f in frames]
    # frames 0 and 4 are scheduled detections; the 3rd tracked frame (index 3) lost the face and detected it,
    # which restarts the count: 3 detected, 4-6 tracked, 7 detected
    assert [f.faces[0].detected for f in frames[:8]] == [True, False, False, True, False, False, False, True]
    assert len({f.faces[0].track_id for f in frames}) == 1


def test_scene_cut_resets_tracks() -> None:
    frames = run_video(media("face_noface.mov"), ["detect"])
    cuts = [f.index for f in frames if f.meta.get("scene_cut")]
    assert len(cuts) >= 1 and len(cuts) <= 3, f"cuts at {cuts}"
    with_face = [f.index for f in frames if f.faces]
    last_face = max(with_face)
    assert any(abs(c - (last_face + 1)) <= 2 for c in cuts), f"cut {cuts} not where the face ends ({last_face})"
    assert sum(1 for f in frames if f.faces and f.index > last_face) == 0
