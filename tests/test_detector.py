"""`facepipe detector`: architectures, checkpoints, training/eval/score end to end on a toy corpus.

The toy corpus (``tests.toy_corpus``) is real footage from ``shared/media/people``: real = 1 s of a
clip, fake = the same clip blurred and washed out -- obviously separable, so a detector trained for
a few seconds must separate its identity-disjoint test split (AUC > 0.9); a broken data path, label
flip or export would not. The AUC targets on real fakes are measured on the demo corpus by
``bench/attack.py`` and ``facepipe detector eval``, not here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.errors import FacepipeError
from tests.conftest import bench_module, media, one_line_error, read_frames, run_cli
from tests.toy_corpus import PEOPLE, build

FAST = ["--set", "detector.flip=0", "--set", "detector.jpeg=0", "--set", "detector.blur=0", "--set", "detector.noise=0",
        "--set", "detector.colour=0", "--set", "detector.rescale=0"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not PEOPLE.is_dir():
        pytest.skip(f"real test media not found: {PEOPLE}")
    return build(tmp_path_factory.mktemp("corpus"), {"train": 3, "val": 1, "test": 2}, ("c23",), 1.0,
                 perturb={"CC_3": "eq=contrast=0.6"})


TRAIN = ["-a", "meso4", "-q", "--set", "detector.frames_per_video=4", "--set", "detector.epochs=8",
         "--set", "detector.batch_size=16", *FAST]


@pytest.fixture(scope="module")
def trained(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("det") / "meso4"
    result = run_cli("detector", "train", corpus, "-o", out, *TRAIN, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "val AUC" in result.stdout
    return out


# -- architectures ---------------------------------------------------------------------------------


def test_meso4_is_the_paper_layout() -> None:
    from models.detectors.meso4 import Meso4

    net = Meso4()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    pools = [m for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)]
    dense = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.kernel_size[0] for c in convs] == [3, 5, 5, 5]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16]
    assert [n.num_features for n in norms] == [8, 8, 16, 16] and len({id(n) for n in norms}) == 4  # one BN per layer
    assert [p.kernel_size for p in pools] == [2, 2, 2, 4]
    assert [(d.in_features, d.out_features) for d in dense] == [(1024, 16), (16, 1)]
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    assert [m.negative_slope for m in net.modules() if isinstance(m, torch.nn.LeakyReLU)] == [0.1]
    assert 27_000 <= sum(p.numel() for p in net.parameters()) <= 29_000
    assert net.eval()(torch.rand(2, 3, 256, 256)).shape == (2,)


@pytest.mark.parametrize("architecture", ["meso4", "mesoinception4", "xceptionmini"])
def test_export_is_what_occlude_classifier_loads(architecture: str, tmp_path: Path) -> None:
    from models.detectors.checkpoint import SCRIPT, build as build_net, load_detector, save_detector, Detector
    from stages.occlusion.classifier import TorchScriptClassifier, load_classifier

    torch.manual_seed(1)
    net = build_net(architecture)
    with torch.no_grad():  # non-trivial BN statistics, so eval mode matters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    save_detector(net, architecture, tmp_path, {"note": "test"})
    loaded, card = load_detector(tmp_path, architecture)
    assert card.architecture == architecture and card.files["torchscript"] == SCRIPT and card.kind == "detector"
    assert card.input is not None and card.input.channels == "RGB" and card.input.size == net.INPUT_SIZE
    size = net.INPUT_SIZE
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    direct = Detector(loaded, card).fake_probability(crops)
    scripted = TorchScriptClassifier(tmp_path / SCRIPT, "cpu").fake_probability(crops)
    assert direct.shape == scripted.shape == (3,)
    np.testing.assert_allclose(direct, scripted, atol=1e-4)
    via_stage = load_classifier(str(tmp_path), model="", identity="b", device="cpu")
    np.testing.assert_allclose(via_stage.fake_probability(crops), scripted, atol=1e-6)
    other = rng.integers(0, 256, (2, 200, 200, 3), dtype=np.uint8)  # any crop size: the export resizes
    p = via_stage.fake_probability(other)
    assert p.shape == (2,) and p[0] != p[1]


def test_detector_files_of_the_wrong_kind_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from models.detectors.checkpoint import WEIGHTS, build as build_net, load_detector, save_detector

    pickled = tmp_path / "pickle" / WEIGHTS
    pickled.parent.mkdir()
    torch.save({"w": torch.zeros(2)}, pickled)
    with pytest.raises(FacepipeError, match="pickle"):
        load_detector(pickled.parent)
    wrong = tmp_path / "wrong"
    save_detector(build_net("meso4"), "meso4", wrong, {})
    tensors = {k: v for k, v in build_net("xceptionmini").state_dict().items()}
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, str(wrong / WEIGHTS),
              metadata={"architecture": "meso4", "format": "facepipe-detector"})
    (wrong / "detector.json").unlink()
    with pytest.raises(FacepipeError, match="do not fit architecture meso4"):
        load_detector(wrong)
    swap = tmp_path / "swap"
    swap.mkdir()
    save_file({"g.x": torch.zeros(1)}, str(swap / WEIGHTS), metadata={"architecture": "facepipe-deepfakes-gan-v1"})
    with pytest.raises(FacepipeError, match="holds a swap-pair model .* not a detector"):
        load_detector(swap)
    result = run_cli("detector", "score", media("single_face.mp4"), "--detector", pickled.parent)
    one_line_error(result, "pickle")


# -- corpus refusals ---------------------------------------------------------------------------------


def _copy_manifest(corpus: Path, tmp: Path, keep) -> Path:  # noqa: ANN001
    """A corpus of the rows ``keep`` chooses, its videos hard-linked in (manifest paths must stay inside
    their corpus, so the rows cannot point back at the original)."""
    import os
    import shutil

    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    rows = [r for r in rows if keep(r)]
    tmp.mkdir()
    for row in rows:
        for key in ("path", "mask"):
            if row.get(key):
                (tmp / row[key]).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(corpus / row[key], tmp / row[key])
                except OSError:
                    shutil.copy2(corpus / row[key], tmp / row[key])
    (tmp / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp


def test_bad_corpora_are_one_line_errors(corpus: Path, tmp_path: Path) -> None:
    real_only = _copy_manifest(corpus, tmp_path / "real", lambda r: r["label"] == "real")
    one_line_error(run_cli("detector", "train", real_only, "-o", tmp_path / "d1"), "only real videos")
    one_line_error(run_cli("detector", "train", tmp_path / "missing", "-o", tmp_path / "d2"), "corpus not found")
    assert not (tmp_path / "d1").exists() and not (tmp_path / "d2").exists()


def test_eval_without_test_split_is_one_line_error(trained: Path, corpus: Path, tmp_path: Path) -> None:
    no_test = _copy_manifest(corpus, tmp_path / "notest", lambda r: r["split"] != "test")
    one_line_error(run_cli("detector", "eval", trained, no_test), "no 'test' split")


# -- end to end ----------------------------------------------------------------------------------


def test_trained_detector_separates_the_toy_test_split(trained: Path, corpus: Path, tmp_path: Path) -> None:
    card = json.loads((trained / "detector.json").read_text())
    assert card["architecture"] == "meso4" and card["data"]["train_real"] > 0 and card["data"]["train_fake"] > 0
    assert set(card["splits"]["train"]).isdisjoint(card["splits"]["val"])
    assert cv2.imread(str(trained / "curves.png")) is not None
    result = run_cli("detector", "eval", trained, corpus, "-o", tmp_path, "-q", "--set", "detector.eval_frames=4")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    overall = report["slices"]["overall"]["all"]
    assert overall["video"]["real"] == 2 and overall["video"]["fake"] == 2  # the two test identities
    assert overall["frame"]["auc"] > 0.9 and overall["video"]["auc"] > 0.9, overall
    assert set(report["slices"]["method"]) == {"Blur"} and "CC_3" in report["slices"]["perturbation"]
    assert 0.0 <= overall["frame"]["eer"] <= 0.5
    roc = cv2.imread(str(tmp_path / "roc.png"))
    assert roc is not None and roc.std() > 10
    assert "| CC_3 | perturbation |" in (tmp_path / "robustness.md").read_text()


# -- cross-corpus evaluation ---------------------------------------------------------------------------


def _held_out_copy(corpus: Path, folder: Path) -> Path:
    """The corpus's train and test videos as one corpus without a test split (every row in split
    'heldout'), in a folder of the same name: the table must suffix it."""
    folder.parent.mkdir(parents=True)
    copy = _copy_manifest(corpus, folder, lambda r: r["split"] in ("train", "test"))
    rows = [json.loads(line) for line in (copy / "manifest.jsonl").read_text().splitlines()]
    (copy / "manifest.jsonl").write_text("".join(json.dumps({**r, "split": "heldout"}) + "\n" for r in rows))
    return copy


def test_eval_of_two_corpora_writes_one_cross_corpus_table(trained: Path, corpus: Path, tmp_path: Path) -> None:
    held = _held_out_copy(corpus, tmp_path / "other" / corpus.name)
    fast = ["-q", "--set", "detector.eval_frames=4", "--cache", corpus / "cache" / "detector"]  # hard links: cache hits
    result = run_cli("detector", "eval", trained, corpus, held, "--split", "all", "-o", tmp_path / "out", *fast)
    assert result.returncode == 0, result.stderr
    assert "training corpus: scored on its test split only" in result.stderr
    assert not (tmp_path / "out" / "eval.json").exists()  # several corpora: only the table and its JSON
    data = json.loads((tmp_path / "out" / "cross-corpus.json").read_text())
    name = corpus.name
    assert [c["name"] for c in data["corpora"]] == [name, f"{name}-2"]
    assert [c["split"] for c in data["corpora"]] == ["test", "all"]  # the training corpus: its test split only
    assert [c["relation"] for c in data["corpora"]] == ["same corpus", "cross-corpus"]
    assert [c["seen_people"] for c in data["corpora"]] == [0, 3]  # the copy holds the 3 train identities
    overall = data["corpora"][1]["report"]["slices"]["overall"]["all"]["video"]
    assert (overall["real"], overall["fake"]) == (5, 5)  # 3 train + 2 test identities, clean, all scored
    # the training corpus's block is exactly what a one-corpus eval reports
    one = run_cli("detector", "eval", trained, corpus, "-o", tmp_path / "one", *fast)
    assert one.returncode == 0, one.stderr
    alone = json.loads((tmp_path / "one" / "eval.json").read_text())
    assert data["corpora"][0]["report"]["slices"] == alone["slices"] and alone["split"] == "test"
    table = (tmp_path / "out" / "cross-corpus.md").read_text()
    assert table.count("| corpus | split | vs training |") == 1  # one table
    same = [line for line in table.splitlines() if line.startswith(f"| {name} | test | same corpus |")]
    cross = [line for line in table.splitlines()
             if line.startswith(f"| {name}-2 | all | cross-corpus, 3 people seen in training |")]
    assert any("| overall | all | 2/2 |" in line for line in same)
    assert any("| method | Blur |" in line for line in same) and any("| perturbation | CC_3 |" in line for line in same)
    assert any("| overall | all | 5/5 |" in line for line in cross) and any("| perturbation | CC_3 |" in line for line in cross)
    assert len(same) + len(cross) == len(data["table"]["rows"]) and "mean of" not in table  # one cross corpus: no mean
    assert f"{name}-2 (all, cross-corpus, 3 people seen in training): frame AUC" in result.stdout


def test_eval_of_several_corpora_checks_them_all_before_writing(trained: Path, corpus: Path, tmp_path: Path) -> None:
    no_test = _copy_manifest(corpus, tmp_path / "notest", lambda r: r["split"] != "test")
    line = one_line_error(run_cli("detector", "eval", trained, corpus, no_test, "-o", tmp_path / "out"), "no 'test' split")
    assert "--split all" in line and not (tmp_path / "out").exists()
    missing = run_cli("detector", "eval", trained, corpus, tmp_path / "missing", "-o", tmp_path / "out")
    assert missing.returncode == 2
    one_line_error(missing, "corpus not found")
    assert not (tmp_path / "out").exists()


def _slice(real: int, fake: int, frame_auc: float | None, video_auc: float | None) -> dict:
    return {"frame": {"auc": frame_auc, "eer": 0.1, "accuracy": 0.9, "real": real * 4, "fake": fake * 4},
            "video": {"auc": video_auc, "eer": 0.0, "accuracy": 1.0, "real": real, "fake": fake}}


def test_cross_corpus_table_has_a_block_per_corpus_and_the_cross_mean() -> None:
    from pipeline.detection.evaluate import CROSS, CROSS_HEADER, SAME, CorpusResult, CrossCorpusReport, unique_names

    bench = bench_module("cross_corpus")
    home = {"slices": {"overall": {"all": _slice(2, 2, 0.95, 1.0)}, "method": {"Blur": _slice(2, 2, 0.97, 1.0)}}}
    far = {"slices": {"overall": {"all": _slice(3, 5, 0.6, None)}, "compression": {"c40": _slice(3, 5, 0.55, 0.5)}}}
    near = {"slices": {"overall": {"all": _slice(1, 1, 0.8, 0.75)}}}
    report = CrossCorpusReport("DET", "meso4", "/data/demo", 4, 0.5, [
        CorpusResult("demo", "/data/demo", "test", SAME, 0, home),
        CorpusResult("far", "/data/far", "all", CROSS, 0, far),
        CorpusResult("near", "/data/near", "all", CROSS, 2, near)])
    rows = bench.rows(report)
    assert all(len(row) == len(CROSS_HEADER) for row in rows)
    assert [row[:5] for row in rows] == [
        ("demo", "test", "same corpus", "overall", "all"), ("demo", "test", "same corpus", "method", "Blur"),
        ("far", "all", "cross-corpus", "overall", "all"), ("far", "all", "cross-corpus", "compression", "c40"),
        ("near", "all", "cross-corpus, 2 people seen in training", "overall", "all"),
        ("mean of 2 corpora", "", "cross-corpus", "overall", "all")]
    assert rows[2][5:] == ("3/5", "0.600", "-", "0.100", "0.900")  # a missing figure is "-", never 0.5
    assert rows[-1][5:] == ("4/6", "0.700", "-", "0.100", "0.900")  # far lacks a video AUC: so does the mean
    text = bench.body(report, "all")
    assert "trained on `demo`" in text and "| mean of 2 corpora |" in text and text.count("| corpus |") == 1
    assert unique_names([Path("x/a"), Path("y/a"), Path("z/a-2"), Path("b")]) == ["a", "a-2", "a-2-2", "b"]


def test_score_gives_one_entry_per_frame_and_an_overlay(trained: Path, corpus: Path, tmp_path: Path) -> None:
    fake = next((corpus / "manipulated_sequences" / "Blur" / "c23" / "videos").glob("*.mp4"))
    out_json, overlay = tmp_path / "s.json", tmp_path / "s.mp4"
    result = run_cli("detector", "score", fake, "--detector", trained, "--json", out_json, "-o", overlay, "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    frames = read_frames(fake)
    assert [f["index"] for f in data["frames"]] == list(range(len(frames)))
    per_frame = [max(face["p_fake"] for face in f["faces"]) for f in data["frames"] if f["faces"]]
    assert len(per_frame) >= len(frames) - 2
    assert data["video"]["p_fake"] == pytest.approx(np.mean(per_frame), abs=1e-3)
    assert f"P(fake) {data['video']['p_fake']:.4f}" in result.stdout
    drawn = read_frames(overlay)
    assert len(drawn) == len(frames)
    first = data["frames"][0]["faces"][0]
    x0, y0, x1, y1 = (int(v) for v in first["box"])
    colour = np.array([0, 255 * min(1, 2 * (1 - first["p_fake"])), 255 * min(1, 2 * first["p_fake"])])
    edge = drawn[0][y0 + 5:y1 - 5, x0].astype(float)  # the box's left side, in the score's colour
    assert np.abs(edge.mean(axis=0) - colour).max() < 40, (edge.mean(axis=0), colour)


def test_score_of_a_video_without_faces_says_no_face(trained: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "n.json"
    result = run_cli("detector", "score", media("no_face.mp4"), "--detector", trained, "--json", out_json, "-q")
    one_line_error(result, "no face")
    data = json.loads(out_json.read_text())
    assert data["video"]["p_fake"] is None and data["video"]["verdict"] == "no face"
    assert "0.5" not in result.stdout


def test_occlusion_augment_draws_the_stage_occluders_inside_the_face(corpus: Path) -> None:
    from pipeline.cli.settings import load_config
    from pipeline.detection.augment import CropOccluder
    from pipeline.detection.crops import video_crops

    clip = next((corpus / "original_sequences" / "youtube" / "c23" / "videos").glob("*.mp4"))
    crops = video_crops(clip, load_config(), 2, 0, "x", None)
    occluder = CropOccluder()
    rng = np.random.default_rng(0)
    for kind in ("block", "noise", "object"):
        image, area = occluder(crops.images[0], crops.crop_boxes[0], crops.crop_landmarks[0], rng, kind=kind, level=3)
        changed = np.any(image != crops.images[0], axis=2)
        ys, xs = np.nonzero(changed)
        x0, y0, x1, y1 = crops.crop_boxes[0]
        assert 0.03 < area < 0.6 and changed.any(), (kind, area)
        assert xs.min() >= x0 - 1 and xs.max() <= x1 + 1 and ys.min() >= max(0, y0 - 1) and ys.max() <= y1 + 1


# -- resume after a kill --------------------------------------------------------------------------------


def test_training_stopped_after_an_epoch_resumes_in_process(trained: Path, corpus: Path, tmp_path: Path) -> None:
    """Fast variant: an error after epoch 2's log line (its state not yet saved) stops the run; the re-run
    picks up after epoch 1 and ends with the uninterrupted run's history."""
    from pipeline.cli.settings import load_config
    from pipeline.detection.resume import STATE
    from pipeline.detection.train import train_detector

    config = load_config(None, [s for s in TRAIN[3:] if s != "--set"] + ['detector.architecture="meso4"',
                                                                        "detector.epochs=3"])

    def stop_at_epoch_2(message: str) -> None:
        if message.startswith("epoch 2:"):
            raise KeyboardInterrupt

    out = tmp_path / "det"
    with pytest.raises(KeyboardInterrupt):
        train_detector(corpus, out, config, occlusion_augment=False, cache_dir=corpus / "cache" / "detector",
                       log=stop_at_epoch_2)
    assert (out / STATE).is_file() and not (out / "detector.json").exists()
    lines: list[str] = []
    card = train_detector(corpus, out, config, occlusion_augment=False, cache_dir=corpus / "cache" / "detector",
                          log=lines.append)
    assert lines[0].startswith("resuming from epoch 1 ") and [r["epoch"] for r in card["resumed"]] == [1]
    assert card["history"]["epoch"] == [1, 2, 3] and not (out / STATE).exists()
    fresh = train_detector(corpus, tmp_path / "fresh", config, occlusion_augment=False,
                           cache_dir=corpus / "cache" / "detector", log=lambda message: None)
    assert fresh["resumed"] == []
    np.testing.assert_allclose(card["history"]["train_loss"], fresh["history"]["train_loss"], rtol=1e-4)


