"""`facepipe convert` with the default stages and a pair model (the bundled 128-px one, or
``FACEPIPE_TEST_MODEL``): the swap happens, only near faces, without flicker. (The default painter, the
bundled bank, is tested in ``test_bank_swap.py``.)

"Swapped" means the person changed: the output face's identity embedding (dlib, ``tests.identity_check``)
is nearer the target identity than the source's. ``single_face.mp4`` (a man) is in no bundled model's
training; these tests convert it ``b2a`` (A's decoder paints woman A onto him). ``UNSEEN`` is another
clip no bundled model was trained on (see models/README.md); it is converted ``a2b`` (B painted on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.frame import Face
from stages.blend import apply_rct, lab_stats, shape_mask
from pipeline.media.decode import probe
from stages.swap import choose_faces
from tests.conftest import MEDIA, media, psnr, read_frames, run_cli
from stages.faces.identity import identity_distance
from tests.identity_check import frame_embeddings, reference

MODEL = os.environ.get("FACEPIPE_TEST_MODEL", "")  # empty: the bundled model
B2A = ("--set", "swap.direction='b2a'")  # paint A onto single_face.mp4's man
UNSEEN = "people/lp_d18_man_grey_hoodie_expressions.mp4"  # kept out of every bundled model's training
# Mean absolute change inside the blend mask: a decoder repainting its own person (a reconstruction)
# changes it by 4-6 levels, a real swap by 16-30.
SWAP_CHANGE = 10.0


def assert_identity_changed(swapped: list[np.ndarray], source: list[np.ndarray], target: str,
                            frames: list[int]) -> None:
    """On each of ``frames`` the output face is nearer ``target`` (a/b) than the source face is, and
    nearer ``target`` than the source's own identity."""
    goal = reference(target, str(MEDIA))
    out = frame_embeddings({i: swapped[i] for i in frames})
    before = frame_embeddings({i: source[i] for i in frames})
    assert len(out) >= 0.8 * len(frames), f"a face was found on only {len(out)}/{len(frames)} output frames"
    for index, embedding in out.items():
        to_target, to_source = identity_distance(embedding, goal), identity_distance(embedding, before[index])
        assert to_target < to_source, (f"frame {index}: output is {to_target:.2f} from identity {target} but "
                                       f"{to_source:.2f} from the source face: the person did not change")
        assert to_target < identity_distance(before[index], goal) - 0.15, (
            f"frame {index}: output only {to_target:.2f} from {target}, the source was "
            f"{identity_distance(before[index], goal):.2f}")


def assert_changed_inside_kept_outside(swapped: list[np.ndarray], plain: list[np.ndarray], masks: Path,
                                       frames: tuple[int, ...], min_inside: int) -> None:
    """On each of ``frames``: the blend mask covers more than ``min_inside`` pixels, the face inside it
    changed by more than SWAP_CHANGE, and everything beyond the mask grown by 15 px is kept (> 40 dB)."""
    for index in frames:
        mask = cv2.imread(str(masks / f"{index:06d}.png"), cv2.IMREAD_GRAYSCALE)
        inside = mask > 128
        assert inside.sum() > min_inside
        assert np.abs(swapped[index].astype(np.int16) - plain[index].astype(np.int16))[inside].mean() > SWAP_CHANGE
        near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((31, 31), np.uint8))
        assert psnr(swapped[index], plain[index], near == 0) > 40.0


