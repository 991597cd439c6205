"""What a probe learns about a video file, shared by sources, sinks and stages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AudioStream:
    index: int  # stream index in the container
    codec: str
    sample_rate: int = 0
    channels: int = 0


@dataclass
class VideoInfo:
    """Facts about a video source; ``width``/``height`` are as displayed (rotation applied)."""

    path: str
    width: int
    height: int
    fps: float  # nominal (average) frames per second
    frame_count: int  # frames the decoder delivers (0 when unknown, e.g. live)
    duration: float  # seconds (0 when unknown)
    codec: str = ""
    pix_fmt: str = ""
    rotation: int = 0  # degrees the player rotates the stored frames (0, 90, 180, 270)
    container: str = ""
    audio: list[AudioStream] = field(default_factory=list)
    timestamps: list[float] | None = None  # per-frame presentation times (s) when known
    variable_frame_rate: bool = False
    live: bool = False
    damaged: str = ""  # why the file looks truncated or corrupt ("" when it looks whole)
    color: dict[str, str] = field(default_factory=dict)  # ffmpeg tags: color_range, colorspace, color_primaries, color_trc

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)
