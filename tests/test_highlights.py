"""B's highlights no brighter than the target's (``stages.faces.highlights``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stages.faces.bank_warp import face_mask
from stages.faces.geometry import inter_ocular, template_in_crop
from stages.faces.highlights import WORK_SCALE, shine, shine_factor, shine_skin, without_excess
from tests.conftest import media

SIZE = 256
POINTS = template_in_crop(SIZE)
IOD = inter_ocular(POINTS)


def skin(light: float = 150.0) -> np.ndarray:
    """A crop of warm skin under a soft light from the left (BGR uint8)."""
    ramp = np.linspace(-12.0, 12.0, SIZE, dtype=np.float32)[None, :, None]
    colour = np.array([0.62, 0.78, 1.0], np.float32) * light
    return np.clip(colour + ramp * np.array([0.62, 0.78, 1.0], np.float32), 0, 255).repeat(SIZE, 0).astype(np.uint8)


def with_highlight(image: np.ndarray, centre: np.ndarray, lift: float) -> np.ndarray:
    """``image`` lit ``lift`` levels brighter in a spot 0.05 inter-ocular distances wide at ``centre``."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    spot = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * (0.05 * IOD) ** 2))
    return np.clip(image + lift * spot[..., None], 0, 255).astype(np.uint8)


def factor(painted: np.ndarray, target: np.ndarray) -> np.ndarray:
    return shine_factor(painted, target, face_mask(POINTS, SIZE, erode=0.0, feather=0.0), POINTS, POINTS)


def bridge() -> np.ndarray:
    return (POINTS[21] + POINTS[22]) / 2 * 0.5 + POINTS[27] * 0.5  # between the brows, over the nose's top


def test_b_s_shine_on_a_matte_target_is_taken_down_and_its_hue_kept() -> None:
    target = skin()
    painted = with_highlight(skin(), bridge(), 40.0)
    out = without_excess(painted, factor(painted, target))
    x, y = np.round(bridge()).astype(int)
    before = float(painted[y, x].astype(np.float32).mean() - target[y, x].astype(np.float32).mean())
    after = float(out[y, x].astype(np.float32).mean() - target[y, x].astype(np.float32).mean())
    assert before > 30 and after < 0.5 * before, (before, after)
    # a shade, not a grey patch: the channels keep their ratios
    ratio_before = painted[y, x].astype(np.float32) / painted[y, x, 2]
    ratio_after = out[y, x].astype(np.float32) / out[y, x, 2]
    assert np.abs(ratio_after - ratio_before).max() < 0.03
    # away from the spot (the cheek below the outer eye corner) nothing moves
    cx, cy = np.round(POINTS[36] + [0, 0.5 * IOD]).astype(int)
    assert np.abs(out[cy, cx].astype(int) - painted[cy, cx].astype(int)).max() <= 1


def test_a_shine_the_target_has_too_is_kept_and_the_target_s_own_is_not_painted_on() -> None:
    shiny = with_highlight(skin(), bridge(), 40.0)
    assert factor(shiny, shiny).min() > 0.99  # B's shine where the target shines as much
    assert factor(skin(), shiny).min() > 0.99  # only down: a matte B is not lit where the target is


def test_a_shine_the_target_has_nearby_is_kept_within_reach() -> None:
    # the target's highlight 0.08 inter-ocular distances beside B's: the same light on another face's shape
    target = with_highlight(skin(), bridge() + [0.08 * IOD, 0.0], 40.0)
    painted = with_highlight(skin(), bridge(), 40.0)
    x, y = np.round(bridge() / WORK_SCALE).astype(int)
    hull = face_mask(POINTS, SIZE, erode=0.0, feather=0.0)
    same_place = shine_factor(painted, target, hull, POINTS, POINTS)
    within_reach = shine_factor(painted, target, hull, POINTS, POINTS, reach=0.1)
    assert same_place[y, x] < 0.95 and within_reach[y, x] > 0.99, (same_place[y, x], within_reach[y, x])
    # a reach does not licence a shine where the target has none near
    far = shine_factor(painted, skin(), hull, POINTS, POINTS, reach=0.1)
    assert far[y, x] < 0.9
    # a negative reach holds B to the target's least nearby: a highlight the target has at the same
    # place, narrower than the reach, no longer licenses B's
    shiny = with_highlight(skin(), bridge(), 40.0)
    assert shine_factor(painted, shiny, hull, POINTS, POINTS)[y, x] > 0.99
    assert shine_factor(painted, shiny, hull, POINTS, POINTS, reach=-0.1)[y, x] < 0.95


def test_b_s_white_eyes_and_teeth_are_no_shine() -> None:
    painted, target = skin(), skin()
    for part in (slice(36, 42), slice(42, 48), slice(60, 68)):
        cv2.fillConvexPoly(painted, np.round(POINTS[part]).astype(np.int32), (235, 240, 245))
    out = without_excess(painted, factor(painted, target))
    for part in (slice(36, 42), slice(42, 48), slice(60, 68)):
        x, y = np.round(POINTS[part].mean(axis=0)).astype(int)
        assert np.abs(out[y, x].astype(int) - painted[y, x].astype(int)).max() <= 2


def test_shine_reads_a_spot_above_the_skin_s_slow_light_and_nothing_on_plain_skin() -> None:
    weights = shine_skin(face_mask(POINTS, SIZE, erode=0.0, feather=0.0), POINTS)
    lightness = lambda image: cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    plain, _ = shine(lightness(skin()), weights, IOD)
    spotted, _ = shine(lightness(with_highlight(skin(), bridge(), 40.0)), weights, IOD)
    x, y = np.round(bridge()).astype(int)
    assert plain[weights > 0.5].max() < 2.0  # a sloped light, blurred near the mask's edge, reads a little
    assert spotted[y, x] > 15.0


@pytest.mark.parametrize("clip", ["people/retalking_face2_man_map_bg_talk.mp4"])
def test_the_painted_face_shines_no_more_than_the_target_on_real_footage(clip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled man (filmed front-lit, a shiny brow ridge) painted on a man lit from above and the
    side (30 frames): his shine over the target's, read in the frame on the face's skin (the 95th
    percentile: the highlights, not the whole face), falls by at least 40 %."""
    from pipeline.cli.settings import load_config
    from pipeline.cli.video_job import run_in_memory
    from stages.faces import bank_swap

    def extra_shine() -> float:
        frames, _ = run_in_memory(media(clip), load_config(overrides=["decode.max_frames=30"]))
        excess = []
        for frame in frames[::3]:
            for face in frame.faces:
                if face.swapped is None:
                    continue
                points = np.asarray(face.landmarks, np.float64)
                height, width = frame.image.shape[:2]
                hull = face_mask(points, max(height, width), erode=0.0, feather=0.0)[:height, :width]
                weights = shine_skin(np.ascontiguousarray(hull), points)
                lightness = lambda image: cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
                out, _ = shine(lightness(frame.image), weights, inter_ocular(points))
                own, _ = shine(lightness(frame.meta["original"]), weights, inter_ocular(points))
                inside = weights > 0.5
                excess.append(float(np.percentile(np.maximum(out - own, 0.0)[inside], 95)))
        assert len(excess) >= 8
        return float(np.mean(excess))

    tamed = extra_shine()
    monkeypatch.setattr(bank_swap, "without_excess", lambda painted, factor: painted)
    untamed = extra_shine()
    assert untamed > 4.0 and tamed < 0.6 * untamed, (untamed, tamed)
