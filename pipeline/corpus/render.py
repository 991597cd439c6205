"""One corpus job = one video rendered once and written to every output it feeds.

The job function :func:`run_job` is what the engine ships to a worker (a process, or a machine of a
Dask cluster): it decodes the input (its first ``max_frames``), runs the face stages for a fake
(cached faces -> method -> blend), and fans every frame out to the encoders of each compression and
each perturbation variant, plus the blend-mask video. Rendering once and encoding many times is the
point: the swap is the expensive part, an extra x264 encode at 360-720p is cheap.

Every file goes through the atomic writer (``FileSink`` renames a finished temporary into place), and
the job's record (what it wrote, for the manifest) is written last, also atomically. A re-run skips a
job whose record exists and whose files are all present; a job killed half-way has no record and
is redone, overwriting whatever of its outputs were already renamed into place.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.corpus.job import BranchSpec, FacesJob, RenderJob
from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.atomic import atomic_path, write_json
from pipeline.media.encode import EncodeConfig, FileSink
from pipeline.stage import Stage, StageContext
from pipeline.videoinfo import VideoInfo

MASK_CRF = 0  # masks are lossless x264 (grey levels survive exactly enough to threshold and to average)


def encode_config(compression: str, preset: str) -> EncodeConfig:
    """FF++'s compressions: c0 = libx264rgb CRF 0 (lossless RGB); c23/c40 = libx264 CRF 23/40.

    Audio is the target video's own, copied (as FF++'s raw YouTube videos keep theirs; AAC when the
    source's codec cannot go into MP4)."""
    from pipeline.corpus.layout import COMPRESSIONS

    crf = COMPRESSIONS[compression]
    codec = "libx264rgb" if compression == "c0" else "libx264"
    return EncodeConfig(codec=codec, crf=crf, preset=preset, audio="auto", threads=1)


def mask_config(preset: str) -> EncodeConfig:
    return EncodeConfig(codec="libx264", crf=MASK_CRF, preset=preset, audio="none", threads=1)


def trimmed(info: VideoInfo, limit: int) -> VideoInfo:
    """The VideoInfo of the first ``limit`` frames (what the encoders must see for timestamps)."""
    if not limit or not info.timestamps or info.frame_count <= limit:
        return info
    return dataclasses.replace(info, timestamps=info.timestamps[:limit], frame_count=limit)


def audio_span(info: VideoInfo) -> float:
    """Seconds of audio that go with the frames used: the first frame's time to the last one's end."""
    if info.timestamps:
        return info.timestamps[-1] - info.timestamps[0] + 1.0 / max(float(info.fps), 1e-6)
    return info.frame_count / max(float(info.fps), 1e-6)


def transcode(source: Path, output: Path, config: EncodeConfig) -> None:
    """ffmpeg-only re-encode of a finished file (used for VC perturbations), atomically; audio copied."""
    from pipeline.media.ffmpeg import ffmpeg_exe

    pix_fmt = "bgr24" if config.codec == "libx264rgb" else config.pix_fmt
    with atomic_path(output) as temp:
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(source),
                   "-map", "0:v:0", "-map", "0:a?", "-c:a", "copy",
                   "-c:v", config.codec, "-crf", str(config.crf), "-preset", config.preset, "-pix_fmt", pix_fmt,
                   "-threads", str(config.threads or 0), "-f", "mp4", str(temp)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise FacepipeError(f"re-encoding {source.name} failed: {lines[-1] if lines else done.returncode}")


