"""The retrieval swap (``swap.method = "bank"``, ``--face``): a bank of person B's faces, built once and
cached, painted onto any face by expression and pose.

B is the first 3 s of ``people/lp_d19_man_glasses_white_sweater.mp4``; the target is
``people/lp_d20_young_man_outdoor_talk.mp4``. Neither is a held-out evaluation clip.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from pipeline.cli.settings import face_overrides, load_config
from pipeline.frame import Face, Frame
from pipeline.stage import StageContext
from stages.faces.bank_match import LOWER, UPPER, BankMatcher, describe, eye_openings, normalise, rest_shape
from stages.faces.bank_swap import lower_face_weight
from stages.faces.bank_warp import (add_grain, apply_colour_and_light, blur_to_match, face_mask, fine_ratio,
                                   missing_grain, reinhard_map, skin_mask, warp_face, without_features)
from stages.faces.geometry import inter_ocular, template_in_crop, transform
from stages.faces.identity import identity_distance, mean_embedding
from tests.conftest import ffmpeg_make, media, one_line_error, read_frames, run_cli
from tests.identity_check import frame_embeddings, video_embeddings

B_CLIP = "people/lp_d19_man_glasses_white_sweater.mp4"
TARGET = "people/lp_d20_young_man_outdoor_talk.mp4"
TARGET_FRAMES = 12
INNER_FACE = slice(17, 68)  # brows, nose, eyes, mouth: what the warp must keep in place


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private bank cache for this module ($XDG_CACHE_HOME, also seen by the CLI's child processes)."""
    folder = tmp_path_factory.mktemp("xdg")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder / "facepipe" / "banks"


@pytest.fixture(scope="module")
def b_clip(tmp_path_factory: pytest.TempPathFactory, ffmpeg_bin: str) -> Path:
    """The first 3 s of B's clip (about 45 bank faces: a bank that builds in seconds)."""
    out = tmp_path_factory.mktemp("b") / "b.mp4"
    ffmpeg_make(ffmpeg_bin, "-i", media(B_CLIP), "-t", "3", "-an", "-c:v", "libx264", "-crf", "16", out)
    return out


@pytest.fixture(scope="module")
def bank(cache: Path, b_clip: Path):
    from stages.swap import SwapConfig, open_face_bank

    return open_face_bank(SwapConfig(method="bank", face=str(b_clip)))


def bank_config(face: Path, *extra: str):
    return load_config(None, [*face_overrides(str(face)), *extra])


# -- the bank ---------------------------------------------------------------------------------------

def test_a_bank_is_aligned_faces_of_the_clip_in_the_align_stages_frame(bank) -> None:
    assert 30 <= len(bank) <= 50  # every 2nd frame of 90, nearly all with a face
    assert bank.crops.shape[1:] == (256, 256, 3) and bank.crops.dtype == np.uint8
    # landmarks in crop pixels, framed like the align stage frames faces: near the template
    offset = np.abs(bank.landmarks.mean(axis=0) - template_in_crop(256)).mean()
    assert offset < 0.05 * 256, offset
    assert bank.descriptors.expression.shape[0] == len(bank) == bank.descriptors.pose.shape[0]
    assert np.all(np.diff(bank.frames) > 0) and bank.kind == "video"


