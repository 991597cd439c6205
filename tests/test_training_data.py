"""What training reads and carries: eyes-and-mouth maps, pose-balanced draws, occlusion-masked crops,
faceset packs, warm starts and float16 shards."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models import losses
from models.checkpoint import CARD, WEIGHTS, Networks, load_networks, save_weights
from models.face_parts import part_maps, pose_weights, yaw
from models.faceset import load_faceset, mask_occluders
from models.faceset_pack import load_pack, save_pack
from models.generator import ModelSpec
from models.train_config import TrainConfig
from models.training import Trainer
from pipeline.cli.main import main as cli
from pipeline.errors import FacepipeError
from pipeline.media.faceset import read_alignments
from stages.faces.geometry import MEAN_FACE
from tests.conftest import media

REPO = Path(__file__).resolve().parents[1]
HANDS = REPO / "tests" / "data" / "hands"
TINY = TrainConfig(width=8, latent=32, disc_width=8, batch_size=4, gan_warmup=5, preview_every=1000, save_every=1000)


def template_face(size: int, turn: float = 0.0) -> np.ndarray:
    """The mean 68-point face filling a ``size`` crop; ``turn`` slides the nose towards one jaw end."""
    points = np.asarray(MEAN_FACE, np.float32).copy()
    points = (points - points.min(0)) / (points.max(0) - points.min(0)) * size * 0.7 + size * 0.15
    points[27:36, 0] += turn * size * 0.1
    return points


# ---------------------------------------------------------------- eyes and mouth, head pose
def test_part_maps_mark_eyes_and_mouth_and_nothing_else() -> None:
    points = template_face(128)
    maps = part_maps(np.stack([points, np.full((68, 2), np.nan, np.float32)]), 128)
    inside = [points[36:42].mean(0), points[42:48].mean(0), points[48:60].mean(0), points[19]]
    outside = [points[30], points[2], points[14], points[8]]  # nose tip, both cheeks, chin
    for x, y in inside:
        assert maps[0, int(y), int(x)] > 200
    for x, y in outside:
        assert maps[0, int(y), int(x)] < 30
    assert maps[1].max() == 0  # no landmarks: no weight anywhere


def test_parts_weight_makes_an_eye_error_cost_more_than_a_cheek_error() -> None:
    size = 64
    maps = torch.from_numpy(part_maps(template_face(size)[None], size)).float()[:, None] / 255
    target = torch.full((1, 3, size, size), 0.5)
    mask = torch.ones(1, 1, size, size)
    eye = target.clone()
    eye[..., maps[0, 0] > 0.9] += 0.2
    cheek = target.clone()
    cheek_area = (maps[0, 0] < 0.01).nonzero()[: int((maps[0, 0] > 0.9).sum())]
    cheek[..., cheek_area[:, 0], cheek_area[:, 1]] += 0.2  # the same number of pixels, off the parts
    plain = [losses.reconstruction(x, target, mask, 0.0)[0] for x in (eye, cheek)]
    weighted = [losses.reconstruction(x, target, mask, 0.0, maps, 3.0)[0] for x in (eye, cheek)]
    assert plain[0] == pytest.approx(float(plain[1]), rel=1e-3)
    assert weighted[0] > 3.5 * weighted[1]


def test_pose_weights_lift_turned_heads_without_starving_frontal_ones() -> None:
    faces = np.stack([template_face(128, 0.0)] * 90 + [template_face(128, 1.5)] * 10 + [np.full((68, 2), np.nan)] * 5)
    turn = yaw(faces)
    assert abs(turn[0]) < 0.1 and turn[95] > 0.2 and np.isnan(turn[-1])
    weights = pose_weights(faces)
    assert weights.sum() == pytest.approx(1.0)
    frontal, turned = weights[:90].sum(), weights[90:100].sum()
    assert turned > 2 * 10 / 105  # drawn well over their uniform share
    assert frontal > turned  # the common pose still leads
    assert weights[-1] == pytest.approx(weights[:100].mean(), rel=1e-6)  # no landmarks: an average face


# ---------------------------------------------------------------- occlusion-masked training crops
@pytest.mark.parametrize("frame", [110, 150])
def test_occlusion_mask_takes_the_hand_out_of_a_training_crop(frame: int, tmp_path: Path) -> None:
    """A labelled hand frame of the sample, extracted: the hand leaves the crop's mask, the face stays."""
    out = tmp_path / "faces"
    assert cli(["extract", str(REPO / "samples" / "sample.mp4"), "-o", str(out), "--start", f"{frame}f",
                "--end", f"{frame + 1}f", "-q"]) == 0
    record = read_alignments(out)["faces"][0]
    crop = cv2.imread(str(out / record["file"]), cv2.IMREAD_UNCHANGED)
    hand = cv2.imread(str(HANDS / f"sample_{frame:03d}.png"), cv2.IMREAD_GRAYSCALE)
    size = crop.shape[0]
    hand_in_crop = cv2.warpAffine(hand, np.asarray(record["matrix"]), (size, size)) > 127
    hull = crop[..., 3] > 200
    covered = hand_in_crop & hull  # the landmark hull runs under the hand
    face = hull & ~cv2.dilate(hand_in_crop.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert covered.sum() > 500 and face.sum() > 5000
    masked = mask_occluders(crop[None])[0, ..., 3]
    assert masked[covered].mean() < 0.35 * 255
    assert masked[face].mean() > 0.85 * 255


# ---------------------------------------------------------------- packs
@pytest.fixture(scope="module")
def faceset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real extract (with landmarks) of the unseen man: 24 frames."""
    out = tmp_path_factory.mktemp("fs") / "man"
    assert cli(["extract", str(media("single_face.mp4")), "-o", str(out), "--end", "24f", "-q"]) == 0
    return out


def test_pack_round_trip_keeps_crops_landmarks_and_split(faceset: Path, tmp_path: Path) -> None:
    faces = load_faceset([faceset], 64, holdout=0.25, gap=2)
    assert len(faces.train) and len(faces.held) and np.isfinite(faces.train_landmarks).all()
    save_pack(faces, tmp_path / "man.npz")
    back = load_faceset([tmp_path / "man.npz"], 64)
    assert back.train.shape == faces.train.shape and back.held.shape == faces.held.shape
    assert np.abs(back.train[..., :3].astype(int) - faces.train[..., :3]).mean() < 2.0  # JPEG 95
    assert np.array_equal(back.train[..., 3], faces.train[..., 3])  # the mask is lossless
    assert np.allclose(back.train_landmarks, faces.train_landmarks)
    assert back.clips == faces.clips and back.gap_faces == faces.gap_faces
    half = load_pack(tmp_path / "man.npz", 32)
    assert half.train.shape[1:] == (32, 32, 4) and np.allclose(half.train_landmarks, faces.train_landmarks / 2)


def test_a_broken_pack_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "a.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FacepipeError, match="not a readable faceset pack"):
        load_faceset([bad], 64)
    with pytest.raises(FacepipeError, match="give it alone"):
        load_faceset([bad, tmp_path], 64)


def test_cli_packs_then_trains_from_the_packs(faceset: Path, tmp_path: Path) -> None:
    small = ["--set", "train.width=8", "--set", "train.latent=32", "--set", "train.disc_width=8",
             "--set", "train.batch_size=4", "--set", "train.holdout=0.2", "--set", "train.holdout_gap=2", "-q"]
    assert cli(["train", "--faces-a", str(faceset), "--faces-b", str(faceset), "--pack-to", str(tmp_path / "packs"), *small]) == 0
    assert (tmp_path / "packs" / "a.npz").is_file() and (tmp_path / "packs" / "b.npz").is_file()
    assert cli(["train", "--faces-a", str(tmp_path / "packs" / "a.npz"), "--faces-b", str(tmp_path / "packs" / "b.npz"),
                "-o", str(tmp_path / "model"), "--iterations", "3", *small]) == 0
    card = json.loads((tmp_path / "model" / CARD).read_text())
    assert card["iterations"] == 3 and card["data"]["a"]["held_out_faces"] > 0
    prepared = card["data"]["a"]["prepared"]  # what the pack applied, recorded where the card can show it
    assert prepared["pack"].endswith("a.npz") and prepared["holdout"] == 0.2 and prepared["occlusion_mask"] is True


# ---------------------------------------------------------------- warm start and shards
def _small_model(directory: Path, spec: ModelSpec, seed: int = 0) -> Networks:
    torch.manual_seed(seed)
    nets = Networks(spec, 8)
    save_weights(nets, directory, {"iterations": 7})
    return nets


def test_a_new_model_starts_from_another_models_weights(faceset: Path, tmp_path: Path) -> None:
    spec = ModelSpec(64, 8, 32)
    start = _small_model(tmp_path / "start", spec, seed=1)
    faces = load_faceset([faceset], 64)
    cfg = replace(TINY, init=str(tmp_path / "start"))
    trainer = Trainer(cfg, tmp_path / "new", faces, faces, torch.device("cpu"))
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for ident in "ab":
            ours = trainer.nets.g.decoder(ident)(trainer.nets.g.encoder(x))[0]
            theirs = start.g.decoder(ident)(start.g.encoder(x))[0]
            assert torch.equal(ours, theirs)
    assert trainer.iteration == 0 and trainer.card(None)["initialised_from"]["iterations"] == 7
    with pytest.raises(FacepipeError, match="differs"):
        Trainer(replace(cfg, width=16), tmp_path / "other", faces, faces, torch.device("cpu"))


def test_shards_carry_a_model_and_join_back(tmp_path: Path) -> None:
    from models.transfer import join, split

    spec = ModelSpec(128, 8, 32, decoder_width=8)
    nets = _small_model(tmp_path / "model", spec)
    shards = split(tmp_path / "model", tmp_path / "shards", max_mb=0.5)
    assert len(shards) >= 2 and all(p.stat().st_size < 0.6e6 for p in shards)
    join(tmp_path / "shards", tmp_path / "joined")
    back, card = load_networks(tmp_path / "joined")
    assert back.spec == spec and card.record["iterations"] == 7
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        a = nets.g.decoder_b(nets.g.encoder(x))[0]
        b = back.g.decoder_b(back.g.encoder(x))[0]
    assert float((a - b).abs().max()) * 255 < 1.0  # float16 weights: under one output level
    shards[-1].unlink()
    with pytest.raises(FacepipeError, match="not one complete split"):
        join(tmp_path / "shards", tmp_path / "again")


def test_shards_of_two_models_never_join_and_a_failed_join_changes_nothing(tmp_path: Path) -> None:
    from models.transfer import join, split

    spec = ModelSpec(64, 8, 32)
    _small_model(tmp_path / "x", spec, seed=1)
    _small_model(tmp_path / "y", spec, seed=2)
    split(tmp_path / "x", tmp_path / "x-shards", max_mb=0.2)
    join(tmp_path / "x-shards", tmp_path / "joined")
    before = {p.name: p.read_bytes() for p in (tmp_path / "joined").iterdir()}
    split(tmp_path / "y", tmp_path / "y-shards", max_mb=0.2)
    (tmp_path / "y-shards" / "weights-01.safetensors").replace(tmp_path / "x-shards" / "weights-01.safetensors")
    with pytest.raises(FacepipeError, match="not one complete split"):
        join(tmp_path / "x-shards", tmp_path / "joined")
    assert {p.name: p.read_bytes() for p in (tmp_path / "joined").iterdir()} == before
    split(tmp_path / "y", tmp_path / "x-shards", max_mb=1000)  # one shard: the old ones must go
    assert len(list((tmp_path / "x-shards").glob("weights-*.safetensors"))) == 1
    join(tmp_path / "x-shards", tmp_path / "joined")
    assert load_networks(tmp_path / "joined")[0].state_dict()["g.encoder.bottleneck.weight"].equal(
        load_networks(tmp_path / "y")[0].state_dict()["g.encoder.bottleneck.weight"].half().float())


def test_a_first_generation_file_still_loads_with_its_thin_decoder(tmp_path: Path) -> None:
    """Files from before ``decoder_width`` (no such header key) build the old decoder."""
    from safetensors import safe_open

    _small_model(tmp_path / "old", ModelSpec(64, 8, 32))
    with safe_open(str(tmp_path / "old" / WEIGHTS), framework="pt") as f:
        assert "decoder_width" not in (f.metadata() or {})
    nets, _ = load_networks(tmp_path / "old")
    assert nets.spec.decoder_width == 0 and nets.spec.decoder_channels() == [16, 8, 8]


def test_landmarks_follow_each_facesets_own_crop_size(faceset: Path, tmp_path: Path) -> None:
    """Two facesets of the same frames at 256 and 128 px: at the model resolution their landmarks agree."""
    small = tmp_path / "small"
    assert cli(["extract", str(media("single_face.mp4")), "-o", str(small), "--end", "24f", "-q",
                "--set", "align.size=128"]) == 0
    both = load_faceset([faceset, small], 64, dedupe_psnr=0)
    half = len(both.train) // 2
    assert len(both.train) == 2 * half and np.isfinite(both.train_landmarks).all()
    assert np.abs(both.train_landmarks[:half] - both.train_landmarks[half:]).max() < 1.0


def test_a_new_pair_starts_from_the_bundled_model_of_its_shape_by_default() -> None:
    """train.init = 'auto' (the default): the pretrained start that separates a face from a blur after
    minutes of CPU training, taken only when a bundled model has the run's whole shape."""
    from models.checkpoint import BUNDLED_MODEL_DIR, FAST_MODEL_DIR
    from models.training import init_source

    default = TrainConfig()
    assert default.init == "auto"
    shape = ModelSpec(default.resolution, default.width, default.latent, default.decoder_width)
    assert init_source("auto", shape, default.disc_width) == FAST_MODEL_DIR
    assert init_source("auto", ModelSpec(128, 32, 256, 24), default.disc_width) == BUNDLED_MODEL_DIR
    assert init_source("auto", ModelSpec(64, 16, 256), default.disc_width) is None  # another width: from scratch
    assert init_source("auto", shape, 16) is None  # another discriminator: from scratch, not an error
    assert init_source("none", shape, default.disc_width) is None
    assert init_source("fast", ModelSpec(64, 16, 256), 32) == FAST_MODEL_DIR  # named: the shape check is load's