@pytest.mark.slow
def test_training_killed_after_an_epoch_resumes_where_it_stopped(trained: Path, corpus: Path, tmp_path: Path) -> None:
    """SIGKILL once the first epoch's state is saved; the same command finishes the run, epochs neither lost
    nor repeated. Same settings and crops as ``trained`` (an uninterrupted run), so the histories must agree."""
    from pipeline.detection.resume import STATE

    out = tmp_path / "det"
    command = [sys.executable, "-m", "pipeline.cli.main", "detector", "train", str(corpus), "-o", str(out), *TRAIN]
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(command, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (out / STATE).is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
    assert not (out / "detector.json").exists() and not (out / "detector.safetensors").exists()
    saved = torch.load(str(out / STATE), weights_only=True)
    stopped = saved["epoch"]
    assert 1 <= stopped < 8 and saved["history"]["epoch"] == list(range(1, stopped + 1))

    from pipeline.cli.settings import load_config
    from pipeline.detection.train import train_detector

    other = load_config(None, [*[s for s in TRAIN[3:] if s != "--set"], "detector.lr=0.002", 'detector.architecture="meso4"'])
    with pytest.raises(FacepipeError, match="different setting: lr = 0.001 there, 0.002 now; .* --restart"):
        train_detector(corpus, out, other, occlusion_augment=False, cache_dir=None)

    result = run_cli("detector", "train", corpus, "-o", out, *TRAIN, timeout=900)
    assert result.returncode == 0, result.stderr
    assert f"resumed from epoch {stopped}" in result.stdout
    card = json.loads((out / "detector.json").read_text())
    reference = json.loads((trained / "detector.json").read_text())
    assert [r["epoch"] for r in card["resumed"]] == [stopped]
    assert card["history"]["epoch"] == reference["history"]["epoch"] == list(range(1, 9))
    assert card["figures"]["steps"] == reference["figures"]["steps"]
    np.testing.assert_allclose(card["history"]["train_loss"], reference["history"]["train_loss"], rtol=1e-3)
    assert not (out / STATE).exists() and not list(out.glob(".*facepipe-partial*"))


# -- the attack against the detector -------------------------------------------------------------------


def test_attack_always_prints_a_summary_line(trained: Path, tmp_path: Path) -> None:
    base = ["attack", media("single_face.mp4"), "-q", "--set", "decode.max_frames=3", "--set", "occlude.budget=8",
            "--set", f"occlude.classifier={json.dumps(str(trained))}"]
    result = run_cli(*base, "-o", tmp_path / "a.mp4", "--set", "occlude.threshold=0.0")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("attack summary: 3 faces seen, 0 already judged real, 0 fooled, 3 not fooled within 8 queries")
    result = run_cli(*base, "-o", tmp_path / "b.mp4", "--set", "occlude.threshold=1.0")
    assert result.returncode == 0, result.stderr
    assert "3 faces seen, 3 already judged real" in result.stdout
    assert "already calls every face real" in result.stderr
    result = run_cli("attack", media("no_face.mp4"), "-q", "-o", tmp_path / "c.mp4", "--set", "decode.max_frames=3",
                     "--set", f"occlude.classifier={json.dumps(str(trained))}")
    assert result.returncode == 0 and "attack summary: 0 faces seen" in result.stdout


# -- pure parts ----------------------------------------------------------------------------------------


def test_figures_auc_eer_accuracy() -> None:
    from pipeline.detection.metrics import figures

    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    perfect = figures(labels, np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]))
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["accuracy"] == 1.0
    # one real above one fake: 15 of 16 pairs ordered; one error per class at the EER threshold
    swapped = figures(labels, np.array([0.1, 0.2, 0.3, 0.65, 0.6, 0.7, 0.8, 0.9]))
    assert swapped["auc"] == pytest.approx(15 / 16) and swapped["eer"] == pytest.approx(0.25)
    assert figures(np.array([1, 1]), np.array([0.2, 0.9]))["auc"] is None  # one class: no AUC, not 0.5