def test_the_second_build_is_a_cache_hit_keyed_by_content(bank, b_clip: Path, cache: Path,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import stages.swap as swap
    from stages.swap import SwapConfig, face_bank_spec, open_face_bank

    def no_face_stages(info):
        raise AssertionError("the face stages ran: the cached bank was not used")

    monkeypatch.setattr(swap, "bank_face_stages", no_face_stages)
    renamed = tmp_path / "same_bytes_other_name.mp4"
    shutil.copy(b_clip, renamed)
    again = open_face_bank(SwapConfig(method="bank", face=str(renamed)))
    assert np.array_equal(again.crops, bank.crops) and np.array_equal(again.landmarks, bank.landmarks)
    assert [p.name for p in cache.iterdir()] == [face_bank_spec(SwapConfig(method="bank", face=str(b_clip))).path.name]
    # what shapes the bank is in the key: another step is another bank, and is built
    assert face_bank_spec(SwapConfig(method="bank", face=str(b_clip), bank_every=3)).key != \
        face_bank_spec(SwapConfig(method="bank", face=str(b_clip))).key
    with pytest.raises(AssertionError, match="face stages ran"):
        open_face_bank(SwapConfig(method="bank", face=str(b_clip), bank_every=3))


def test_a_photo_folder_bank_says_it_has_one_expression_per_photo(b_clip: Path, cache: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, image in enumerate(read_frames(b_clip, max_frames=30)[::10]):
        cv2.imwrite(str(photos / f"b{index}.png"), image)
    target = tmp_path / "target.png"
    cv2.imwrite(str(target), read_frames(media(TARGET), max_frames=1)[0])
    output = tmp_path / "out.png"
    result = run_cli("convert", target, "-o", output, "-q", "--face", photos)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "one expression per photo" in line]
    assert len(notes) == 1 and "3 photos" in notes[0], result.stderr
    changed = np.abs(cv2.imread(str(output)).astype(int) - cv2.imread(str(target)).astype(int)).max(axis=2) > 12
    assert changed.sum() > 2000  # a face's worth of pixels was painted


# -- a convert with --face --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def swapped(bank, b_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Frame], Path]:
    """The first frames of the target through the default stages with --face B, in memory (exact
    pixels), with the blend masks written."""
    from pipeline.cli.video_job import run_in_memory

    masks = tmp_path_factory.mktemp("masks")
    config = bank_config(b_clip, f"decode.max_frames={TARGET_FRAMES}", f"blend.masks_dir={json.dumps(str(masks))}")
    frames, stats = run_in_memory(media(TARGET), config)
    assert len(frames) == TARGET_FRAMES
    return frames, masks


def test_only_the_face_changes(swapped: tuple[list[Frame], Path]) -> None:
    frames, masks = swapped
    for frame in frames:
        before, after = frame.meta["original"].astype(np.int16), frame.image.astype(np.int16)
        mask = cv2.imread(str(masks / f"{frame.index:06d}.png"), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(before[mask == 0], after[mask == 0]), "a pixel outside the blend mask changed"
        painted = [face for face in frame.faces if face.swapped is not None]
        assert painted and all(face.selected and face.swapped_resolution == 0 for face in painted)
        # the mask lies on the faces: inside their landmark hulls, forehead included, grown by a quarter of
        # the inter-ocular distance (the detector also finds a face in the foliage of the first two frames)
        near = np.zeros(mask.shape, np.uint8)
        for face in painted:
            hull = np.zeros(mask.shape, np.uint8)
            points = np.vstack([face.landmarks, face.landmarks[17:27] + 0.3 * (face.landmarks[27] - face.landmarks[8])])
            cv2.fillConvexPoly(hull, cv2.convexHull(np.round(points).astype(np.int32)), 1)
            grow = int(0.25 * inter_ocular(face.landmarks))
            near |= cv2.dilate(hull, np.ones((2 * grow + 1,) * 2, np.uint8))
        assert not np.any((mask > 0) & (near == 0)), "the blend mask reaches beyond the faces"
        inside = mask > 128
        assert inside.sum() > 5000 and np.abs(after - before)[inside].mean() > 10  # the face was repainted


def test_the_painted_face_is_nearer_b_than_the_target(swapped: tuple[list[Frame], Path], b_clip: Path) -> None:
    frames, _ = swapped
    b_identity = mean_embedding(list(video_embeddings(b_clip, step=10).values()))
    sample = frames[::4]
    out = frame_embeddings({f.index: f.image for f in sample})
    source = frame_embeddings({f.index: f.meta["original"] for f in sample})
    assert len(out) == len(sample)
    for index, embedding in out.items():
        to_b, to_target = identity_distance(embedding, b_identity), identity_distance(embedding, source[index])
        # measured: 0.50-0.52 from B (dlib's same-person threshold is 0.6) and 0.63-0.71 from the target
        assert to_b < min(to_target - 0.12, 0.6), f"frame {index}: {to_b:.2f} from B, {to_target:.2f} from the target"


def test_the_face_keeps_the_targets_pose_and_expression(swapped: tuple[list[Frame], Path]) -> None:
    """Landmarks re-fitted on the output lie near those fitted on the input (the warp puts B's features
    on the target's landmarks, moved only to B's proportions, ``bank_shape``): mean inner-face error
    under 0.08 of the inter-ocular distance."""
    from stages.detect import DetectConfig, DetectStage
    from stages.landmarks import LandmarksConfig, LandmarksStage

    frames, _ = swapped
    stages = [DetectStage(DetectConfig(every=1)), LandmarksStage(LandmarksConfig(smooth=False))]
    for stage in stages:
        stage.open(StageContext(video=None, config=stage.config))

    def fit(image: np.ndarray) -> np.ndarray:
        frame = Frame(index=0, pts=0.0, image=image.copy())
        for stage in stages:
            stage.process([frame])
        return max(frame.faces, key=lambda f: f.width * f.height).landmarks

    errors = []
    for frame in frames[::3]:
        before, after = fit(frame.meta["original"]), fit(frame.image)
        errors.append(np.linalg.norm(after[INNER_FACE] - before[INNER_FACE], axis=1).mean() / inter_ocular(before))
    assert np.mean(errors) < 0.08, errors


# -- refusals and the default -------------------------------------------------------------------------

def test_the_default_paints_from_the_bundled_bank_and_naming_a_model_paints_with_the_pair() -> None:
    from stages.swap import BankPainter, SwapStage, painting_method

    config = load_config().swap
    assert config.method == "auto" and not config.face and not config.model and painting_method(config) == "bank"
    stage = SwapStage(config)
    stage.open(StageContext(video=None, config=config))
    assert isinstance(stage.painter, BankPainter)
    bundled = [swapper.bank for swapper in stage.painter.swappers]
    assert [bank.source for bank in bundled] == ["talking_man_pyfeat", "woman_pexels_wolfganglanger"]
    for bank in bundled:
        assert len(bank) >= 100 and bank.crops.shape[1:] == (256, 256, 3) and bank.kind == "videos"
        assert bank.identity is not None and bank.identity.shape == (128,)
    named = load_config(None, ['swap.model="bundled"']).swap
    assert painting_method(named) == "pair"
    assert painting_method(load_config(None, ['swap.model="bundled"', 'swap.method="bank"']).swap) == "bank"


def test_a_bank_file_travels_and_a_broken_one_is_a_one_line_error(bank, b_clip: Path, cache: Path,
                                                                  tmp_path: Path) -> None:
    """`facepipe bank` writes what the cache holds (crops as JPEG: within a few levels), the file name
    the user gave and not this machine's path; `--face FILE.npz` paints from it; a bad file is refused."""
    from stages.faces.bank import read_bank

    written = tmp_path / "b_bank.npz"
    result = run_cli("bank", b_clip, "-o", written, "-q")
    assert result.returncode == 0, result.stderr
    travelled = read_bank(written)
    assert np.array_equal(travelled.landmarks, bank.landmarks) and np.array_equal(travelled.frames, bank.frames)
    assert np.abs(travelled.crops.astype(int) - bank.crops.astype(int)).mean() < 2.0
    assert travelled.source == b_clip.name and written.stat().st_size < 0.25 * bank.crops.nbytes
    # and who the person is, so a choice among banks by likeness needs no embedding at start-up
    from stages.faces.identity import face_embedding, identity_distance

    assert travelled.identity is not None and travelled.identity.shape == (128,)
    assert identity_distance(face_embedding(bank.crops[0], bank.landmarks[0]), travelled.identity) < 0.4
    again = run_cli("bank", b_clip, "-o", written, "-q")
    one_line_error(again, "exists", None)
    output = tmp_path / "out.png"
    target = tmp_path / "target.png"
    cv2.imwrite(str(target), read_frames(media(TARGET), max_frames=1)[0])
    painted = run_cli("convert", target, "-o", output, "-q", "--face", written)
    assert painted.returncode == 0, painted.stderr
    changed = np.abs(cv2.imread(str(output)).astype(int) - cv2.imread(str(target)).astype(int)).max(axis=2) > 12
    assert changed.sum() > 2000
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not a bank")
    refused = tmp_path / "refused.png"
    one_line_error(run_cli("convert", target, "-o", refused, "--face", broken), "not a facepipe face bank", refused)


def test_a_folder_of_videos_is_one_bank_of_all_of_them(b_clip: Path, cache: Path, tmp_path: Path,
                                                       ffmpeg_bin: str) -> None:
    """Several clips of one person make one bank (the bundled bank is two); each clip's frames are
    numbered apart, and the frames read are shared out under bank_faces."""
    from stages.faces.bank import FRAMES_PER_INPUT
    from stages.swap import SwapConfig, open_face_bank

    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(b_clip, folder / "one.mp4")
    ffmpeg_make(ffmpeg_bin, "-i", b_clip, "-t", "1", "-c:v", "libx264", "-crf", "16", folder / "two.mp4")
    both = open_face_bank(SwapConfig(method="bank", face=str(folder), bank_every=3))
    first = both.frames[both.frames < FRAMES_PER_INPUT]
    second = both.frames[both.frames >= FRAMES_PER_INPUT] - FRAMES_PER_INPUT
    assert both.kind == "videos" and len(first) >= 25 and len(second) >= 8 and second.max() < 30
    capped = open_face_bank(SwapConfig(method="bank", face=str(folder), bank_every=1, bank_faces=20))
    assert 10 <= len(capped) <= 20
    cv2.imwrite(str(folder / "still.png"), both.crops[0])
    mixed = run_cli("convert", media(TARGET), "-o", tmp_path / "out.mp4", "--face", folder, "--end", "2f")
    one_line_error(mixed, "both photos and videos", tmp_path / "out.mp4")


def test_a_bank_with_no_face_is_a_one_line_error(tmp_path: Path, cache: Path) -> None:
    empty = tmp_path / "nobody"
    empty.mkdir()
    cv2.imwrite(str(empty / "wall.png"), np.full((240, 320, 3), 128, np.uint8))
    output = tmp_path / "out.mp4"
    result = run_cli("convert", media(TARGET), "-o", output, "--face", empty, "--end", "2f")
    one_line_error(result, "no face found", output)
    missing = run_cli("convert", media(TARGET), "-o", output, "--face", tmp_path / "nowhere.mp4", "--end", "2f")
    one_line_error(missing, "no such file or folder", output)


def test_a_named_pair_model_paints_with_the_model() -> None:
    """`swap.model` set (a user's own pair, or the bundled one by name): the pair painter runs it on the crops."""
    from models.checkpoint import load_model
    from stages.swap import PairPainter, SwapStage

    config = load_config(None, ['swap.model="bundled"']).swap
    crop = cv2.resize(read_frames(media(TARGET), max_frames=1)[0][60:420, 60:420], (256, 256))
    face = Face(box=np.array([0, 0, 256, 256], np.float32), crop=crop, landmarks=template_in_crop(256),
                matrix=np.eye(2, 3))
    stage = SwapStage(config)
    stage.open(StageContext(video=None, config=config))
    assert isinstance(stage.painter, PairPainter)
    stage.process([Frame(index=0, pts=0.0, image=crop, faces=[face])])
    expected, mask = load_model("", "cpu").swap(crop[None], "a2b")
    assert np.array_equal(face.swapped, expected[0]) and np.array_equal(face.swapped_mask, mask[0])
    assert face.swapped_resolution == 128


# -- matching and warping, on synthetic faces ------------------------------------------------------

def open_mouth(amount: float) -> np.ndarray:
    """The mean face in a 256 crop with the jaw and lower lip dropped by ``amount`` x the face width."""
    points = template_in_crop(256).copy()
    drop = amount * 256 * 0.7
    points[[5, 6, 7, 8, 9, 10, 11]] += [0, drop]
    points[[55, 56, 57, 58, 59, 65, 66, 67]] += [0, drop]
    return points


def test_matching_ignores_position_size_and_roll_and_finds_the_expression() -> None:
    amounts = (0.0, 0.03, 0.06, 0.09, 0.12)
    matcher = BankMatcher(describe(np.stack([open_mouth(a) for a in amounts])), stickiness=0.0)
    angle, scale = np.radians(12), 1.7
    similarity = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 40.0],
                           [scale * np.sin(angle), scale * np.cos(angle), -25.0]])
    for expected, amount in enumerate(amounts):
        assert matcher.pick(transform(open_mouth(amount), similarity), -1, expected).index == expected


