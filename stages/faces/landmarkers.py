"""68-point landmark backends behind one table: ``backend(image, face) -> (68, 2)`` in frame pixels.

Both give the iBUG 68-point layout used everywhere in facepipe:

* ``dlib`` (default): dlib's 68-point shape predictor; the model file ships in the
  ``face-recognition-models`` package (found with ``importlib.util.find_spec`` because importing
  that package fails on recent setuptools). dlib's cascade is sensitive to where it starts, and
  the detector's box (YuNet) is framed differently from the HOG boxes dlib was trained on. So the
  face is first cut out of the frame in a canonical frame built from the detector's five key
  points (eyes, mouth: position, size and roll), at a fixed resolution, and the predictor is run
  from ``samples`` slightly different starting boxes whose results are averaged; a second pass
  (``refine``) restarts from the eyes and mouth of the first result. On the turned, tilted
  ``einstein`` test face this brings the error from 0.20 (detector box as is) to 0.07 of the
  inter-ocular distance, and it reduces frame-to-frame jitter (dlib returns whole pixels).
* ``fan``: FAN from ``face-alignment``, offline only: its weights are not in any package and must
  already be in ``$TORCH_HOME/hub/checkpoints``; our boxes are used, never its own detector.

A new backend is a class with ``from_config(config, device)`` and ``__call__(image, face)``, plus
one line in ``LANDMARKERS``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Face
from pipeline.registry import Registry
from stages.faces.geometry import FLIP_68, transform

LANDMARKERS = Registry("landmark backend", {
    "dlib": "stages.faces.landmarkers:DlibLandmarks",
    "fan": "stages.faces.landmarkers:FanLandmarks",
}, setting="landmarks.backend")

JITTER_STARTS = 9  # how many starting boxes the dlib ensemble can use (len(_JITTER))

FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
FAN_URL = "https://www.adrianbulat.com/downloads/python-fan/" + FAN_FILE
DLIB_FILE = "shape_predictor_68_face_landmarks.dat"

# Starting boxes for the dlib ensemble: (box side, box centre) in units of the eye-to-mouth
# distance, the centre measured from the eyes' midpoint towards the mouth. ``_BASE_*`` were
# measured on dlib's own HOG-detector boxes (the boxes its predictor was trained from) against
# YuNet's key points and against the eye centres / mouth corners of dlib's 68 points.
_BASE_DETECTOR = (2.2, 0.45)
_BASE_SHAPE = (2.34, 0.46)
_JITTER = [(0.0, 0.0), (-0.2, 0.0), (0.2, 0.0), (0.0, -0.05), (0.0, 0.05),
           (-0.2, -0.05), (0.2, 0.05), (-0.2, 0.05), (0.2, -0.05)]
_CROP = 256  # the canonical crop dlib sees; the start box is half of it


def dlib_model_path(name: str = DLIB_FILE) -> Path:
    """A dlib model file (default: the 68-point predictor) inside the installed ``face_recognition_models``.

    Found by the package's location, not its ``pkg_resources`` helpers: setuptools no longer ships
    ``pkg_resources``, so ``face_recognition_models.*_location()`` fail to import on a fresh install.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise FacepipeError(f"dlib model {name} not found: pip install face-recognition-models")


def fan_weights_path() -> Path:
    """Where face-alignment looks for the FAN weights: ``$TORCH_HOME/hub/checkpoints``."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / FAN_FILE


def five_points(shape: np.ndarray) -> np.ndarray:
    """The detector's five key points (eye centres, nose tip, mouth corners) taken from 68 points."""
    return np.array([shape[36:42].mean(axis=0), shape[42:48].mean(axis=0), shape[30], shape[48], shape[54]])


