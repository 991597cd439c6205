"""Training on real face crops: loss falls, resume continues, Ctrl-C saves, the CLI writes everything."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.checkpoint import OPTIMIZER, WEIGHTS
from models.family import read_tensors
from models.evaluate import evaluate
from models.faceset import load_faceset
from models.train_config import TrainConfig
from models.training import Trainer
from pipeline.cli.main import main as cli
from pipeline.errors import FacepipeError
from tests.conftest import media

CLIPS_A = ["WolfgangLanger_Pexels.mp4"]
CLIPS_B = ["single_face.mp4", "face_noface.mov", "noface_face.mov"]
# Tiny and fast: a few dozen steps run in seconds on two cores.
TINY = TrainConfig(width=8, latent=32, disc_width=8, batch_size=8, lr_g=1e-3, lr_d=5e-4, gan_warmup=5,
                   preview_every=1000, save_every=1000)


@pytest.fixture(scope="module")
def facesets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.quickset import make_quick_faceset

    root = tmp_path_factory.mktemp("facesets")
    a = make_quick_faceset([media(c) for c in CLIPS_A], root / "a", count=16, size=64)
    b = make_quick_faceset([media(c) for c in CLIPS_B], root / "b", count=16, size=64)
    assert len(list((a / "faces").glob("*.png"))) >= 8 and len(list((b / "faces").glob("*.png"))) >= 8
    return a, b


def _trainer(facesets: tuple[Path, Path], out: Path, cfg: TrainConfig = TINY, resume: bool = False) -> Trainer:
    torch.set_num_threads(2)
    fa = load_faceset([facesets[0]], cfg.resolution, cfg.holdout)
    fb = load_faceset([facesets[1]], cfg.resolution, cfg.holdout)
    return Trainer(cfg, out, fa, fb, torch.device("cpu"), resume=resume)


def test_reconstruction_loss_falls(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    trainer = _trainer(facesets, tmp_path / "m")
    data_a, data_b = trainer.faces_a.train, trainer.faces_b.train
    before = evaluate(trainer.nets, data_a, data_b, trainer.device)
    trainer.run(40)
    after = evaluate(trainer.nets, data_a, data_b, trainer.device)
    assert after["a2a"]["l1"] < 0.8 * before["a2a"]["l1"]
    assert after["b2b"]["l1"] < 0.8 * before["b2b"]["l1"]
    assert trainer.history["rec_a"][-1] < trainer.history["rec_a"][0]
    assert "g_adv" in trainer.card(None)["losses"]  # the GAN term was active after the warm-up


def test_resume_continues_step_and_optimiser_state(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "m"
    first = _trainer(facesets, out)
    first.run(6)
    saved_g = {k: v.clone() for k, v in first.opt_g.state_dict()["state"][0].items()}
    weights = {k: v.clone() for k, v in first.nets.state_dict().items()}
    second = _trainer(facesets, out, resume=True)
    assert second.iteration == 6
    for key, value in second.opt_g.state_dict()["state"][0].items():
        assert torch.equal(value, saved_g[key])
    for key, value in second.nets.state_dict().items():
        assert torch.equal(value, weights[key])
    second.run(9)
    card = json.loads((out / "model.json").read_text())
    assert card["iterations"] == 9
    tensors, _ = read_tensors(out / OPTIMIZER)
    assert int(tensors["iteration"]) == 9 and int(tensors["g.0.step"]) == 9


def test_resume_refuses_a_different_shape(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "m"
    _trainer(facesets, out).run(2)
    with pytest.raises(FacepipeError, match="differs"):
        _trainer(facesets, out, cfg=replace(TINY, width=16), resume=True)


def test_ctrl_c_saves_a_checkpoint(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "m"
    trainer = _trainer(facesets, out)

    def interrupt(iteration: int, losses: dict, seconds: float) -> None:
        if iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.run(100, on_step=interrupt)
    card = json.loads((out / "model.json").read_text())
    assert card["iterations"] == 3 and (out / WEIGHTS).is_file() and (out / OPTIMIZER).is_file()
    assert not list(out.glob("*.tmp.*"))


def _numbered_faceset(root: Path, clips: dict[str, int], seed: int = 0) -> Path:
    """Distinct random crops (no two within 35 dB); pixel (0, 0) holds the frame number, (0, 1) the clip."""
    faces = root / "faces"
    faces.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for number, (clip, frames) in enumerate(clips.items()):
        for frame in range(frames):
            crop = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
            crop[0, 0, :3], crop[0, 1, :3] = frame, number
            cv2.imwrite(str(faces / f"{clip}_{frame:06d}_0.png"), crop)
    return root


def test_holdout_is_a_block_at_the_end_of_each_clip_after_a_gap(tmp_path: Path) -> None:
    root = _numbered_faceset(tmp_path, {"x": 20, "y": 20})
    fs = load_faceset([root], 32, holdout=0.2, gap=5)
    held = sorted((int(c[0, 1, 0]), int(c[0, 0, 0])) for c in fs.held)
    train = sorted((int(c[0, 1, 0]), int(c[0, 0, 0])) for c in fs.train)
    assert held == [(clip, frame) for clip in (0, 1) for frame in range(16, 20)]
    assert train == [(clip, frame) for clip in (0, 1) for frame in range(0, 11)]  # 11..15: the gap
    assert fs.gap_faces == 10 and fs.duplicates == 0 and fs.split == "time"


def test_holdout_by_clip_keeps_whole_clips_out(tmp_path: Path) -> None:
    root = _numbered_faceset(tmp_path, {"x": 12, "y": 6, "z": 6})
    fs = load_faceset([root], 32, holdout=0.2, by="clip")
    assert sorted({int(c[0, 1, 0]) for c in fs.held}) == [2] and len(fs.held) == 6
    assert sorted({int(c[0, 1, 0]) for c in fs.train}) == [0, 1] and len(fs.train) == 18
    with pytest.raises(FacepipeError, match="two or more distinct clips"):
        load_faceset([_numbered_faceset(tmp_path / "one", {"x": 10})], 32, holdout=0.2, by="clip")


def test_same_footage_in_two_files_counts_once(tmp_path: Path) -> None:
    """A re-encode of a clip adds no faces, and nothing held out is within 35 dB of a training face."""
    from tests.conftest import psnr

    root = _numbered_faceset(tmp_path, {"x": 12, "y": 12}, seed=1)
    faces = root / "faces"
    for path in sorted(faces.glob("x_*.png")):  # "zcopy": x again with +-2 levels of noise (about 43 dB)
        crop = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.int16)
        noise = np.random.default_rng(int(path.stem[2:8])).integers(-2, 3, crop.shape)
        cv2.imwrite(str(faces / path.name.replace("x_", "zcopy_")), np.clip(crop + noise, 0, 255).astype(np.uint8))
    fs = load_faceset([root], 32, holdout=0.25, gap=0)
    assert fs.duplicates == 12 and "zcopy" not in fs.clips and len(fs.train) + len(fs.held) == 24
    worst = max(psnr(a[..., :3], b[..., :3]) for a in fs.train for b in fs.held)
    assert worst < 35.0
    assert len(load_faceset([root], 32, dedupe_psnr=0).train) == 36  # 0 turns it off


def test_a_still_face_is_not_on_both_sides_of_the_split(tmp_path: Path) -> None:
    """Frames of a face that hardly moves stay alike longer than any gap: look-alikes leave training."""
    root = _numbered_faceset(tmp_path, {"x": 10})
    still = cv2.imread(str(root / "faces" / "x_000000_0.png"), cv2.IMREAD_UNCHANGED)
    for frame in range(10):
        crop = still.copy()
        crop[0, 0, :3], crop[0, 1, :3] = frame, 1
        cv2.imwrite(str(root / "faces" / f"still_{frame:06d}_0.png"), crop)
    fs = load_faceset([root], 32, holdout=0.2, gap=0)
    assert fs.duplicates == 1  # still's frame 0 is x's frame 0 but for two pixels: another clip, dropped
    assert sorted(int(c[0, 1, 0]) for c in fs.held) == [0, 0, 1, 1]
    # still's frames 1-7 look like its held 8-9, and so does x's frame 0 (still was made from it)
    assert sorted(int(c[0, 0, 0]) for c in fs.train if c[0, 1, 0] == 0) == list(range(1, 8))
    assert not [c for c in fs.train if c[0, 1, 0] == 1] and fs.gap_faces == 8


def test_cli_trains_and_writes_checkpoint_card_and_pictures(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "model"
    settings = ["train.width=8", "train.latent=32", "train.disc_width=8", "train.batch_size=4", "train.preview_every=4",
                "train.gan_warmup=2", "train.holdout=0.2", "train.threads=2"]
    args = ["train", "--faces-a", str(facesets[0]), "--faces-b", str(facesets[1]), "-o", str(out), "--iterations", "8", "-q"]
    for s in settings:
        args += ["--set", s]
    assert cli(args) == 0
    for name in (WEIGHTS, OPTIMIZER, "model.json", "preview.png", "losses.png"):
        assert (out / name).is_file(), name
    card = json.loads((out / "model.json").read_text())
    assert card["iterations"] == 8 and card["resolution"] == 64
    assert card["evaluation"]["split"] == "held-out"
    assert {"a2a", "b2b", "discriminator_accuracy"} <= set(card["evaluation"])
    assert {"rec_a", "rec_b", "d_a", "d_b"} <= set(card["losses"])
    assert card["data"]["a"]["held_out_faces"] > 0
    grid = cv2.imread(str(out / "preview.png"))
    assert grid.shape[0] == 6 * 128  # rows A, A->A, A->B, B, B->B, B->A
    # A second run without --resume must not clobber the model; --resume continues it.
    assert cli(args) == 2
    assert cli(args[:-len(settings) * 2] + ["--resume", "--iterations", "10"] + sum((["--set", s] for s in settings), [])) == 0
    assert json.loads((out / "model.json").read_text())["iterations"] == 10


def test_cli_refuses_a_corrupt_checkpoint_on_resume(facesets: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / WEIGHTS).write_bytes(b"garbage that is not a safetensors file")
    code = cli(["train", "--faces-a", str(facesets[0]), "--faces-b", str(facesets[1]), "-o", str(out), "--resume", "-q",
                "--set", "train.width=8", "--set", "train.latent=32", "--set", "train.disc_width=8"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("facepipe: error:") and "corrupt" in err and "\n" not in err