def convert(source: Path, output: Path, *extra: str) -> dict:
    stats = output.with_suffix(".json")
    args = ["convert", source, "-o", output, "-q", "--stats", stats, *extra,
            "--set", f"swap.model={json.dumps(MODEL or 'bundled')}"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return {**json.loads(stats.read_text()), "stderr": result.stderr}


@pytest.fixture(scope="module")
def swapped_clip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The man's clip swapped to woman A, with its blend masks, and a passthrough of it."""
    folder = tmp_path_factory.mktemp("swap")
    source = media("single_face.mp4")
    masks = folder / "masks"
    stats = convert(source, folder / "swapped.mp4", "--write-masks", masks, *B2A)
    passthrough = folder / "plain.mp4"
    # the reference goes through the same BGR path with a stage that changes no pixel (a stage-less
    # --passthrough is one ffmpeg process that never converts to BGR: a different, lossless-er route)
    result = run_cli("convert", source, "-o", passthrough, "--set", "pipeline.stages=['detect']", "-q")
    assert result.returncode == 0, result.stderr
    return {"source": source, "out": folder / "swapped.mp4", "plain": passthrough, "masks": masks, "stats": stats}


def test_structure_kept(swapped_clip: dict) -> None:
    before, after = probe(swapped_clip["source"]), probe(swapped_clip["out"])
    assert after.frame_count == before.frame_count
    assert abs(after.duration - before.duration) <= 1 / before.fps + 0.01
    assert after.has_audio


def test_far_from_faces_unchanged_and_faces_swapped(swapped_clip: dict) -> None:
    swapped, plain = read_frames(swapped_clip["out"]), read_frames(swapped_clip["plain"])
    changed, with_face = 0, 0
    outside_scores = []
    for index, (a, b) in enumerate(zip(swapped, plain)):
        mask_file = swapped_clip["masks"] / f"{index:06d}.png"
        mask = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE) if mask_file.exists() else None
        if mask is None or mask.max() == 0:
            outside_scores.append(psnr(a, b))
            continue
        with_face += 1
        near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((31, 31), np.uint8))
        outside_scores.append(psnr(a, b, near == 0))
        inside = mask > 128
        if np.abs(a.astype(np.int16) - b.astype(np.int16))[inside].mean() > SWAP_CHANGE:
            changed += 1
    assert with_face >= 0.97 * len(plain), f"faces blended in {with_face}/{len(plain)} frames"
    assert min(outside_scores) >= 40.0, f"min PSNR outside the dilated mask {min(outside_scores):.1f} dB"
    assert changed >= 0.9 * with_face, f"face region changed in {changed}/{with_face} frames"
    assert_identity_changed(swapped, plain, "a", list(range(0, len(plain), 12)))


def test_unseen_person_is_swapped_and_the_rest_kept(tmp_path: Path) -> None:
    """Generality: another man no bundled model saw becomes B (a2b), only inside the mask."""
    source, masks = media(UNSEEN), tmp_path / "masks"
    limit = ("--set", "decode.max_frames=24")
    convert(source, tmp_path / "out.mp4", "--write-masks", masks, *limit)
    result = run_cli("convert", source, "-o", tmp_path / "plain.mp4", "-q", *limit, "--set", "pipeline.stages=['detect']")
    assert result.returncode == 0, result.stderr
    swapped, plain = read_frames(tmp_path / "out.mp4"), read_frames(tmp_path / "plain.mp4")
    assert len(swapped) == len(plain) == 24
    assert_changed_inside_kept_outside(swapped, plain, masks, (0, 12, 23), min_inside=2000)
    assert_identity_changed(swapped, plain, "b", [0, 12, 23])


def test_flicker_reported_and_bounded(swapped_clip: dict) -> None:
    blend = swapped_clip["stats"]["stages"]["blend"]
    assert blend["flicker_ratio"] is not None
    assert blend["flicker_ratio"] <= 1.5, blend


def test_no_face_clip_converts_unchanged_and_says_so(tmp_path: Path) -> None:
    source = media("no_face.mp4")
    stats = convert(source, tmp_path / "out.mp4")
    assert "no face found" in stats["stderr"]
    assert probe(tmp_path / "out.mp4").frame_count == probe(source).frame_count
    original, converted = read_frames(source), read_frames(tmp_path / "out.mp4")
    assert min(psnr(a, b) for a, b in zip(original[::5], converted[::5])) > 35.0