def test_a_pick_is_held_against_a_near_tie_and_a_change_is_crossfaded_over_four_frames() -> None:
    bank = describe(np.stack([open_mouth(0.0), open_mouth(0.1)]))
    held, jumpy = BankMatcher(bank, stickiness=0.002, crossfade=4), BankMatcher(bank, stickiness=0.0, crossfade=4)
    sequence = [0.0, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1]  # closed; a near tie; wide open
    picks = [held.pick(open_mouth(a), 7, frame) for frame, a in enumerate(sequence)]
    assert [jumpy.pick(open_mouth(a), 7, frame).index for frame, a in enumerate(sequence)][:2] == [0, 1]
    assert [p.index for p in picks] == [0, 0, 1, 1, 1, 1, 1]  # the tie does not move the held pick
    assert [p.changed for p in picks] == [False, False, True, False, False, False, False]
    assert [p.weight for p in picks[2:]] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert [p.previous for p in picks[2:]] == [0, 0, 0, -1, -1]
    assert held.changes == 1
    # a gap in the track (a seek, a lost face) starts afresh: no fade from a stale pick
    assert held.pick(open_mouth(0.0), 7, 30) == type(picks[0])(0)


def expressive(grin: float = 0.0, gap: float = 0.0, shut: float = 0.0) -> np.ndarray:
    """The mean face in a 256 crop with its mouth corners pulled out by ``grin``, its lips parted by
    ``gap`` and its upper lids lowered by ``shut`` (fractions of the face width; 0.06 shuts an eye)."""
    points = open_mouth(gap).copy()
    width = 256 * 0.7
    points[48, 0] -= grin * width
    points[54, 0] += grin * width
    points[[37, 38, 43, 44], 1] += shut * width
    return points


def mouth_width(points: np.ndarray) -> float:
    normalised = normalise(points)
    return float(np.linalg.norm(normalised[54] - normalised[48]))


def test_the_rest_shape_of_footage_that_mostly_grins_is_a_closed_mouth_with_open_eyes() -> None:
    """The bundled man grins in two thirds of his frames and the woman's closed-mouth frames have
    shut eyes: the median face was a grin (every neutral target was painted with bared teeth)."""
    faces = ([expressive(grin=0.06, gap=0.05)] * 14 + [expressive(shut=0.06)] * 4
             + [expressive()] * 2)
    rest = rest_shape(normalise(np.stack(faces)))
    median = np.median(normalise(np.stack(faces)), axis=0)
    neutral = normalise(expressive())
    assert mouth_width(median) > mouth_width(neutral) + 0.05  # the plain median grins
    # (a shut eye moves the points the faces are normalised on, hence the tolerance: a grin adds 0.08)
    assert abs(float(np.linalg.norm(rest[54] - rest[48])) - mouth_width(neutral)) < 0.02
    assert abs(float(np.linalg.norm(rest[66] - rest[62])) - float(np.linalg.norm(neutral[66] - neutral[62]))) < 0.02
    np.testing.assert_allclose(eye_openings(rest[None]), eye_openings(neutral[None]), atol=0.005)


def test_open_eyes_over_a_closed_mouth_are_painted_from_two_bank_faces_when_no_one_face_has_both() -> None:
    bank = describe(np.stack([expressive(grin=0.06, gap=0.05)] * 3 + [expressive(shut=0.06)] * 3))
    target = expressive()  # open eyes, closed mouth: the bank never shows them together
    upper, lower = (pick.index for pick in BankMatcher(bank, groups=(UPPER, LOWER)).pick_groups(target, 1, 0))
    assert upper < 3 and lower >= 3  # the eyes of a grinning face, the mouth of a shut-eyed one
    # matched whole, the eyes decide: a shut eye is never painted on an open one
    assert BankMatcher(bank).pick(target, 1, 0).index < 3
    weight = lower_face_weight(target, 256)
    eyes, mouth = np.round(target[36:48].mean(axis=0)).astype(int), np.round(target[62]).astype(int)
    assert weight[eyes[1], eyes[0]] == 0.0 and weight[mouth[1], mouth[0]] == 1.0
    assert weight[int(target[57, 1]), int(target[57, 0])] == 1.0  # the chin goes with the mouth


def test_the_warp_puts_each_bank_landmark_on_the_targets() -> None:
    source_points = template_in_crop(256)
    target_points = open_mouth(0.08) + [6.0, -4.0]
    image = np.zeros((256, 256, 3), np.uint8)
    markers = (8, 30, 36, 45, 48, 54, 57, 62)
    for number, index in enumerate(markers):
        cv2.circle(image, tuple(np.round(source_points[index]).astype(int)), 3, (40 + 25 * number, 255, 0), -1)
    warped = warp_face(image, source_points, target_points, 256)
    for number, index in enumerate(markers):
        x, y = np.round(target_points[index]).astype(int)
        assert abs(int(warped[y, x, 0]) - (40 + 25 * number)) <= 6 and warped[y, x, 1] > 200, index
    mask = face_mask(target_points, 256)
    assert mask[tuple(np.round(target_points[30][::-1]).astype(int))] == pytest.approx(1.0, abs=0.01)
    assert mask[5, 5] == 0.0 and 0.0 < mask.mean() < 0.6


def test_warps_onto_the_same_points_share_one_raster_and_other_points_get_their_own() -> None:
    """``bank_warp.triangle_labels`` is kept per target points: a second bank face warped onto the
    same points must get the maps it would get alone, and other points a raster of their own."""
    from stages.faces import bank_warp

    target_points = open_mouth(0.08) + [6.0, -4.0]
    first, second = template_in_crop(256), open_mouth(0.0)
    shared = [bank_warp.warp_maps(bank, target_points, 256) for bank in (first, second)]
    bank_warp._LABELS.clear()
    alone = bank_warp.warp_maps(second, target_points, 256)
    assert all(np.array_equal(a, b) for a, b in zip(shared[1], alone))
    moved = bank_warp.warp_maps(second, target_points + [0.0, 9.0], 256)
    assert not np.array_equal(moved[1], alone[1])
    assert len(bank_warp._LABELS) == 2


