"""Output sizes asked for on the command line (``--size WxH``), shared by photos and the decoder."""

from __future__ import annotations

from pipeline.errors import FacepipeError


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` (either side may be -1 or 0: keep the aspect ratio) as (w, h); one-line error otherwise."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise FacepipeError(f"size {text!r}: give WIDTHxHEIGHT, e.g. 1280x720 or 640x-1") from None
    if (w <= 0 and h <= 0) or w > 16384 or h > 16384:
        raise FacepipeError(f"size {text!r}: give WIDTHxHEIGHT with at least one side above 0 (at most 16384)")
    return w, h


def fit_size(width: int, height: int, wanted: tuple[int, int], even: bool = False) -> tuple[int, int]:
    """The output size for ``wanted`` (a side <= 0 follows the aspect ratio; even sides for video)."""
    w, h = wanted
    if w <= 0:
        w = width * h / height
    if h <= 0:
        h = height * w / width
    step = 2 if even else 1
    return max(step, int(round(w / step)) * step), max(step, int(round(h / step)) * step)