def test_manifest_fields_and_perturbations(tmp_path: Path) -> None:
    from pipeline.detection.corpus import read_corpus
    from pipeline.detection.evaluate import slices

    rows = [{"path": "a.mp4", "label": "real", "split": "test", "compression": "c23", "perturbation": []},
            {"path": "b.mp4", "label": "fake", "method": "Warp", "split": "test", "compression": "c23", "perturbation": []},
            {"path": "p/a.mp4", "label": "real", "split": "test", "compression": "c23",
             "perturbation": [{"type": "GB", "level": 3}, {"type": "CS", "level": 1}]},
            {"path": "p/b.mp4", "label": "fake", "method": "Warp", "split": "test", "compression": "c23",
             "perturbation": ["GB:3", "CS:1"]},
            {"path": "x.mp4", "label": "fake", "split": "test", "error": "decode failed"}]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    videos = read_corpus(tmp_path)
    assert [v.perturbation for v in videos] == ["clean", "clean", "GB_3+CS_1", "GB_3+CS_1"]
    assert [v.method for v in videos] == ["real", "Warp", "real", "Warp"]
    groups = slices(videos)
    assert groups["method"]["Warp"] == [0, 1] and groups["perturbation"]["GB_3+CS_1"] == [2, 3]
    (tmp_path / "manifest.jsonl").write_text('{"path": "a.mp4", "label": "maybe"}\n')
    with pytest.raises(FacepipeError, match="neither 'real' nor 'fake'"):
        read_corpus(tmp_path)


