"""The blend's colour transfer reads its statistics on the swap's skin, not on the painted person's features."""

from __future__ import annotations

import numpy as np

from stages.blend import RCT_SPREAD, SKIN_SPREAD, colour_region
from tests.test_blend_own_pixels import blend_one

SIZE = 96
SKIN = (slice(5, 30), slice(5, 90))
FEATURES = (slice(40, 70), slice(20, 76))


def blended(skin: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(output, original): a swap whose skin already has the target's colour, with features (a large
    dark patch: B's eyes and brows) where the target's face is plain skin."""
    rng = np.random.default_rng(5)
    original = np.clip(rng.normal((110, 140, 200), 6, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    swapped = original.copy()
    swapped[FEATURES] = (30, 35, 60)
    return blend_one(original, swapped, swapped_skin=skin), original


def skin_shift(output: np.ndarray, original: np.ndarray) -> float:
    return float(np.abs(output[SKIN].astype(float).mean(axis=(0, 1)) - original[SKIN].mean(axis=(0, 1))).max())


def test_skin_already_matched_stays_where_it_is() -> None:
    skin = np.ones((SIZE, SIZE), np.float32)
    skin[FEATURES] = 0.0
    output, original = blended(skin)
    assert skin_shift(output, original) < 3


def test_statistics_over_the_whole_mask_move_matched_skin() -> None:
    """What ``swapped_skin`` prevents: B's dark features, read as the face's colour, lighten its skin."""
    output, original = blended(None)
    assert skin_shift(output, original) > 10


def test_a_skin_too_small_to_measure_falls_back_to_the_mask_and_its_spread() -> None:
    """The skin's tight spread limit holds only where the statistics are read on skin: on the whole
    mask B's features are in them, and their spread is not the skin's."""
    mask = np.ones((20, 20), np.float32)
    tiny = np.zeros((20, 20), np.float32)
    tiny[0, 0] = 1.0
    region, spread = colour_region(mask, tiny)
    assert np.array_equal(region, mask) and spread == RCT_SPREAD
    half = np.zeros((20, 20), np.float32)
    half[:10] = 1.0
    region, spread = colour_region(mask, half)
    assert np.array_equal(region, half) and spread == SKIN_SPREAD


def test_read_on_skin_the_spread_is_held_near_the_swaps_own() -> None:
    """A target's blotchy skin beside B's even skin asked for twice the redness spread, and B's lips,
    far from the skin's mean, turned magenta: read on skin, the spread ratio stays within SKIN_SPREAD."""
    import cv2

    from stages.blend import SKIN_SPREAD

    rng = np.random.default_rng(7)
    lab = np.empty((SIZE, SIZE, 3), np.float32)
    lab[..., 0], lab[..., 1], lab[..., 2] = 150.0, 140.0 + rng.normal(0, 6, (SIZE, SIZE)), 140.0
    original = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)  # blotchy
    lab[..., 1] = 140.0 + rng.normal(0, 2, (SIZE, SIZE))
    lab[FEATURES[0], FEATURES[1], 1] = 165.0  # B's lips, redder than B's skin by 25
    swapped = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
    skin = np.ones((SIZE, SIZE), np.float32)
    skin[FEATURES] = 0.0
    out = cv2.cvtColor(blend_one(original, swapped, swapped_skin=skin), cv2.COLOR_BGR2LAB).astype(np.float32)[..., 1]
    lips_over_skin = float(out[FEATURES].mean() - out[SKIN].mean())
    assert lips_over_skin <= 25.0 * SKIN_SPREAD + 1.0  # at 2x it was about 50
