"""Typed results: stage summaries, the run stats JSON built from them, corpus job records and methods.

The expected JSON below is what the dict-based code wrote before the summaries became dataclasses
(``convert --stats`` and ``attack --report`` on single_face.mp4, commit b91d892): same keys, same
order, same values, so users' scripts reading those files see no change.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import pytest

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.io import NullSink
from pipeline.runner import Runner, RunStats
from pipeline.stage import Stage, StageContext, StageSummary
from pipeline.videoinfo import VideoInfo
from stages.occlusion.report import AttackFigures, OccludeSummary, Totals
from stages.summaries import BlendSummary, DetectSummary, SwapSummary
from tests.conftest import media, run_cli

# ``convert --stats`` of 6 frames with swap.select = 'reference', and ``attack --report``, as written before
OLD_CONVERT_STAGES = ('{"detect": {"frames": 6, "frames_with_faces": 6, "faces": 6}, '
                      '"swap": {"faces_swapped": 6, "identity_checks": 1}, '
                      '"blend": {"faces_blended": 6, "frames_blended": 6, "flicker_input": 21.992, '
                      '"flicker_output": 20.8, "flicker_ratio": 0.946}}')
OLD_ATTACK = ('{"frames": 3, "faces": 3, "occluded": 1, "skipped": 0, "mean_area": 0.099162, "scored": 3, '
              '"already_real": 2, "attacked": 1, "fooled": 0, "success_rate": 0.0, "mean_fake_before": 0.38099, '
              '"mean_fake_after": 0.343432, "queries_total": 6, "queries_mean": 2.0, "queries_max": 4, '
              '"ms_per_query": 19.315}')
OLD_TOP_KEYS = ["frames_in", "frames_out", "frames_dropped", "wall_seconds", "fps", "steps", "stages"]
INFO = VideoInfo(path="memory", width=32, height=24, fps=25.0, frame_count=3, duration=0.12)


# -- stage summaries and the stats JSON -----------------------------------------------------------------

def test_stage_summaries_write_the_same_json_as_before() -> None:
    stats = RunStats(stages={"detect": DetectSummary(6, 6, 6), "swap": SwapSummary(6, 1),
                             "blend": BlendSummary(6, 6, 21.992, 20.8, 0.946)})
    written = stats.as_dict()
    assert list(written) == OLD_TOP_KEYS
    assert json.dumps(written["stages"]) == OLD_CONVERT_STAGES  # keys, order and values
    assert json.loads(json.dumps(written))["stages"]["detect"]["faces"] == 6


def test_occlusion_summary_writes_the_attack_report_as_before() -> None:
    figures = AttackFigures(scored=3, already_real=2, attacked=1, fooled=0, success_rate=0.0,
                            mean_fake_before=0.38099, mean_fake_after=0.343432, queries_total=6, queries_mean=2.0,
                            queries_max=4, ms_per_query=19.315)
    assert json.dumps(OccludeSummary(3, 3, 1, 0, 0.099162, figures).as_dict()) == OLD_ATTACK
    random_mode = OccludeSummary(4, 4, 4, 0, 0.094525).as_dict()  # random mode: no attack keys at all
    assert list(random_mode) == ["frames", "faces", "occluded", "skipped", "mean_area"]


def test_totals_compute_the_attack_figures_only_in_attack_mode() -> None:
    totals = Totals(frames=2, faces=3, occluded=2, area=[0.1, 0.3], before=[0.9, 0.8, 0.2], after=[0.4, 0.7, 0.2],
                    queries=[4, 8, 1], already_real=1, fooled=2, attack_seconds=0.026)
    attack = totals.summary(attack=True)
    assert attack.attack is not None
    assert (attack.attack.attacked, attack.attack.fooled, attack.attack.success_rate) == (2, 1, 0.5)
    assert attack.mean_area == 0.2 and attack.attack.queries_max == 8 and attack.attack.ms_per_query == 2.0
    assert totals.summary(attack=False).attack is None


def test_swap_reports_identity_checks_only_when_picking_by_reference() -> None:
    from stages.swap import SwapConfig, SwapStage

    by_reference = SwapStage(SwapConfig(select="reference", reference="them.jpg")).summary()
    assert isinstance(by_reference, SwapSummary) and by_reference.as_dict() == {"faces_swapped": 0, "identity_checks": 0}
    assert SwapStage(SwapConfig()).summary().as_dict() == {"faces_swapped": 0}


def test_detect_counts_a_real_photo_into_its_summary() -> None:
    from stages.detect import DetectConfig, DetectStage

    image = cv2.imread(str(media("single_face.jpg")))
    stage = DetectStage(DetectConfig(every=1))  # every frame detected: the black one has no face to track
    stage.open(StageContext(video=INFO, config=stage.config))
    stage.process([Frame(0, 0.0, image), Frame(1, 0.04, np.zeros_like(image))])
    summary = stage.summary()
    assert dataclasses.is_dataclass(summary) and isinstance(summary, StageSummary)
    assert summary == DetectSummary(frames=2, frames_with_faces=1, faces=1)


class _Source:
    def __init__(self) -> None:
        self.info = INFO

    def open(self) -> VideoInfo:
        return self.info

    def frames(self) -> Iterator[Frame]:
        for index in range(3):
            yield Frame(index, index / 25.0, np.zeros((24, 32, 3), np.uint8))

    def close(self) -> None:
        pass


class _Counting(Stage):
    name = "detect"

    def __init__(self) -> None:
        super().__init__(None)
        self.frames = 0

    def process(self, batch: list[Frame]) -> list[Frame]:
        self.frames += len(batch)
        return batch

    def summary(self) -> DetectSummary:
        return DetectSummary(self.frames, 0, 0)


class _Silent(Stage):
    name = "silent"

    def process(self, batch: list[Frame]) -> list[Frame]:
        return batch


def test_runner_gathers_the_summaries_of_the_stages_that_report_one() -> None:
    stats = Runner(_Source(), [_Counting(), _Silent(None)], NullSink()).run()
    assert stats.stages == {"detect": DetectSummary(3, 0, 0)}  # the silent stage is left out
    assert stats.summary("detect", DetectSummary) == DetectSummary(3, 0, 0)
    assert stats.summary("detect", SwapSummary) is None and stats.summary("swap", SwapSummary) is None
    assert stats.as_dict()["stages"] == {"detect": {"frames": 3, "frames_with_faces": 0, "faces": 0}}


def test_a_run_without_a_runner_has_no_stages_key() -> None:
    assert "stages" not in RunStats(frames_in=3, frames_out=3).as_dict()  # a one-ffmpeg transcode, as before
    assert RunStats().summary("detect", DetectSummary) is None


def test_convert_stats_file_names_each_reporting_stage(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    result = run_cli("convert", media("single_face.jpg"), "-o", tmp_path / "out.png", "-q", "--stats", stats,
                     "--set", 'pipeline.stages=["detect","landmarks"]')
    assert result.returncode == 0, result.stderr
    written = json.loads(stats.read_text())
    assert list(written) == ["input", "output", *OLD_TOP_KEYS]
    assert written["stages"] == {"detect": {"frames": 1, "frames_with_faces": 1, "faces": 1}}  # landmarks: none


# -- the swap stage's reference and the blend stage's masks, as typed inputs ------------------------------

def test_build_stages_hands_the_reference_embedding_to_every_context() -> None:
    from pipeline.cli.settings import load_config
    from pipeline.compose import build_stages
    from stages import STAGES

    reference = np.arange(128, dtype=np.float64)
    _, contexts = build_stages(load_config(), STAGES, ["detect", "landmarks"], INFO, print, reference)
    assert all(context.reference_embedding is reference for context in contexts)
    _, contexts = build_stages(load_config(), STAGES, ["detect"], INFO, print)
    assert contexts[0].reference_embedding is None and "reference_embedding" not in contexts[0].extras


def test_blend_keeps_each_frames_mask_only_when_asked() -> None:
    from stages.blend import BlendStage

    kept, plain = Frame(0, 0.0, np.zeros((24, 32, 3), np.uint8)), Frame(0, 0.0, np.zeros((24, 32, 3), np.uint8))
    BlendStage(None, keep_masks=True).process([kept])
    BlendStage(None).process([plain])
    assert kept.meta["blend_mask"].shape == (24, 32) and not kept.meta["blend_mask"].any()
    assert "blend_mask" not in plain.meta


def test_the_passthrough_decision_is_one_predicate() -> None:
    from pipeline.cli.settings import load_config
    from pipeline.cli.video_job import passes_through

    bare = load_config(overrides=["pipeline.stages=[]"])
    assert passes_through(bare, Path("out.mp4"), preview=False)
    assert not passes_through(bare, Path("out.mp4"), preview=True)
    assert not passes_through(bare, Path("out.png"), preview=False)  # a photo needs a decoded frame
    assert not passes_through(load_config(overrides=["pipeline.stages=[]", 'decode.size="320x-1"']), Path("o.mp4"), False)
    assert not passes_through(load_config(), Path("out.mp4"), preview=False)


# -- corpus jobs and methods ---------------------------------------------------------------------------

def _render_job() -> Any:
    from pipeline.cli.settings import load_config
    from pipeline.corpus.job import BranchSpec, FakeSpec, RenderJob

    branches = [BranchSpec("gan-000_001-none", "", [], 7, None, {"c23": "/c/a.mp4", "c40": "/c/b.mp4"}, "/c/m.mp4"),
                BranchSpec("gan-000_001-occluded-block_3", "occluded/block_3", [("CS", 3)], 8,
                           {"kind": "block", "level": 3, "anchor": "face", "seed": 8}, {"c23": "/c/o.mp4"}, None)]
    fake = FakeSpec("gan", "/c/faces/001", "bob", "/c/models/gan")
    return RenderJob("gan-000_001", "/in/alice.mp4", "/c/faces/000", branches, [{"status": "ok", "label": "fake"}],
                     "/c/records/gan-000_001.json", load_config(), 6, "veryfast", "/c/tmp", fake)


def _travelled(job: Any) -> tuple[Any, str]:
    """Top-level so it pickles to a worker process: the job as the worker sees it."""
    return dataclasses.replace(job, config=None), job.config.corpus.preset


def test_a_render_job_travels_to_a_worker_process_intact() -> None:
    from pipeline.jobs import open_engine, run_jobs

    job = _render_job()
    again = pickle.loads(pickle.dumps(job))
    assert dataclasses.replace(again, config=None) == dataclasses.replace(job, config=None)
    assert again.config.as_dict() == job.config.as_dict()
    engine = open_engine(1, name="local")
    try:
        [result] = run_jobs(_travelled, [(job.key, job)], engine)
    finally:
        engine.close()
    assert result.ok, result.error
    assert result.value == (dataclasses.replace(job, config=None), job.config.corpus.preset)
    assert job.kind == "fake" and dataclasses.replace(job, fake=None).kind == "real"
    assert job.files() == ["/c/a.mp4", "/c/b.mp4", "/c/m.mp4", "/c/o.mp4"]  # every output, masks included


def test_every_registered_method_implements_the_protocol() -> None:
    from pipeline.corpus.methods import METHODS, MethodCard, load_method

    for name in METHODS:
        cls = load_method(name)
        assert cls.name == name and cls.folder
    assert load_method("warp")().card() == MethodCard(None, None)
    with pytest.raises(FacepipeError, match="after prepare"):
        load_method("gan")().card()  # its model is known only once trained or loaded


class NoCard:
    """A method that forgot ``card``: the build must refuse it before any work."""

    name = "nocard"
    folder = "NoCard"

    def prepare(self, build: Any) -> None:
        pass

    def stage(self, fake: Any) -> Stage:
        return _Silent(None)


def test_a_method_without_a_card_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.corpus.methods as methods
    from pipeline.registry import Registry

    monkeypatch.setattr(methods, "METHODS", Registry("corpus method", {"nocard": f"{__name__}:NoCard"}))
    with pytest.raises(FacepipeError, match=r"corpus method 'nocard' .* does not implement card"):
        methods.load_method("nocard")