# -- calibration and familiarity -------------------------------------------------------------------


def test_folded_platt_equals_the_fitted_curve_and_moves_the_midpoint() -> None:
    from models.detectors.calibration import Platt, fit_platt, fold_platt, logits_and_features
    from models.detectors.checkpoint import build

    torch.manual_seed(0)
    net = build("meso4").eval()
    x = torch.rand(24, 3, 256, 256)
    raw, _ = logits_and_features(net, [x])
    labels = (raw > np.median(raw) + 0.1 * raw.std()).astype(int)  # a midpoint away from logit 0
    platt = fit_platt(raw, labels)
    assert platt.a > 0
    fold_platt(net, platt)
    folded, _ = logits_and_features(net, [x])
    assert np.allclose(1 / (1 + np.exp(-folded)), platt.apply(raw), atol=1e-5)
    assert np.allclose(Platt(1.0, 0.0).apply(raw), 1 / (1 + np.exp(-raw)))


def test_familiarity_flags_features_unlike_the_training_ones() -> None:
    from models.detectors.calibration import Familiarity, fit_familiarity, uncertain_reason

    rng = np.random.default_rng(0)
    train, val = rng.normal(0, 1, (2000, 16)), rng.normal(0, 1, (500, 16))
    fam = fit_familiarity(train, val)
    usual, unusual = fam.distance(rng.normal(0, 1, (200, 16))), fam.distance(rng.normal(3, 1, (200, 16)))
    assert (usual > fam.threshold).mean() < 0.05 and (unusual > fam.threshold).mean() > 0.95
    assert uncertain_reason(usual.tolist(), fam) is None
    reason = uncertain_reason(unusual.tolist(), fam)
    assert reason is not None and "unlike the detector's training data" in reason
    assert Familiarity.from_card(fam.as_card()).threshold == pytest.approx(fam.threshold, abs=1e-3)
    assert Familiarity.from_card({"mean": [0.0], "scale": [0.0], "threshold": 1.0}) is None  # broken card: no claim