# -- what is pasted: skin only at the rim, the target's softness, colour from skin alone ------------

SKIN_BGR = (120, 145, 200)
GREY_BGR = (200, 200, 195)  # a studio backdrop: B's own background
STUBBLE_BGR = (95, 118, 170)  # skin under stubble: darker, and still skin to the skin gate


def synthetic_bank(points: np.ndarray, inset: float = 0.1, texture: float = 0.0, seed: int = 0):
    """One bank face whose jaw landmarks lie OUT in the backdrop: the cheeks end ``inset`` x the
    face's half width inside them (dlib's jaw points often sit a few pixels outside the cheek)."""
    from stages.faces.bank import FaceBank

    image = np.empty((256, 256, 3), np.uint8)
    image[:] = GREY_BGR
    jaw = points[:17].copy()
    jaw[:, 0] = points[30, 0] + (jaw[:, 0] - points[30, 0]) * (1.0 - inset)
    shrunk = np.vstack([jaw, points[17:27] - [0, 30]])
    cv2.fillConvexPoly(image, cv2.convexHull(np.round(shrunk).astype(np.int32)), SKIN_BGR)
    if texture:
        noise = np.random.default_rng(seed).normal(0, texture, image.shape[:2])[..., None]
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
    for part in (slice(36, 42), slice(42, 48), slice(48, 60)):
        cv2.fillConvexPoly(image, np.round(points[part]).astype(np.int32), (60, 40, 90))
    landmarks = points[None].astype(np.float32)
    return FaceBank(image[None], landmarks, describe(landmarks), np.zeros(1, np.int32), "photos", "synthetic"), shrunk


def paint_one(bank, target: np.ndarray, points: np.ndarray, own_eyes: bool = False, **options) -> Face:
    """``target`` (a 256 crop with landmarks ``points``) painted from ``bank`` by a fresh ``BankSwapper(bank,
    **options)``, as the first face of no track."""
    from stages.faces.bank_swap import BankSwapper

    face = Face(box=np.array([0, 0, 256, 256], np.float32), crop=target, landmarks=points, matrix=np.eye(2, 3))
    BankSwapper(bank, **options).paint(face, 0, own_eyes=own_eyes)
    return face


def test_no_pixel_beyond_the_bank_faces_own_outline_is_pasted() -> None:
    """The blend seam of the caught fakes: B's backdrop, inside B's jaw landmarks but outside B's
    cheek, pasted onto the target's cheek as a pale stripe. The paint mask must stop at B's skin."""
    points = open_mouth(0.02)
    bank, shrunk = synthetic_bank(points, inset=0.1)
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    face = paint_one(bank, target, points)
    backdrop = np.ones((256, 256), np.uint8)
    cv2.fillConvexPoly(backdrop, cv2.convexHull(np.round(shrunk).astype(np.int32)), 0)
    backdrop = warp_face(backdrop * 255, points, points, 256) > 127  # the bank's backdrop in the target crop
    # the old mask (the target's hull) reached over the backdrop: the case is a real one
    assert (face_mask(points, 256)[backdrop] > 0.5).sum() > 500
    assert face.swapped_mask[backdrop].max() < 0.02, "pixels of B's backdrop are pasted"
    # and the face is still painted: the whole feature core and most of the cheeks
    assert face.swapped_mask[tuple(np.round(points[[30, 33, 51, 62]][:, ::-1]).astype(int).T)].min() > 0.95
    assert (face.swapped_mask > 0.5).sum() > 0.6 * (face_mask(points, 256) > 0.5).sum()
    pale = np.abs(face.swapped.astype(int) - GREY_BGR).sum(axis=2) < 30
    assert not pale.any(), "the backdrop's colour shows in the painted crop"


def test_bank_hair_the_segmenter_leaves_out_is_not_painted_even_in_skin_colour() -> None:
    """B's light-brown hair over her temple is skin-coloured, so the colour gate let it through: a
    turned boy on the crowd clip got a dark strand across his temple. The visible-face cut stops it."""
    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0)
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    temple = np.round((points[15] + points[45]) / 2).astype(int)  # beside the eye, off the features
    hair = np.ones((256, 256), np.float32)
    cv2.circle(hair, tuple(int(v) for v in temple), 10, 0.0, -1)
    masks = {cut: paint_one(bank, target, points, visible_face=(lambda crop: hair) if cut else None).swapped_mask
             for cut in (False, True)}
    x, y = temple
    assert masks[False][y, x] > 0.5  # the colour gate alone paints it: the case is a real one
    assert masks[True][y, x] < 0.05
    cheek = np.round((points[3] + points[31]) / 2).astype(int)  # the rest of the face is still painted
    assert masks[True][cheek[1], cheek[0]] > 0.9


def test_the_targets_own_hair_or_glasses_at_the_rim_keep_their_pixels() -> None:
    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0)
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    temple = (int(points[1][0] + 12), int(points[1][1]))  # a dark glasses temple across the cheek's rim
    cv2.line(target, temple, (int(points[0][0] - 10), int(points[0][1] - 5)), (30, 30, 30), 3)
    face = paint_one(bank, target, points)
    dark = (target.max(axis=2) < 60) & (face_mask(points, 256) > 0.5)
    assert dark.sum() > 20  # the temple lies inside the old mask
    assert face.swapped_mask[dark].max() < 0.1 and np.array_equal(face.swapped[dark], target[dark])


def test_a_blurred_target_gets_a_painted_face_no_sharper_than_itself() -> None:
    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0, texture=12.0)
    inner = skin_mask(points, 256, features=True)
    sharp_bank = fine_ratio(cv2.cvtColor(bank.crops[0], cv2.COLOR_BGR2GRAY), inner)
    for sigma in (1.0, 2.0):
        target = cv2.GaussianBlur(synthetic_bank(points, inset=0.0, texture=12.0, seed=1)[0].crops[0], (0, 0), sigma)
        face = paint_one(bank, target, points)
        own = fine_ratio(cv2.cvtColor(target, cv2.COLOR_BGR2GRAY), inner)
        painted = fine_ratio(cv2.cvtColor(face.swapped, cv2.COLOR_BGR2GRAY), inner)
        assert painted <= 1.1 * own < 0.5 * sharp_bank, (sigma, painted, own, sharp_bank)
    # a target as sharp as the bank is not blurred
    target = synthetic_bank(points, inset=0.0, texture=12.0, seed=1)[0].crops[0]
    face = paint_one(bank, target, points)
    assert fine_ratio(cv2.cvtColor(face.swapped, cv2.COLOR_BGR2GRAY), inner) > 0.8 * sharp_bank


def _blurred_footage():
    """Landmarks, a textured bank, the feature edges the blur is read on, and ``blurred(sigma)``: another
    textured face blurred by ``sigma`` (0: as sharp as the bank) with grain added after, as footage has."""
    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0, texture=12.0)
    inner = skin_mask(points, 256, features=True)
    edges = inner - without_features(inner, points)
    sharp = synthetic_bank(points, inset=0.0, texture=12.0, seed=1)[0].crops[0]
    noise = np.random.default_rng(2).normal(0.0, 3.0, sharp.shape)

    def blurred(sigma: float) -> np.ndarray:
        return np.clip(cv2.GaussianBlur(sharp, (0, 0), sigma) + noise, 0, 255).astype(np.uint8) if sigma else sharp

    return points, bank, edges, blurred


