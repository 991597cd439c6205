"""Encoding frames back into a video file through an ffmpeg child process.

Why this shape:
- Raw BGR frames go to ffmpeg's stdin; the source's audio is muxed from the source file in the same
  process (stream copy when the container accepts the codec, AAC/Opus otherwise), so audio is never
  decoded in Python.
- Every frame keeps its source timestamp: a piecewise-linear ``setpts`` expression rebuilt from the
  probed timestamps (one segment for constant frame rate, a few for spliced variable-rate clips), so
  variable-frame-rate video stays in sync with its audio. See :func:`timestamp_expression`.
- BGR is converted with the source's own matrix and range and keeps the source's tags (``colour.py``),
  so untouched pixels come out as they went in and players show the colours we wrote.
- Output goes to a hidden temporary file beside the target and is renamed only when ffmpeg succeeded;
  on any failure or interruption the temporary file is deleted and the target is untouched.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from pipeline.config import option
from pipeline.errors import FacepipeError
from pipeline.media.atomic import AtomicFile
from pipeline.media.colour import Colour, video_colour
from pipeline.media.ffmpeg import damage_complaint, ffmpeg_exe, last_error_line, video_encoders, widen_pipe
from pipeline.videoinfo import VideoInfo

if TYPE_CHECKING:
    from pipeline.frame import Frame


@dataclass
class EncodeConfig:
    """The ``[encode]`` table."""

    codec: str = option("libx264", "video encoder", choices=("libx264", "libx264rgb", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"))
    crf: int = option(18, "constant rate factor: lower is better quality and bigger files (x264/x265: 0-51, vp9/av1: 0-63)", min=0, max=63)
    preset: str = option("veryfast", "encoder speed preset (x264/x265 names; mapped to -deadline/-cpu-used for vp9)",
                         choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"))
    pix_fmt: str = option("yuv420p", "output pixel format; yuv420p plays everywhere (libx264rgb always writes bgr24: "
                          "lossless RGB at crf 0, FF++'s c0)", choices=("yuv420p", "yuv422p", "yuv444p", "yuv420p10le"))
    audio: str = option("auto", "auto: copy the source audio when the container allows it, else re-encode; "
                        "encode: always re-encode; none: drop audio", choices=("auto", "encode", "none"))
    audio_bitrate: str = option("192k", "bitrate when audio is re-encoded (AAC, or Opus for WebM)")
    threads: int = option(0, "encoder threads; 0 lets ffmpeg choose", min=0, max=64)


# Audio codecs each container accepts as a stream copy; anything else is re-encoded.
_COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    ".m4v": {"aac", "mp3", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_f32le", "pcm_s16be"},
    ".mkv": None,  # None: anything
    ".webm": {"opus", "vorbis"},
    ".avi": {"mp3", "ac3", "pcm_s16le"},
    ".ts": {"aac", "mp3", "ac3", "eac3", "mp2"},
}
_VIDEO_CODECS = {
    ".webm": {"libvpx-vp9", "libaom-av1", "libsvtav1"},
}


def check_file_destination(path: Path, what: str) -> Path:
    """Refuse a file destination that is a folder, or whose folder is missing or read-only; returns the folder."""
    if path.is_dir():
        raise FacepipeError(f"{what} {path} is a folder; give a file name")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise FacepipeError(f"{what} {path}: folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise FacepipeError(f"{what} {path}: folder is not writable: {parent}")
    return parent


def check_output_path(output: str | Path, inputs: list[str], overwrite: bool, extra_suffixes: Iterable[str] = ()) -> Path:
    """Refuse, before any work, an output that would fail or would destroy something the user has.

    ``extra_suffixes``: other outputs the caller can write (photos for ``convert``)."""
    path = Path(output)
    known = [*_COPYABLE_AUDIO, *sorted(extra_suffixes)]
    if path.suffix.lower() not in known:
        raise FacepipeError(f"output {path}: unknown format {path.suffix or '(no extension)'}; use one of {', '.join(known)}")
    for source in inputs:
        same_file = os.path.exists(source) and path.exists() and os.path.samefile(source, path)
        if same_file or Path(source).resolve() == path.resolve():
            raise FacepipeError(f"output {path} is the input file; choose another output path")
    parent = check_file_destination(path, "output")
    if path.exists() and not overwrite:
        raise FacepipeError(f"output {path} exists; pass --overwrite to replace it")
    trial = path.with_name(f".{path.stem}.facepipe-check")
    try:
        trial.open("wb").close()
        trial.unlink()
    except OSError as exc:
        raise FacepipeError(f"cannot write in {parent}: {exc.strerror}") from None
    return path


def _segments(times: list[float], tolerance: float) -> list[tuple[int, float, float]]:
    """Greedy piecewise-linear fit: (first frame index, time of that frame, seconds per frame)."""
    segments: list[tuple[int, float, float]] = []
    start = 0
    count = len(times)
    while start < count:
        if start == count - 1:
            step = segments[-1][2] if segments else 0.04
            segments.append((start, times[start], step))
            break
        step = times[start + 1] - times[start]
        end = start + 1
        while end + 1 < count and abs(times[end + 1] - (times[start] + (end + 1 - start) * step)) <= tolerance:
            end += 1
        segments.append((start, times[start], step))
        start = end + 1
    return segments


def timestamp_expression(times: list[float], tolerance: float = 0.001, max_segments: int = 1200) -> str:
    """A setpts expression (in seconds, of the frame number N) that reproduces ``times`` within ``tolerance``.

    Beyond ``max_segments`` (jittery phone VFR) the tolerance is widened until it fits; a few ms of
    timestamp error is invisible, while an over-long expression would exceed the command-line limit.
    """
    segments = _segments(times, tolerance)
    while len(segments) > max_segments:
        tolerance *= 2
        segments = _segments(times, tolerance)
    terms = []
    for number, (first, at, step) in enumerate(segments):
        last = segments[number + 1][0] - 1 if number + 1 < len(segments) else None
        gate = f"between(N,{first},{last})" if last is not None else f"gte(N,{first})"
        terms.append(f"{gate}*({at:.6f}+(N-{first})*{step:.9f})")
    return "+".join(terms)


def _video_filters(width: int, height: int, times: list[float] | None, pix_fmt: str, colour: Colour | None,
                   decoded_planes: bool = False) -> str:
    """Re-stamp, pad to even, and (from BGR) convert with ``colour``'s matrix and range."""
    filters = []
    if times:
        filters.append("settb=1/90000")
        filters.append(f"setpts='({timestamp_expression(times)})/TB'")
    if width % 2 or height % 2:
        if decoded_planes:
            # the decoder's own 4:2:0 planes: ffmpeg 9's pad leaves a band of an odd-sized 4:2:0 frame
            # different from run to run (measured: 33.7 against 40 dB PSNR on some frames); padding
            # after upsampling the chroma is exact and repeatable
            filters.append("format=yuv444p")
        filters.append("pad=ceil(iw/2)*2:ceil(ih/2)*2")
    if colour is not None:
        filters.append(colour.from_bgr_filter())
    filters.append(f"format={pix_fmt}")
    return ",".join(filters)


