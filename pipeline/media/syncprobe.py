"""Measuring lip sync: a clip with a white flash and a beep at known times, and where they land in an output.

``make_sync_clip`` overlays on a real clip a full-frame white flash and a 1 kHz beep that start at the
same instants (one pair per ``every`` seconds); ``flash_and_beep_times`` finds, in any video file, when
each flash (mean brightness jumps above 200) and each beep (20 ms RMS above a tenth of full scale)
starts. Their difference is the audio drift of whatever carried the clip (``bench/live.py``, tests).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np

from pipeline.media.ffmpeg import ffmpeg_exe


def make_sync_clip(source: Path, output: Path, seconds: float, size: str = "640x360", fps: int = 30,
                   every: float = 2.0, first: float = 1.0) -> list[float]:
    """Write ``output`` (H.264 + AAC, ``seconds`` long, the source looped); return the flash/beep times."""
    times = [round(first + k * every, 3) for k in range(int((seconds - first - 0.2) // every) + 1)]
    on = "+".join(f"between(t,{t},{t + 0.099})" for t in times)
    width, height = size.split("x")
    video = (f"[0:v]scale={width}:{height},fps={fps},setsar=1,"
             f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{on}'[v]")
    audio = f"aevalsrc='0.5*sin(2*PI*1000*t)*({on})':s=48000:d={seconds}"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-f", "lavfi", "-i", audio,
                    "-filter_complex", video, "-map", "[v]", "-map", "1:a", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps), "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "128k", "-ar", "48000", str(output)], check=True)
    return times


def flash_and_beep_times(path: Path, gap: float = 0.5) -> tuple[list[float], list[float]]:
    """Start times (s, from the file's first frame) of each white flash and each beep in ``path``."""
    flashes: list[float] = []
    beeps: list[float] = []
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        start = None
        for frame in container.decode(video):
            t = float(frame.pts * video.time_base)
            start = t if start is None else start
            bright = frame.to_ndarray(format="gray").mean() > 200
            if bright and (not flashes or t - start - flashes[-1] > gap):
                flashes.append(float(t - start))
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return flashes, beeps
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        chunks: list[np.ndarray] = []
        first_time = None
        for frame in container.decode(stream):
            if first_time is None and frame.pts is not None:
                first_time = float(frame.pts * stream.time_base)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        if not chunks:
            return flashes, beeps
        samples = np.concatenate(chunks).astype(np.float32) / 32768
        window = 960  # 20 ms
        count = len(samples) // window
        rms = np.sqrt((samples[: count * window].reshape(count, window) ** 2).mean(axis=1))
        loud = np.flatnonzero(rms > 0.1)
        offset = (first_time or 0.0) - (start or 0.0)  # audio and video start at different container times
        for index in loud:
            # refine to the first loud sample inside the window
            block = np.abs(samples[max(0, (index - 1) * window): (index + 1) * window])
            first_loud = max(0, (index - 1) * window) + int(np.argmax(block > 0.2))
            t = first_loud / 48000 + offset
            if not beeps or t - beeps[-1] > gap:
                beeps.append(float(t))
    return flashes, beeps


def drift_ms(path: Path) -> list[float]:
    """Beep minus flash for each pair found (ms); positive: the sound is late."""
    flashes, beeps = flash_and_beep_times(path)
    pairs = []
    for flash in flashes:
        nearest = min(beeps, key=lambda beep: abs(beep - flash), default=None)
        if nearest is not None and abs(nearest - flash) < 1.0:
            pairs.append(round(1000 * float(nearest - flash), 1))
    return pairs