def test_footage_blurred_past_the_finest_band_gets_a_face_as_blurred() -> None:
    """A small face enlarged from soft footage keeps grain in its finest band, so that band alone called
    for a light blur while the features were smeared over several pixels (a sharp eye on a blurred
    profile, on the crowd clip). The coarse band is matched too; a target merely as sharp is left alone."""
    from stages.faces.bank_warp import coarse_blur_to_match, coarse_ratio

    points, bank, edges, blurred = _blurred_footage()
    sharp, smeared = blurred(0.0), blurred(4.0)
    coarse = lambda image: coarse_ratio(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), edges)  # noqa: E731
    assert blur_to_match(bank.crops[0], smeared, edges) < 2.0  # the finest band is fooled by the grain
    assert coarse_blur_to_match(bank.crops[0], smeared, edges) >= 2.5
    face = paint_one(bank, smeared, points)
    assert coarse(face.swapped) < 1.5 * coarse(smeared) < 0.5 * coarse(bank.crops[0])
    assert coarse_blur_to_match(bank.crops[0], sharp, edges) == 0.0


def test_footage_smeared_past_the_first_coarse_octave_is_matched_an_octave_coarser(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The crowd's side-on woman, smeared by motion over more crop pixels than the first coarse octave
    reads, kept B's eye and teeth crisp at its blur (a blind judge's "eye and mouth crisper than the
    motion-blurred ear and hair"). The second octave (sigma 4 over 16) asks for more; a target only
    as soft as the first octave's reach is left to it."""
    from stages.faces import bank_warp

    _, bank, edges, blurred = _blurred_footage()
    smeared, soft = blurred(7.0), blurred(1.2)
    both = bank_warp.coarse_blur_to_match(bank.crops[0], smeared, edges)
    soft_both = bank_warp.coarse_blur_to_match(bank.crops[0], soft, edges)
    monkeypatch.setattr(bank_warp, "COARSE_OCTAVES", bank_warp.COARSE_OCTAVES[:1])
    first = bank_warp.coarse_blur_to_match(bank.crops[0], smeared, edges)
    assert both >= first + 1.0  # the first octave stops short of the smear
    assert soft_both == bank_warp.coarse_blur_to_match(bank.crops[0], soft, edges)


def test_a_soft_bank_face_on_a_sharp_target_is_sharpened_toward_it() -> None:
    """A bank face enlarged onto a larger face and resampled by the warp is softer than the footage:
    the "waxy, airbrushed" face blind viewers named. It is sharpened toward the target's sharpness, and
    a bank face as sharp as the target is left alone."""
    from stages.faces.bank_warp import sharpen, sharpen_to_match

    points = open_mouth(0.02)
    inner = skin_mask(points, 256, features=True)
    sharp = synthetic_bank(points, inset=0.0, texture=12.0, seed=1)[0].crops[0]
    soft = cv2.GaussianBlur(synthetic_bank(points, inset=0.0, texture=12.0)[0].crops[0], (0, 0), 0.6)
    ratio = lambda image: fine_ratio(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), inner)  # noqa: E731
    amount = sharpen_to_match(soft, sharp, inner)
    assert amount > 0
    assert abs(ratio(sharpen(soft, amount)) - ratio(sharp)) < abs(ratio(soft) - ratio(sharp)) * 0.7
    assert sharpen_to_match(sharp, sharp, inner) == 0.0


def test_a_clean_bank_face_gets_the_targets_grain_and_no_more() -> None:
    """Waxy skin was a viewer's cue: a bank face cleaner than a grainy target gets fresh grain up to the
    target's level (a new draw each frame), a target no grainier than the bank gets none, and a target
    whose fine band is structure (strong edges) rather than grain is not matched with noise."""
    from stages.faces.bank_warp import fine_std

    def grain_to_match(image: np.ndarray, target: np.ndarray, weights: np.ndarray, seed: int) -> np.ndarray:
        return add_grain(image, missing_grain(image, target, weights), weights, seed)  # as BankSwapper.paint

    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0)
    skin = skin_mask(points, 256)
    gray = lambda image: cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # noqa: E731
    grainy = synthetic_bank(points, inset=0.0, texture=2.5, seed=3)[0].crops[0]
    want = fine_std(gray(grainy), skin)
    first, second = (paint_one(bank, grainy, points).swapped for _ in range(2))
    assert fine_std(gray(bank.crops[0]), skin) < 0.3 * want
    assert 0.8 * want <= fine_std(gray(first), skin) <= 1.2 * want
    frame_two = grain_to_match(bank.crops[0], grainy, skin, seed=2)
    assert np.abs(frame_two.astype(int) - grain_to_match(bank.crops[0], grainy, skin, seed=1).astype(int)).max() > 0
    assert np.array_equal(first, second)  # the same frame draws the same grain: a run is reproducible
    clean = synthetic_bank(points, inset=0.0, seed=4)[0].crops[0]
    assert np.array_equal(grain_to_match(bank.crops[0], clean, skin, seed=1), bank.crops[0])
    lined = clean.copy()
    for row in range(0, 256, 12):  # wrinkles or a rim: strong thin lines, no grain between them
        cv2.line(lined, (0, row), (255, row), (40, 40, 40), 1)
    fine = gray(lined).astype(np.float32) - cv2.GaussianBlur(gray(lined).astype(np.float32), (0, 0), 1.0)
    assert np.sqrt((fine[skin > 0.5] ** 2).mean()) > 10  # a plain standard deviation would ask for that much
    added = grain_to_match(bank.crops[0], lined, skin, seed=1).astype(np.float32) - bank.crops[0]
    assert np.abs(added).mean() < 1.5


def test_the_colour_match_is_measured_on_skin_not_on_the_eyes_or_lips() -> None:
    """B's pale blue eyes must not count as skin: the skin (and the eyes) of two bank faces that differ
    only in eye colour come out of the transfer alike."""
    points = open_mouth(0.02)
    base, _ = synthetic_bank(points, inset=0.0)
    target = np.full((256, 256, 3), (90, 130, 170), np.uint8)
    out = []
    for eye in ((40, 60, 90), (230, 190, 170)):
        image = base.crops[0].copy()
        for part in (slice(36, 42), slice(42, 48)):
            cv2.fillConvexPoly(image, np.round(points[part]).astype(np.int32), eye)
        ratio, offset = reinhard_map(image, target, skin_mask(points, 256))
        out.append(apply_colour_and_light(image, ratio, offset).astype(int))
    cheek = tuple(np.round(((points[3] + points[48]) / 2)[::-1]).astype(int))
    assert np.abs(out[0][cheek] - out[1][cheek]).max() <= 1
    assert np.abs(out[0][cheek] - target[cheek]).max() <= 4  # and the skin lands on the target's
    for part in (slice(36, 42), slice(42, 48), slice(48, 60)):
        centre = tuple(np.round(points[part].mean(axis=0)[::-1]).astype(int))
        assert skin_mask(points, 256)[centre] == 0.0 and skin_mask(points, 256, features=True)[centre] > 0