def test_trained_card_states_its_calibration_and_score_says_uncertain(trained: Path, corpus: Path,
                                                                       tmp_path: Path) -> None:
    import shutil

    card = json.loads((trained / "detector.json").read_text())
    block = card["calibration"]
    assert block["platt"] is not None and "val split" in block["fitted_on"]
    test = block["test"]
    assert test["real_videos"] == 2 and test["fake_videos"] == 2
    assert test["real_called_fake"] == 0 and test["fake_called_fake"] == 2  # the toy fakes are obvious
    assert len(card["familiarity"]["mean"]) == 16 and card["familiarity"]["threshold"] > 0
    real = next((corpus / "original_sequences" / "youtube" / "c23" / "videos").glob("*.mp4"))
    out_json = tmp_path / "r.json"
    result = run_cli("detector", "score", real, "--detector", trained, "--json", out_json, "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    assert data["video"]["verdict"] in ("real", "fake") and data["video"]["uncertain_because"] is None
    assert all("distance" in face for f in data["frames"] for face in f["faces"])
    # The same detector told that nothing it sees is familiar must say so rather than give a verdict.
    strange = tmp_path / "strange"
    shutil.copytree(trained, strange)
    card["familiarity"]["threshold"] = 0.0
    (strange / "detector.json").write_text(json.dumps(card))
    result = run_cli("detector", "score", real, "--detector", strange, "--json", out_json, "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    assert data["video"]["verdict"] == "uncertain" and "unlike the detector's training data" in data["video"]["uncertain_because"]
    assert "(uncertain)" in result.stdout and "uncertain: " in result.stdout


def test_train_variants_all_adds_the_perturbed_videos_but_test_stays_clean(tmp_path: Path) -> None:
    from pipeline.detection.train import training_videos

    lines = [{"path": f"{variant}{split}_{label}.mp4", "label": label, "split": split, "perturbation": plist}
             for split in ("train", "val", "test") for label in ("real", "fake")
             for variant, plist in (("", []), ("perturbed/CS_3/", ["CS:3"]))]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    clean_train, clean_val, test = training_videos(tmp_path, "clean")
    all_train, all_val, test_again = training_videos(tmp_path, "all")
    assert {v.perturbation for v in clean_train} == {"clean"} and len(clean_train) == 2
    assert {v.perturbation for v in all_train} == {"clean", "CS_3"} and len(all_train) == 4 and len(all_val) == 4
    assert test == test_again and {v.perturbation for v in test} == {"clean"} and len(test) == 2
    with pytest.raises(FacepipeError, match="'Warp' is not a method"):
        training_videos(tmp_path, "clean", ["Warp"])


def test_heldout_bench_summary_counts_reals_called_fake_and_ranks_swaps() -> None:
    from bench.detector_heldout import Scored, summary

    scored = [Scored("a", 0, 0.2, "real", None), Scored("a", 1, 0.7, "fake", None),
              Scored("b", 0, 0.6, "fake", None), Scored("b", 1, 0.4, "real", None),
              Scored("c", 0, None, "no face", None), Scored("d", 0, 0.1, "uncertain", "why")]
    figs = summary(scored, 0.5)
    assert figs["reals"] == 3 and figs["reals_at_or_above_threshold"] == 1 and figs["reals_uncertain"] == 1
    assert figs["swaps"] == 2 and figs["swaps_at_or_above_threshold"] == 1
    assert figs["video_auc"] == pytest.approx(5 / 6, abs=1e-3)  # 0.7 beats all three reals, 0.4 two of them