class Branch:
    """One variant (unperturbed, perturbed or occluded): its frame transform and one encoder per compression.

    Every video encoder muxes the target video's audio (``audio``: the source path and the seconds that
    go with the frames used); the blend-mask video has none."""

    def __init__(self, spec: BranchSpec, preset: str, scratch: Path, audio: tuple[str, float] | None = None,
                 material: Any = None) -> None:
        from pipeline.corpus.occlude import FrameOccluder, from_record
        from pipeline.corpus.perturb import FramePerturber, Step

        self.spec = spec
        steps = [Step(kind, level) for kind, level in spec.steps]
        self.perturber = FramePerturber(steps, spec.seed) if steps else None
        occlusion = spec.occlusion
        self.occluder = FrameOccluder(from_record(occlusion), occlusion["seed"], material) if occlusion else None
        self.crfs = self.perturber.crfs if self.perturber else []
        self.preset = preset
        self.files = {compression: Path(path) for compression, path in spec.files.items()}
        source, span = audio or (None, 0.0)
        if self.crfs:  # VC: encode once at the VC CRF, then re-encode that file per compression
            self.staging = scratch / f"{spec.key}.vc.mp4"
            vc = EncodeConfig(codec="libx264", crf=self.crfs[0], preset=preset, audio="auto", threads=1)
            self.sinks = [FileSink(self.staging, vc, audio_source=source, audio_duration=span)]
        else:
            self.sinks = [FileSink(path, encode_config(compression, preset), audio_source=source, audio_duration=span)
                          for compression, path in self.files.items()]
        for path in self.files.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        self.mask_sink = FileSink(spec.mask, mask_config(preset)) if spec.mask else None
        if spec.mask:
            Path(spec.mask).parent.mkdir(parents=True, exist_ok=True)

    def all_sinks(self) -> list[FileSink]:
        return self.sinks + ([self.mask_sink] if self.mask_sink else [])

    def image(self, frame: Frame) -> np.ndarray:
        """This branch's version of the frame: perturbed, occluded, or as it is."""
        if self.occluder is not None:
            return self.occluder(frame)
        return self.perturber(frame.image) if self.perturber else frame.image

    def finish(self) -> None:
        """After the encoders closed: the VC round trips and the per-compression re-encodes."""
        if not self.crfs:
            return
        current = self.staging
        try:
            for number, crf in enumerate(self.crfs[1:], 1):
                nxt = self.staging.with_name(f"{self.staging.stem}.{number}.mp4")
                transcode(current, nxt, EncodeConfig(codec="libx264", crf=crf, preset=self.preset, threads=1))
                current.unlink(missing_ok=True)
                current = nxt
            for compression, path in self.files.items():
                transcode(current, path, encode_config(compression, self.preset))
        finally:
            current.unlink(missing_ok=True)