def _codec_args(config: EncodeConfig) -> dict[str, object]:
    args: dict[str, object] = {"vcodec": config.codec, "crf": config.crf}
    if config.codec in ("libx264", "libx264rgb", "libx265"):
        args["preset"] = config.preset
    elif config.codec == "libvpx-vp9":
        args.update({"b:v": 0, "deadline": "good", "cpu-used": 4 if config.preset in ("ultrafast", "superfast", "veryfast") else 2, "row-mt": 1})
    elif config.codec == "libsvtav1":
        args["preset"] = 10
    elif config.codec == "libaom-av1":
        args.update({"b:v": 0, "cpu-used": 6})
    if config.codec == "libx265":
        args["tag:v"] = "hvc1"  # plays in QuickTime/Safari
        args["x265-params"] = "log-level=error"
    if config.threads:
        args["threads"] = config.threads
    return args


class FileSink:
    """Writes frames to ``output`` via ffmpeg; the file appears only when everything succeeded."""

    def __init__(self, output: str | Path, config: EncodeConfig | None = None, audio_source: str | None = None,
                 audio_start: float = 0.0, audio_duration: float = 0.0) -> None:
        self.output = Path(output)
        self.config = config or EncodeConfig()
        self.audio_source = audio_source
        self.audio_start = audio_start
        self.audio_duration = audio_duration
        self._file = AtomicFile(self.output)
        self.temp_path = self._file.temp
        self._process: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile()
        self._size = (0, 0)
        self.frames_written = 0
        self.source_damaged = ""  # after transcode(): the demuxer's complaint about the source, if any

    def _audio_args(self, info: VideoInfo, suffix: str) -> dict[str, object]:
        if self.config.audio == "encode" or self.config.audio == "auto" and not self._copyable(info, suffix):
            codec = "libopus" if suffix == ".webm" else "aac"
            return {"acodec": codec, "b:a": self.config.audio_bitrate}
        return {"acodec": "copy"}

    @staticmethod
    def _copyable(info: VideoInfo, suffix: str) -> bool:
        allowed = _COPYABLE_AUDIO.get(suffix)
        return allowed is None or all(stream.codec in allowed for stream in info.audio)

    def check_codec(self) -> None:
        """A one-line error when this ffmpeg lacks ``encode.codec`` (asks ``ffmpeg -encoders``, ~0.1 s)."""
        if self.config.codec not in video_encoders():
            raise FacepipeError(f"encode.codec = {self.config.codec!r} is not in this ffmpeg ({ffmpeg_exe()}); run `facepipe doctor`")

    def command(self, info: VideoInfo, direct_from: str | None = None, max_frames: int = 0) -> list[str]:
        """The encoder's ffmpeg command: frames from the pipe, or (``direct_from``) decoded by the same
        ffmpeg straight from the source file, for runs where no stage looks at pixels."""
        import ffmpeg  # ffmpeg-python: ~30 ms to import, only needed to build this line

        suffix = self.output.suffix.lower()
        allowed_video = _VIDEO_CODECS.get(suffix)
        if allowed_video and self.config.codec not in allowed_video:
            raise FacepipeError(f"encode.codec = {self.config.codec!r} cannot go in {suffix}; use one of {', '.join(sorted(allowed_video))}")
        if not direct_from:
            self.check_codec()
        rgb_out = self.config.codec == "libx264rgb"  # RGB in, RGB out (FF++'s lossless c0): no matrix, no subsampling
        # piped BGR frames are converted with the source's matrix and range; a direct transcode keeps the
        # decoder's own planes and tags
        colour = video_colour(info) if not direct_from and not rgb_out else None
        pix_fmt = "bgr24" if rgb_out else self.config.pix_fmt
        if direct_from:  # one ffmpeg: the source's own timestamps, no re-stamping, no pipe
            source = ffmpeg.input(direct_from, **({"ss": self.audio_start} if self.audio_start else {}))
            streams = [source["v:0"]]
            kwargs: dict[str, object] = {"vf": _video_filters(info.width, info.height, None, pix_fmt, None, decoded_planes=True)}
            if max_frames:
                kwargs["frames:v"] = max_frames
            if info.has_audio and self.config.audio != "none":
                streams.append(source["a"])
                kwargs.update(self._audio_args(info, suffix))
                if self.audio_duration:
                    kwargs["t"] = self.audio_duration
        else:
            video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{info.width}x{info.height}",
                                 framerate=f"{info.fps:.6f}")
            streams = [video]
            kwargs = {"vf": _video_filters(info.width, info.height, info.timestamps, pix_fmt, colour)}
        kwargs.update(_codec_args(self.config))
        if not direct_from and info.has_audio and self.audio_source and self.config.audio != "none":
            audio_input: dict[str, object] = {}
            if self.audio_start:
                audio_input["ss"] = self.audio_start
            if self.audio_duration:
                audio_input["t"] = self.audio_duration
            streams.append(ffmpeg.input(self.audio_source, **audio_input)["a"])
            kwargs.update(self._audio_args(info, suffix))
        kwargs.update({"fps_mode": "passthrough", "enc_time_base:v": "1/90000", "f": muxer_for(suffix)})
        if not rgb_out:
            kwargs.update(colour.tags if colour is not None else info.color)
        if suffix in (".mp4", ".mov", ".m4v"):
            kwargs["movflags"] = "+faststart"
        output = ffmpeg.output(*streams, str(self.temp_path), **kwargs)
        return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y"] + output.get_args()

    def transcode(self, source_path: str, info: VideoInfo, max_frames: int = 0,
                  on_frames: Callable[[int], None] | None = None) -> int:
        """Decode and encode in one ffmpeg (no stage looks at pixels); the frames written.

        The file appears only on success; Ctrl-C or a signal kills ffmpeg and removes the temporary.
        """
        command = self.command(info, direct_from=source_path, max_frames=max_frames)
        command[-1:-1] = ["-progress", "pipe:1", "-nostats"]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
                                   start_new_session=True, text=True)
        self._process = process
        ok = False
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("frame="):
                    self.frames_written = int(line.split("=", 1)[1] or 0)
                    if on_frames is not None:
                        on_frames(self.frames_written)
            code = process.wait()
            if code != 0:
                self.check_codec()  # not asked before the run: that would cost every run ~0.1 s
                raise FacepipeError(f"encoding failed: {last_error_line(self._stderr) or f'ffmpeg exit {code}'}")
            if self.frames_written == 0:
                raise FacepipeError(f"cannot decode any frame of {source_path}; output not created")
            self.source_damaged = damage_complaint(self._stderr)
            ok = True
            return self.frames_written
        finally:
            self._process = None
            if process.poll() is None:
                process.kill()
                process.wait()
            if ok:
                self._file.commit()
            else:
                self._file.abort()

    def open(self, info: VideoInfo) -> None:
        self._size = (info.height, info.width)
        command = self.command(info)
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr, start_new_session=True)
        widen_pipe(self._process.stdin)

    def write(self, frame: Frame) -> None:
        process = self._process
        assert process is not None and process.stdin is not None, "open() first"
        image = frame.image
        if image.shape[:2] != self._size or image.dtype.name != "uint8":
            raise FacepipeError(f"frame {frame.index} is {image.shape} {image.dtype}, the encoder expects {self._size} uint8")
        try:
            process.stdin.write(memoryview(image if image.flags.c_contiguous else image.copy()).cast("B"))
        except (BrokenPipeError, OSError):
            process.wait()
            raise FacepipeError(f"encoder stopped at frame {frame.index}: {last_error_line(self._stderr) or 'ffmpeg exited'}") from None
        self.frames_written += 1


    def close(self, ok: bool) -> None:
        process, self._process = self._process, None
        try:
            if process is not None:
                if ok:
                    try:
                        process.stdin.close()  # type: ignore[union-attr]
                    except OSError:
                        pass
                    code = process.wait()
                    if code != 0:
                        ok = False
                        raise FacepipeError(f"encoding failed: {last_error_line(self._stderr) or f'ffmpeg exit {code}'}")
                    if self.frames_written == 0:
                        ok = False
                        raise FacepipeError("no frames to write; output not created")
                else:
                    process.kill()
                    process.wait()
                    if process.stdin:
                        try:
                            process.stdin.close()
                        except OSError:
                            pass
            if ok and process is not None:
                self._file.commit()
        finally:
            if not ok:
                self._file.abort()


def muxer_for(suffix: str) -> str:
    """ffmpeg's muxer (``-f``) for an output file's suffix."""
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".ts": "mpegts"}[suffix]