def start_frame(box: np.ndarray, points: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """Eyes' midpoint, eye-to-mouth distance and roll (radians) of a face, to frame the landmark crop.

    From five key points when given (eyes 0-1, mouth corners 3-4); else from the box, with ratios
    measured between the detector's boxes and its points.
    """
    if points is not None:
        p = np.asarray(points, np.float64)
        eyes, mouth = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
        down = mouth - eyes
        distance = float(np.linalg.norm(down))
        if distance > 2.0:
            roll = float(np.arctan2(-down[0], down[1]))
            return eyes, distance, roll
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    distance = 0.5 * ((x1 - x0) / 2.05 + (y1 - y0) / 2.83)
    eyes = np.array([(x0 + x1) / 2, y0 + 0.38 * (y1 - y0)])
    return eyes, distance, 0.0


class DlibLandmarks:
    """dlib's shape predictor run from several canonical starts (see the module docstring)."""

    @classmethod
    def from_config(cls, config: Any, device: str) -> "DlibLandmarks":
        return cls(config.samples, config.flip, config.refine, config.first_samples)

    def __init__(self, samples: int, flip: bool, refine: int = 1, first_samples: int = 1) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(dlib_model_path()))
        self.samples = samples
        self.flip = flip
        self.refine = refine
        self.first_samples = first_samples

    def __call__(self, image: np.ndarray, face: Face) -> np.ndarray:
        points = face.points5
        samples = self.first_samples if self.refine else self.samples
        eyes, distance, roll = start_frame(face.box, points)
        shape = self._ensemble(image, eyes, distance, roll, samples, _BASE_DETECTOR)
        for _ in range(self.refine):
            eyes, distance, roll = start_frame(face.box, five_points(shape))
            shape = self._ensemble(image, eyes, distance, roll, self.samples, _BASE_SHAPE)
        return shape.astype(np.float32)

    def _ensemble(self, image: np.ndarray, eyes: np.ndarray, distance: float, roll: float, samples: int,
                  base: tuple[float, float]) -> np.ndarray:
        """Mean of the predictor run from ``samples`` starts; one upright crop serves them all."""
        down = np.array([-np.sin(roll), np.cos(roll)])
        center = eyes + down * base[1] * distance
        k = (_CROP / 2) / max(base[0] * distance, 1e-6)  # the base start box is half the crop
        cos, sin = np.cos(roll) * k, np.sin(roll) * k
        # frame -> crop: rotate by -roll about the centre, scale, centre in the crop
        matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
        matrix[:, 2] = _CROP / 2 - matrix[:, :2] @ center
        boxes = []
        for d_side, d_offset in _JITTER[:samples]:
            half = (base[0] + d_side) * distance * k / 2
            y = _CROP / 2 + d_offset * distance * k  # "down" is +y in the upright crop
            boxes.append(self._dlib.rectangle(round(_CROP / 2 - half), round(y - half),
                                              round(_CROP / 2 + half), round(y + half)))
        results = []
        for mirrored in (False, True) if self.flip else (False,):
            results.extend(self._predict(image, matrix, boxes, mirrored))
        return np.mean(results, axis=0)

    def _predict(self, image: np.ndarray, matrix: np.ndarray, boxes: list, mirrored: bool) -> list[np.ndarray]:
        import cv2
        if mirrored:  # the symmetric start boxes stay where they are
            matrix = np.array([[-1.0, 0.0, _CROP - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([matrix, [0, 0, 1]])
        crop = cv2.warpAffine(image, matrix, (_CROP, _CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rgb = np.ascontiguousarray(crop[:, :, ::-1])
        inverse = cv2.invertAffineTransform(matrix)
        shapes = []
        for box in boxes:
            points = np.array([(p.x, p.y) for p in self._predictor(rgb, box).parts()], np.float64)
            if mirrored:
                points = points[FLIP_68]
            shapes.append(transform(points, inverse))
        return shapes


class FanLandmarks:
    """FAN (face-alignment) on our boxes; offline only, with a one-line error when weights are missing."""

    @classmethod
    def from_config(cls, config: Any, device: str) -> "FanLandmarks":
        return cls(device)

    def __init__(self, device: str) -> None:
        path = fan_weights_path()
        if not path.is_file():
            raise FacepipeError(
                f"landmarks.backend = 'fan' needs {FAN_FILE} in {path.parent} (the face-alignment FAN weights, "
                f"from {FAN_URL}; facepipe never downloads at run time). Put the file there, or use "
                f"landmarks.backend = 'dlib', the default, which works without it")
        import face_alignment
        from types import SimpleNamespace

        try:
            self._fa = face_alignment.FaceAlignment(
                face_alignment.LandmarksType.TWO_D, device=device, flip_input=False, compile=False,
                face_detector="folder")  # the 'folder' detector loads no weights; we pass boxes
        except Exception as exc:  # a corrupt or wrong file: say which one
            raise FacepipeError(f"cannot load FAN weights {path}: {exc}") from None
        # FAN frames its crop from the box with a detector-specific scale; 165 suits YuNet boxes.
        self._fa.face_detector = SimpleNamespace(reference_scale=165.0)

    def __call__(self, image: np.ndarray, face: Face) -> np.ndarray:
        box = np.asarray(face.box, np.float64)
        result = self._fa.get_landmarks_from_image(np.ascontiguousarray(image[:, :, ::-1]), detected_faces=[box])
        if not result:
            raise FacepipeError("FAN returned no landmarks for a given box")
        return np.asarray(result[0][:, :2], np.float32)


assert JITTER_STARTS == len(_JITTER)