def test_the_bank_face_takes_the_targets_light_across_the_face_but_not_its_features() -> None:
    """A flat-lit bank face on a side-lit head was the pasted look viewers named: with the shading
    match its cheeks step from dark to light as the target's do (Reinhard alone gives one flat level),
    while the target's own eyes, drawn white where the bank's are dark, do not show through."""

    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0, texture=2.0)
    flat = synthetic_bank(points, inset=0.0, texture=2.0, seed=5)[0].crops[0].astype(np.float32)
    light = np.linspace(0.55, 1.15, 256, dtype=np.float32)[None, :, None]  # lit from the viewer's right
    target = np.clip(flat * light, 0, 255).astype(np.uint8)
    for part in (slice(36, 42), slice(42, 48)):
        cv2.fillConvexPoly(target, np.round(points[part]).astype(np.int32), (250, 250, 250))
    left, right = (np.round((points[side] + points[30]) / 2).astype(int) for side in (3, 13))
    eye = np.round(points[36:42].mean(axis=0)).astype(int)

    def lightness(image: np.ndarray, at: np.ndarray) -> float:
        x, y = at
        return float(cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[y - 3:y + 4, x - 3:x + 4, 0].mean())

    step = {}
    for shading in (0.0, 0.3):
        face = paint_one(bank, target, points, shading=shading, grain=False)
        step[shading] = lightness(face.swapped, right) - lightness(face.swapped, left)
        assert lightness(face.swapped, eye) < lightness(target, eye) - 120  # the bank's eyes, not the target's
    wanted = lightness(target, right) - lightness(target, left)
    assert wanted > 30
    assert abs(step[0.0]) < 0.25 * wanted  # one mean and spread: flat
    assert 0.6 * wanted < step[0.3] < 1.3 * wanted


def test_at_the_rim_the_bank_face_follows_a_shadow_closer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A jaw in shadow under a lit cheek: the inner face's wide light field spread the shadow thin, so
    B's jaw stayed lighter than the neck beside it (``retalking_face5``'s seam). The rim's narrower
    field (``bank_warp.rim_share``) follows it; the middle of the face keeps the wide field."""
    from stages.faces import bank_swap, bank_warp

    points = open_mouth(0.02)
    iod = inter_ocular(points)
    bank, _ = synthetic_bank(points, inset=0.0, texture=2.0)
    flat = synthetic_bank(points, inset=0.0, texture=2.0, seed=5)[0].crops[0].astype(np.float32)
    rows = np.arange(256, dtype=np.float32)[:, None, None]
    shadow_from = points[8, 1] - 0.5 * iod  # the lowest half eye distance of the face, and below it
    light = np.where(rows > shadow_from, 0.8, 1.0).astype(np.float32)  # within SHADING_MOST
    target = np.clip(flat * cv2.GaussianBlur(light, (0, 0), 0.05 * iod)[..., None], 0, 255).astype(np.uint8)
    jaw = np.round(points[8] + (points[57] - points[8]) * 0.2 * iod / np.linalg.norm(points[57] - points[8])).astype(int)
    nose = np.round(points[30]).astype(int)
    share = bank_warp.rim_share(points, 256)
    assert share[tuple(jaw[::-1] // bank_warp.SHADING_SCALE)] == 1.0 and share[tuple(nose[::-1] // bank_warp.SHADING_SCALE)] == 0.0

    def lightness(image: np.ndarray, at: np.ndarray) -> float:
        x, y = at
        return float(cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[y - 2:y + 3, x - 2:x + 3, 0].mean())

    with_rim = paint_one(bank, target, points, shading=0.3, grain=False).swapped
    monkeypatch.setattr(bank_swap, "RIM_SHADING", 1.0)  # no narrower field at the rim
    wide = paint_one(bank, target, points, shading=0.3, grain=False).swapped
    wanted = lightness(target, jaw)
    assert abs(lightness(with_rim, jaw) - wanted) < 0.6 * abs(lightness(wide, jaw) - wanted)
    assert abs(lightness(with_rim, nose) - lightness(wide, nose)) < 2.0


@pytest.mark.parametrize("clip, painted_with, other_sex", [
    ("people/retalking_face4_woman_blue_bg_talk.mp4", "woman_pexels_wolfganglanger", False),
    ("people/lp_d19_man_glasses_white_sweater.mp4", "talking_man_pyfeat", False),
    # the bundled woman's own footage: painting her with herself would be no swap, so the man paints
    # her, and her own brows and eyes stay (``bank_eyes.own_brows_and_eyes``)
    ("WolfgangLanger_Pexels.mp4", "talking_man_pyfeat", True),
])
def test_the_bundled_people_paint_each_face_with_someone_of_its_sex_and_never_itself(
        clip: str, painted_with: str, other_sex: bool, tmp_path: Path, ffmpeg_bin: str) -> None:
    """A man's face on a woman's head was the first thing viewers named: with ``swap.face`` empty each
    face track gets the bundled person of its sex (a white man is nearer the bundled white woman than
    the bundled East-Asian man in dlib's embedding, so nearness alone would not do)."""
    from pipeline.cli.video_job import run_in_memory

    short = tmp_path / "short.mp4"
    ffmpeg_make(ffmpeg_bin, "-i", media(clip), "-frames:v", "6", "-an", "-c:v", "libx264", "-crf", "16", short)
    frames, stats = run_in_memory(short, load_config())
    painted = [face.extras.get("bank_person") for frame in frames for face in frame.faces if face.selected]
    assert len(painted) == 6 and set(painted) == {painted_with}
    choices = {face.extras["bank_choice"] for frame in frames for face in frame.faces if face.selected}
    assert {choice.other_sex for choice in choices} == {other_sex}


def test_a_face_of_a_bundled_person_is_never_painted_with_themselves() -> None:
    from stages.faces.bank_choice import Choice, choose_identity
    from stages.swap import bundled_identities

    identities = bundled_identities()
    assert choose_identity(identities[0], identities).index == 1
    assert choose_identity(identities[1], identities).index == 0
    assert choose_identity(identities[0], identities[:1]).index == 0  # the only one there is: painted all the same
    # each bundled person's only other is of the other sex; a user's one person is no choice at all
    assert choose_identity(identities[0], identities) == Choice(1, other_sex=True)
    assert choose_identity(identities[1], identities) == Choice(0, other_sex=True)
    assert choose_identity(identities[1], identities[:1]) == Choice(0, other_sex=False)


def test_a_face_whose_sex_is_in_doubt_keeps_its_own_brows_and_eyes() -> None:
    """A boy in the crowd clip read P(woman) 0.53-0.64 and got the woman's eyeliner: a face the
    likeness model is unsure of keeps its own brows and eyes, whichever bank paints it."""
    from models.likeness import woman_probability
    from stages.faces.bank_choice import SEX_DOUBT, choose_identity
    from stages.swap import bundled_identities

    identities = bundled_identities()
    man, woman = (identities[0], identities[1]) if woman_probability(identities[0]) < 0.5 else identities[::-1]

    def blend(share: float) -> np.ndarray:
        mixed = (1.0 - share) * man + share * woman
        return mixed / np.linalg.norm(mixed) * np.linalg.norm(man)

    low, high = 0.0, 1.0  # the mix of the two whose P(woman) is 0.5
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if woman_probability(blend(middle)) < 0.5 else (low, middle)
    doubtful = blend((low + high) / 2)
    assert abs(woman_probability(doubtful) - 0.5) < SEX_DOUBT
    assert choose_identity(doubtful, identities).keeps_own_eyes
    assert not choose_identity(man, [woman, man]).unsure and not choose_identity(woman, [man, woman]).unsure


def test_a_long_session_of_passing_faces_keeps_little_per_track_state() -> None:
    """Live meets face after face for hours: the per-track light, blur and measures of faces long
    gone are dropped, so the state does not grow with every face ever seen."""
    from stages.faces.bank_swap import TRACKS_KEPT, BankSwapper

    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0, texture=2.0)
    swapper = BankSwapper(bank)
    target = synthetic_bank(points, inset=0.0, texture=2.0, seed=5)[0].crops[0]
    for track in range(200):
        face = Face(box=np.array([0, 0, 256, 256], np.float32), crop=target, landmarks=points, matrix=np.eye(2, 3),
                    track_id=track)
        swapper.paint(face, track * 40)  # each face gone long before the next comes
    held = len(swapper._smooth) + len(swapper._measures)
    assert 0 < held <= 3 * TRACKS_KEPT


