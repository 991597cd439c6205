"""Which YUV↔RGB matrix and range a video uses, so BGR frames round-trip without a colour shift.

ffmpeg converts YUV to BGR on decode and back on encode. If the two directions use different
matrices (BT.601 one way, BT.709 the other) every untouched pixel moves by a few levels, and a
BT.601 source re-tagged BT.709 shows shifted colours in players. So both directions use the
source's own matrix and range, and the output keeps the source's tags. An untagged source is read
as players read it: BT.601 below 720 lines (SD), BT.709 from 720 lines up (HD).
"""

from __future__ import annotations

from dataclasses import dataclass

# swscale's default YUV<->RGB paths round with a bias (about -1.6 levels of luma per round trip
# measured on a BT.709 clip); accurate rounding with full chroma interpolation makes the round trip
# exact to 0.02 levels.
SWS_FLAGS = "accurate_rnd+full_chroma_int"

from pipeline.videoinfo import VideoInfo

# ffmpeg colorspace tag -> swscale matrix name
_MATRIX = {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601", "smpte240m": "smpte240m",
           "bt2020nc": "bt2020", "bt2020c": "bt2020", "fcc": "fcc"}
_SD_TAGS = {"colorspace": "smpte170m", "color_primaries": "smpte170m", "color_trc": "smpte170m", "color_range": "tv"}
_HD_TAGS = {"colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709", "color_range": "tv"}


@dataclass(frozen=True)
class Colour:
    matrix: str  # swscale name: bt601, bt709, bt2020, ...
    range: str  # "tv" (limited) or "pc" (full)
    tags: dict[str, str]  # what the output is tagged with: colorspace, color_primaries, color_trc, color_range

    def to_bgr_filter(self) -> str:
        return f"scale=in_color_matrix={self.matrix}:in_range={self.range}:flags={SWS_FLAGS}"

    def from_bgr_filter(self) -> str:
        return f"scale=out_color_matrix={self.matrix}:out_range={self.range}:flags={SWS_FLAGS}"

    def __hash__(self) -> int:
        return hash((self.matrix, self.range, tuple(sorted(self.tags.items()))))


def video_colour(info: VideoInfo) -> Colour:
    """The source's matrix, range and tags; the SD/HD default fills whatever is untagged."""
    default = _HD_TAGS if min(info.width, info.height) >= 720 or max(info.width, info.height) >= 1280 else _SD_TAGS
    tags = {**default, **{k: v for k, v in info.color.items() if v and v != "unknown"}}
    matrix = _MATRIX.get(tags["colorspace"])
    if matrix is None:  # a matrix swscale does not know (e.g. ICtCp): keep the default's
        tags["colorspace"] = default["colorspace"]
        matrix = _MATRIX[default["colorspace"]]
    colour_range = "pc" if tags.get("color_range") in ("pc", "jpeg", "full") else "tv"
    tags["color_range"] = colour_range
    return Colour(matrix, colour_range, tags)
