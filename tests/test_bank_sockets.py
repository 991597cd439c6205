"""The light in the eye sockets under the retrieval swap (``stages.faces.bank_sockets``): B's lids as
shaded as the target's, and never lighter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stages.faces.bank_sockets import socket_skin, socket_window
from stages.faces.geometry import inter_ocular
from tests.test_bank_swap import open_mouth, paint_one, synthetic_bank


def _at(points: np.ndarray, eye: slice, up: float) -> np.ndarray:
    """The pixel ``up`` x the eye's width above the middle of the eye's upper lid."""
    width = float(np.linalg.norm(points[eye][3] - points[eye][0]))
    return np.round(points[eye][1:3].mean(axis=0) - [0.0, up * width]).astype(int)


def test_the_socket_skin_holds_the_lids_but_not_the_eye_its_lashes_or_the_brow() -> None:
    points = open_mouth(0.0)
    skin, window = socket_skin(points, 256), socket_window(points, 256)
    lid = _at(points, slice(36, 42), 0.3)
    eye = np.round(points[36:42].mean(axis=0)).astype(int)
    brow = np.round(points[17:22].mean(axis=0)).astype(int)
    cheek = np.round(points[[2, 31]].mean(axis=0)).astype(int)
    assert skin[lid[1], lid[0]] == 1.0 and window[lid[1], lid[0]] > 0.9
    assert skin[eye[1], eye[0]] == 0.0 and window[eye[1], eye[0]] > 0.9  # the eye is lit with its socket
    assert skin[brow[1], brow[0]] == 0.0
    assert skin[cheek[1], cheek[0]] == 0.0 and window[cheek[1], cheek[0]] < 0.05


def _lightness(image: np.ndarray, at: np.ndarray) -> float:
    x, y = at
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[y - 1:y + 2, x - 1:x + 2, 0].mean())


def _target_with_sockets(points: np.ndarray, gain: float) -> np.ndarray:
    """B's own (flat-lit) face with its eye sockets' light times ``gain``: a brow that shades the eyes
    (below 1), or lids paler than the rest of the face (above 1)."""
    bank, _ = synthetic_bank(points, inset=0.0, texture=2.0, seed=5)
    face = bank.crops[0].astype(np.float32)
    light = 1.0 + (gain - 1.0) * cv2.GaussianBlur(socket_window(points, 256), (0, 0), 0.03 * inter_ocular(points))
    return np.clip(face * light[..., None], 0, 255).astype(np.uint8)


def test_a_shadowed_socket_shades_b_s_lids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wide light field took a socket in shadow for the lit brow and cheek around it: B's lids
    stayed pale under a dark brow (``lp_d18``, ``retalking_face2``)."""
    from stages.faces import bank_swap

    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0, texture=2.0)
    target = _target_with_sockets(points, 0.75)
    lid, cheek = _at(points, slice(36, 42), 0.3), np.round(points[[3, 31]].mean(axis=0)).astype(int)
    shaded = paint_one(bank, target, points, shading=0.3, grain=False).swapped
    monkeypatch.setattr(bank_swap, "shaded_sockets", lambda correction, *_: correction)  # the wide field alone
    wide = paint_one(bank, target, points, shading=0.3, grain=False).swapped
    wanted = _lightness(target, lid)
    assert abs(_lightness(shaded, lid) - wanted) < 0.5 * abs(_lightness(wide, lid) - wanted)
    assert abs(_lightness(shaded, cheek) - _lightness(wide, cheek)) < 1.0  # outside the sockets: as before


def test_a_socket_paler_than_the_face_does_not_make_b_s_lids_paler(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pale socket is the target's own look (its lids, its make-up), not the scene's light: lightening
    B's lids to it carried the target's identity onto B."""
    from stages.faces import bank_swap

    points = open_mouth(0.02)
    bank, _ = synthetic_bank(points, inset=0.0, texture=2.0)
    target = _target_with_sockets(points, 1.25)
    lid = _at(points, slice(42, 48), 0.3)
    shaded = paint_one(bank, target, points, shading=0.3, grain=False).swapped
    monkeypatch.setattr(bank_swap, "shaded_sockets", lambda correction, *_: correction)
    wide = paint_one(bank, target, points, shading=0.3, grain=False).swapped
    assert _lightness(shaded, lid) <= _lightness(wide, lid) + 0.5