def test_between_open_lips_the_targets_own_mouth_shows_and_b_paints_the_lips() -> None:
    """A bank face with a closed mouth on an open one stretched lip skin over the gap (a "melted
    mouth"); a grin on a spoken "o" squeezed the teeth. The opening is the target's, the lips B's."""
    from stages.faces.bank_mouth import mouth_interior

    closed, opened = open_mouth(0.0), open_mouth(0.1)
    closed[[65, 66, 67]] = closed[[63, 62, 61]]  # the inner lips together (the mean face's are parted)
    assert mouth_interior(closed, 256) is None
    # B's lips drawn filled with lip colour over an opening nearly as wide as the target's: a bank
    # whose widest mouth is far narrower keeps the target's own lips too (``test_bank_mouth``)
    bank, _ = synthetic_bank(open_mouth(0.06))
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    cv2.fillPoly(target, [np.round(opened[60:68]).astype(np.int32)], (250, 250, 250))  # the target's teeth
    centre = np.round(opened[[62, 66]].mean(axis=0)).astype(int)
    lip = np.round(opened[[51, 62]].mean(axis=0)).astype(int)  # in the upper lip, outside the opening
    painted = {}
    for mouth in ("target", "bank"):
        painted[mouth] = paint_one(bank, target, opened, mouth=mouth).swapped
    assert painted["target"][centre[1], centre[0]].min() > 240  # the target's teeth
    assert painted["bank"][centre[1], centre[0]].min() < 200  # B's skin or lip stretched over the gap: what this replaces
    lips = [painted[mouth][lip[1], lip[0]].astype(int) for mouth in ("target", "bank")]
    assert lips[0].max() < 200 and np.abs(lips[0] - lips[1]).max() <= 2  # the lip itself stays B's


def test_the_targets_own_upper_lip_shows_so_no_bank_moustache_travels() -> None:
    """The bundled man's thin moustache, warped onto clean-shaven faces, was the ghost viewers named
    on every one of his swaps. Between the nose and the lip the target's skin shows; the lips stay B's."""

    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points)
    cv2.fillPoly(bank.crops[0], [np.round(np.concatenate([points[31:36], points[[54, 52, 50, 48]]])).astype(np.int32)],
                 (30, 30, 30))  # B's moustache
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    philtrum = np.round(points[[33, 51]].mean(axis=0)).astype(int)
    lip = np.round(points[[57, 66]].mean(axis=0)).astype(int)  # the lower lip: B's
    painted = {}
    for upper_lip in ("target", "bank"):
        painted[upper_lip] = paint_one(bank, target, points, upper_lip=upper_lip).swapped.astype(int)
    skin = np.array(SKIN_BGR)
    assert np.abs(painted["target"][philtrum[1], philtrum[0]] - skin).max() <= 3  # no moustache
    assert np.abs(painted["bank"][philtrum[1], philtrum[0]] - skin).max() > 30  # B's moustache: what this removes
    assert np.abs(painted["target"][lip[1], lip[0]] - skin).max() > 30  # B's lip still painted


def test_under_a_stubbled_bank_face_the_targets_own_chin_and_mouth_corners_show_and_b_paints_the_lips() -> None:
    """The bundled man's stubble covers his chin and the skin beside his mouth; kept only under his
    nose, it showed at the mouth's corners and on the chin of clean-shaven faces."""
    from stages.faces.bank_swap import beard_area

    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points)
    stubble = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(stubble, [np.round(np.concatenate([points[31:36], points[12:3:-1]])).astype(np.int32)], 1)
    lips = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(lips, [np.round(points[48:60]).astype(np.int32)], 1)
    bank.crops[0][(stubble > 0) & (lips == 0)] = (70, 80, 90)  # B's stubble round the mouth and over the chin
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    width = np.linalg.norm(points[54] - points[48])
    corner = np.round(points[54] + [0.18 * width, 0.0]).astype(int)  # beside the mouth's corner
    chin = np.round(points[[57, 8]].mean(axis=0)).astype(int)
    lip = np.round(points[[57, 66]].mean(axis=0)).astype(int)
    nose = np.round(points[30]).astype(int)
    area = beard_area(points, 256)
    assert area[corner[1], corner[0]] > 0.9 and area[chin[1], chin[0]] > 0.9
    assert area[lip[1], lip[0]] < 0.05 and area[nose[1], nose[0]] < 0.05
    painted = {}
    for upper_lip in ("beard", "target"):
        painted[upper_lip] = paint_one(bank, target, points, upper_lip=upper_lip).swapped.astype(int)
    skin = np.array(SKIN_BGR)
    for spot in (corner, chin):
        assert np.abs(painted["beard"][spot[1], spot[0]] - skin).max() <= 4  # the target's own skin
        assert np.abs(painted["target"][spot[1], spot[0]] - skin).max() > 12  # the upper lip alone: B's stubble there
    assert np.abs(painted["beard"][lip[1], lip[0]] - skin).max() > 30  # B's lip still painted


def test_a_soul_patch_in_the_margin_b_paints_round_its_lips_takes_the_targets_tone() -> None:
    """B paints a margin round its lips inside the beard area (dlib's lip outline lies inside a full
    lip); the bundled man's soul patch, just under his lower lip, lay in it and showed as a dark spot
    under the lip of every clean-shaven man he painted (``retalking_face2``). The margin keeps B's
    fine texture and takes the target's tone; B's lips stay B's."""
    points = open_mouth(0.02)
    iod = inter_ocular(points)
    bank, _ = synthetic_bank(points)
    down = (points[57] - points[51]) / np.linalg.norm(points[57] - points[51])
    patch = np.round(points[57] + down * 0.05 * iod).astype(int)
    cv2.circle(bank.crops[0], (int(patch[0]), int(patch[1])), max(2, int(round(0.04 * iod))), STUBBLE_BGR, -1)
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    painted = paint_one(bank, target, points, upper_lip="beard", grain=False, sharpen=False).swapped.astype(int)
    skin = np.array(SKIN_BGR)
    lip = np.round(points[[57, 66]].mean(axis=0)).astype(int)
    assert np.abs(painted[patch[1], patch[0]] - skin).max() <= 6  # the target's tone, not B's dark patch
    assert np.abs(painted[lip[1], lip[0]] - skin).max() > 30  # B's lip still painted