class FanOut:
    """A runner sink writing each frame to every branch (perturbed copies) and the mask video."""

    def __init__(self, branches: list[Branch]) -> None:
        self.branches = branches
        self.frames = 0

    def open(self, info: VideoInfo) -> None:
        for branch in self.branches:
            for sink in branch.all_sinks():
                sink.open(info)

    def write(self, frame: Frame) -> None:
        mask = None
        for branch in self.branches:
            out = Frame(frame.index, frame.pts, np.ascontiguousarray(branch.image(frame)))
            for sink in branch.sinks:
                sink.write(out)
            if branch.mask_sink:
                if mask is None:
                    alpha = frame.meta.get("blend_mask")
                    if alpha is None:
                        alpha = np.zeros(frame.image.shape[:2], np.float32)
                    grey = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
                    mask = Frame(frame.index, frame.pts, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
                branch.mask_sink.write(mask)
        self.frames += 1

    def close(self, ok: bool) -> None:
        error: BaseException | None = None
        for branch in self.branches:
            for sink in branch.all_sinks():
                try:
                    sink.close(ok and error is None)
                except BaseException as exc:  # noqa: BLE001 - close (abort) the others, then re-raise
                    error = error or exc
        if error is not None:
            raise error
        if ok:
            for branch in self.branches:
                branch.finish()


def face_stages(job: RenderJob, info: VideoInfo) -> tuple[list[Stage], list[StageContext]]:
    """Fake: cached faces -> method -> blend. Real: the cached faces only when an occlusion variant needs
    them (the occluder follows the face), else nothing."""
    from pipeline.corpus.faces import CachedFaces
    from pipeline.corpus.methods import load_method
    from pipeline.device import resolve_device
    from stages.blend import BlendStage

    config = job.config
    if job.fake is None:
        if not any(branch.occlusion for branch in job.branches):
            return [], []
        stages: list[Stage] = [CachedFaces(Path(job.target_faces), config.align.size, config.align.coverage,
                                           config.strip, crops=False)]
        return stages, [StageContext(video=info, config=None, device="cpu", warn=lambda m: None, extras={"threads": 1})]
    device = resolve_device(config.pipeline.device) if job.fake.method == "gan" else "cpu"
    faces = CachedFaces(Path(job.target_faces), config.align.size, config.align.coverage, config.strip)
    method = load_method(job.fake.method)().stage(job.fake)
    stages = [faces, method, BlendStage(config.blend, keep_masks=True)]  # the masks become the mask video
    extras = {"threads": 1}
    contexts = [StageContext(video=info, config=stage.config, device=device, warn=lambda m: None, extras=extras)
                for stage in stages]
    return stages, contexts


@dataclass(frozen=True)
class Rendered:
    """What a render wrote: the facts every manifest line of the job gets, and per occlusion variant
    folder the frames that got an occluder (they go into that variant's ``occlusion`` record)."""

    frames: int
    fps: float
    size: list[int]  # width, height
    source_audio: bool
    occluded: dict[str, int]

    def line_facts(self) -> dict[str, Any]:
        return {"frames": self.frames, "fps": self.fps, "size": self.size, "source_audio": self.source_audio}


def render(job: RenderJob) -> Rendered:
    """Decode, (swap,) fan out, encode."""
    from pipeline.media.decode import DecodeConfig, FileSource
    from pipeline.runner import Runner

    limit = int(job.max_frames)
    source = FileSource(job.video, DecodeConfig(max_frames=limit))
    info = trimmed(source.open(), limit)
    scratch = Path(job.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    audio = (job.video, audio_span(info)) if info.has_audio else None
    branches = [Branch(spec, job.preset, scratch, audio, job.config.occlude) for spec in job.branches]
    sink = FanOut(branches)
    stages, contexts = face_stages(job, info)
    Runner(source, stages, sink, queue_frames=8, contexts=contexts).run()
    occluded = {b.spec.variant: b.occluder.frames for b in branches if b.occluder is not None}
    return Rendered(sink.frames, round(float(info.fps), 4), [info.width, info.height], info.has_audio, occluded)


def one_thread_per_job() -> None:
    """One job per core: the engine supplies the parallelism. Torch is not imported for it: the bank and
    warp methods run without torch (``models.segmenter_cpu``), and its import costs a second a worker;
    a GAN job that imports it later starts with one thread (``OMP_NUM_THREADS``, read at its import)."""
    cv2.setNumThreads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    else:
        os.environ["OMP_NUM_THREADS"] = "1"


def run_job(job: FacesJob | RenderJob) -> list[dict[str, Any]]:
    """The engine's job function: one video rendered into all its outputs; returns its manifest lines."""
    one_thread_per_job()
    if isinstance(job, FacesJob):
        from pipeline.corpus.faces import extract_faces

        stats = extract_faces(job.video, Path(job.faces_dir), job.config)
        lines = [dict({"label": "faces", "video": job.video}, **stats)]
    else:
        rendered = render(job)
        lines = [dict(line, **rendered.line_facts()) for line in job.lines]
        for line in lines:
            if line.get("occlusion"):
                line["occlusion"] = dict(line["occlusion"], frames=rendered.occluded.get(line["variant"], 0))
    Path(job.record).parent.mkdir(parents=True, exist_ok=True)
    write_json(job.record, {"key": job.key, "lines": lines})
    return lines


def job_done(record: Path, files: list[str], model_sha256: str | None = None) -> bool:
    """A finished job: its record exists, every file it names is still there and passes ``verify``'s
    per-file checks (it reads to the end without an error and has the recorded frame count, so a
    truncated or damaged output is rendered again), and it was made with the same model (a gan model
    trained further on a re-run with a bigger budget re-renders its fakes) by a build that keeps audio
    (records without ``source_audio`` predate it: a re-run re-renders them)."""
    from pipeline.corpus.verify import decode

    if not record.is_file() or not all(os.path.exists(path) for path in files):
        return False
    try:
        lines = json.loads(record.read_text())["lines"]
    except (OSError, ValueError, KeyError):
        return False
    if not all(line.get("model_sha256") == model_sha256 and "source_audio" in line for line in lines):
        return False
    counts = {line.get("frames") for line in lines}
    if len(counts) != 1:
        return False
    expected = counts.pop()
    for path in files:
        found = decode(Path(path), copy=True)  # a packet scan: milliseconds, yet it sees a cut-off file
        if found.error or found.frames != expected:
            return False
    return True