@pytest.mark.slow
def test_frames_without_face_pass_through(tmp_path: Path) -> None:
    source = media("face_noface.mov")  # the man, then a hard cut to a cartoon
    masks = tmp_path / "masks"
    convert(source, tmp_path / "out.mp4", "--write-masks", masks)
    run_cli("convert", source, "-o", tmp_path / "plain.mp4", "--set", "pipeline.stages=['detect']", "-q")
    swapped, plain = read_frames(tmp_path / "out.mp4"), read_frames(tmp_path / "plain.mp4")
    untouched = [i for i in range(len(plain)) if not (masks / f"{i:06d}.png").exists()
                 or cv2.imread(str(masks / f"{i:06d}.png"), cv2.IMREAD_GRAYSCALE).max() == 0]
    assert len(untouched) > 40  # the cartoon part
    assert min(psnr(swapped[i], plain[i]) for i in untouched) > 40.0


def test_side_by_side_preview(tmp_path: Path) -> None:
    out = tmp_path / "preview.mp4"
    convert(media("single_face.mp4"), out, "--preview", "side-by-side", "--set", "decode.max_frames=10")
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (1280, 360, 10)


# --- unit tests of the pieces ------------------------------------------------------------------

def _face(x: float, size: float, track: int) -> Face:
    return Face(box=np.array([x, 0, x + size, size], np.float32), track_id=track)


def test_face_choice() -> None:
    faces = [_face(0, 50, 1), _face(100, 80, 2), _face(300, 60, 3)]
    choose_faces(faces, "largest", [])
    assert [f.selected for f in faces] == [False, True, False]
    choose_faces(faces, "tracks", [1, 3])
    assert [f.selected for f in faces] == [True, False, True]
    choose_faces(faces, "all", [])
    assert all(f.selected for f in faces)


def test_mask_shaping_stays_inside_and_is_soft() -> None:
    mask = np.zeros((128, 128), np.float32)
    cv2.circle(mask, (64, 64), 40, 1.0, -1)
    shaped = shape_mask(mask, 4, 10)
    assert shaped[mask == 0].max() < 1e-3
    assert 0.05 < shaped[64, 64 - 26] < 0.95  # soft edge: 40 - 4 (erosion) - 10 (feather)
    assert shaped[64, 64] > 0.99


def test_reinhard_transfer_moves_colour_statistics() -> None:
    image = cv2.imread(str(media("single_face.jpg")))
    image = cv2.resize(image, (128, 128))
    weights = np.ones((128, 128), np.float32)
    warm = np.clip(image.astype(np.int16) + [0, 10, 40], 0, 255).astype(np.uint8)
    stats = np.concatenate([lab_stats(warm, weights), lab_stats(image, weights)])
    corrected = apply_rct(warm, stats)
    error_before = np.abs(lab_stats(warm, weights) - lab_stats(image, weights)).max()
    error_after = np.abs(lab_stats(corrected, weights) - lab_stats(image, weights)).max()
    assert error_after < 0.25 * error_before


# seamless (the most different path) runs by default; the two colour variants are in `pytest -m slow`
@pytest.mark.parametrize("sets", [["blend.method='seamless'"],
                                  pytest.param(["blend.color='hist'"], marks=pytest.mark.slow),
                                  pytest.param(["blend.color='none'", "blend.temporal=0.0"], marks=pytest.mark.slow)])
def test_blend_options_swap_the_face_and_keep_the_rest(tmp_path: Path, sets: list[str]) -> None:
    masks = tmp_path / "masks"
    extra = ["--set", "decode.max_frames=12", "--write-masks", masks, *B2A] + [x for s in sets for x in ("--set", s)]
    convert(media("single_face.mp4"), tmp_path / "out.mp4", *extra)
    run_cli("convert", media("single_face.mp4"), "-o", tmp_path / "plain.mp4", "-q", "--set", "decode.max_frames=12",
            "--set", "pipeline.stages=['detect']")
    swapped, plain = read_frames(tmp_path / "out.mp4"), read_frames(tmp_path / "plain.mp4")
    assert len(swapped) == len(plain) == 12
    assert_changed_inside_kept_outside(swapped, plain, masks, (3, 9), min_inside=500)
    assert_identity_changed(swapped, plain, "a", [3, 9])