def test_the_beard_area_fades_out_over_the_cheeks_beside_the_mouth_and_stops_short_at_the_nose() -> None:
    """A target's stubble that stopped along a line where B's smooth cheek began was a judge's cue: beside
    and below the mouth the area's edge fades outward over a wide band; beside the nostrils it stays narrow."""
    from stages.faces.bank_swap import BEARD_REACH, beard_area

    points = open_mouth(0.02)
    iod = inter_ocular(points)
    area = beard_area(points, 256)
    right, left = points[54], points[48]
    width = float(np.linalg.norm(right - left))
    along = (right - left) / width
    beside_mouth = np.round(right + along * (BEARD_REACH * width + 0.08 * iod)).astype(int)
    beside_nostril = np.round(points[35] + along * 0.12 * iod).astype(int)
    assert area[beside_mouth[1], beside_mouth[0]] > 0.15
    assert area[beside_nostril[1], beside_nostril[0]] < 0.03


def test_the_bundled_man_leaves_the_targets_beard_area_and_the_woman_and_a_users_person_bring_their_own() -> None:
    """A user's B with a moustache or beard wants it painted (dlib puts B's own 0.09 nearer with it);
    the bundled man's stubble shows as a ghost, so under him the target's skin stays wherever a beard
    grows; under the bundled woman, who has none, a target's own moustache kept was a grey band under
    her nose."""
    from models import BUNDLED_BANKS
    from stages.faces.bank import open_bank_file, read_bank_info
    from stages.swap import SwapConfig, upper_lip_of

    banks = {read_bank_info(path)["source"]: open_bank_file(str(path)) for path in BUNDLED_BANKS}
    man, woman = banks["talking_man_pyfeat"], banks["woman_pexels_wolfganglanger"]
    assert upper_lip_of(SwapConfig(), man) == "beard"
    assert upper_lip_of(SwapConfig(), woman) == "bank"
    assert upper_lip_of(SwapConfig(face="b.mp4"), man) == "bank"
    assert upper_lip_of(SwapConfig(face="b.mp4", bank_upper_lip="target"), woman) == "target"
    assert upper_lip_of(SwapConfig(bank_upper_lip="bank"), man) == "bank"


def glasses_on(image: np.ndarray, points: np.ndarray, bridge: bool = True) -> np.ndarray:
    """``image`` with a dark frame drawn round each eye and across the nose between them; without
    ``bridge``, only a dark line under each eye (a crease, a shadow: no glasses)."""
    out = image.copy()
    iod = inter_ocular(points)
    centres = [points[36:42].mean(axis=0), points[42:48].mean(axis=0)]
    half = (int(0.26 * iod), int(0.2 * iod))
    arc = (0, 360) if bridge else (45, 135)
    for centre in centres:
        cv2.ellipse(out, tuple(int(v) for v in np.round(centre)), half, 0, *arc, (35, 35, 35), 2, cv2.LINE_AA)
    if bridge:
        y = int(round(centres[0][1] - 0.05 * iod))
        cv2.line(out, (int(centres[0][0]) + half[0], y), (int(centres[1][0]) - half[0], y), (35, 35, 35), 2, cv2.LINE_AA)
    return out


def test_the_targets_glasses_frame_stays_over_the_painted_face_and_a_bare_face_keeps_no_line() -> None:
    """A bank face has no glasses; painting it took the rims away inside the face and left them at the
    temples: half a frame, faded. With a frame across the nose, the target's rims stay; with no frame
    there, a dark line under the eye (a crease, a shadow) is painted over like any skin."""
    from stages.faces.glasses import wears_glasses

    points = open_mouth(0.0)
    bank, _ = synthetic_bank(points)
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    for part in (slice(36, 42), slice(42, 48), slice(48, 60)):
        cv2.fillConvexPoly(target, np.round(points[part]).astype(np.int32), (60, 40, 90))
    iod = inter_ocular(points)
    below = np.round(points[36:42].mean(axis=0) + [0, 0.2 * iod]).astype(int)  # on the lower rim
    window = (slice(below[1] - 2, below[1] + 3), slice(below[0] - 2, below[0] + 3))
    framed, bare = glasses_on(target, points), glasses_on(target, points, bridge=False)
    frown = bare.copy()  # a frown's lines between the brows run up and down: no frame across the nose
    for x in np.linspace(points[39, 0], points[42, 0], 5)[1:-1]:
        cv2.line(frown, (int(x), int(points[21, 1])), (int(x), int(points[39, 1])), (35, 35, 35), 2, cv2.LINE_AA)
    assert wears_glasses(framed, points) > 0.9 and wears_glasses(bare, points) < 0.1
    assert wears_glasses(frown, points) < 0.1
    kept = paint_one(bank, framed, points).swapped
    lost = paint_one(bank, bare, points).swapped
    assert kept[window].min() < 60  # the rim, dark
    assert lost[window].min() > 90  # B's skin over the line


def test_b_s_proportions_bring_the_painted_face_nearer_b(swapped: tuple[list[Frame], Path], b_clip: Path) -> None:
    """With the target's proportions (``swap.bank_shape = 0``) only B's skin and features' look were
    painted; with B's (the default) the face is nearer B by dlib on average. Measured on these 12
    frames: 0.430 against 0.443 (a young track: only B's nose and eye corners are in yet; over 40
    frames of retalking_face2 the bundled man's were 0.42 against 0.59)."""
    from pipeline.cli.video_job import run_in_memory

    frames, _ = swapped
    config = bank_config(b_clip, f"decode.max_frames={TARGET_FRAMES}", "swap.bank_shape=0")
    flat, _ = run_in_memory(media(TARGET), config)
    b_identity = mean_embedding(list(video_embeddings(b_clip, step=10).values()))
    distances = {}
    for name, run in (("shaped", frames), ("flat", flat)):
        embeddings = frame_embeddings({f.index: f.image for f in run[::2]})
        distances[name] = float(np.mean([identity_distance(e, b_identity) for e in embeddings.values()]))
    assert distances["shaped"] < distances["flat"] - 0.005, distances


def test_a_squint_is_never_painted_with_a_shut_eye() -> None:
    """A grin narrows the eyes; the bundled woman laughs with shut eyes, and her shut lids warped onto
    a squint stretched lashes across an eye that shows its iris. A bank eye may be more open than the
    target's (it is squeezed into the squint) but not more closed."""
    squint = expressive(grin=0.04, shut=0.025)  # eyes a third open, grinning
    faces = [expressive(grin=0.04, shut=0.04), expressive(grin=0.04), expressive(), expressive()]  # shut, open, rest
    bank = describe(np.stack(faces))
    matcher = BankMatcher(bank, stickiness=0.0, groups=(UPPER, LOWER))
    points_only = BankMatcher(replace(bank, openness=None), stickiness=0.0, groups=(UPPER, LOWER))
    assert points_only.pick_groups(squint, -1, 0)[0].index == 0  # nearer in points and openings: the shut eye
    assert matcher.pick_groups(squint, -1, 0)[0].index == 1  # the open eye


def test_the_painted_core_reaches_below_the_lower_lip_outline_but_not_to_the_chin() -> None:
    """dlib's lower-lip outline often lies inside a full lip: retalking_face5's red lipstick below it
    was no skin, so it was left unpainted, a red lower lip under B's."""
    from stages.faces.bank_warp import feature_core

    points = open_mouth(0.03)
    core = feature_core(points, 256)
    iod = inter_ocular(points)
    just_below = np.round(points[57] + [0, 0.04 * iod]).astype(int)
    chin = np.round(points[[57, 8]].mean(axis=0)).astype(int)
    assert core[just_below[1], just_below[0]] and not core[chin[1], chin[0]]
