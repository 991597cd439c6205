"""The multi-identity swap model: trains to a wall-clock budget, resumes, loads safely, swaps per identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.generator import ModelSpec
from models.multi_identity import MultiSwapModel, load
from models.train_multi import train
from pipeline.errors import FacepipeError
from tests.conftest import media, read_frames


@pytest.fixture(scope="module")
def facesets() -> dict[str, np.ndarray]:
    """Five 'identities': real frames of five people, centre-cropped to 64 px with an ellipse alpha."""
    import cv2

    names = ["megactor_woman_glasses_talk.mp4", "retalking_face1_man_suit_talk.mp4", "lp_d18_man_grey_hoodie_expressions.mp4",
             "tpsmm_man_closeup_talk.mp4", "retalking_face5_older_woman_glasses_talk.mp4"]
    out = {}
    for name in names:
        frames = read_frames(media(f"people/{name}"))[:6]
        crops = []
        for frame in frames:
            h, w = frame.shape[:2]
            side = min(h, w)
            crop = cv2.resize(frame[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2], (64, 64))
            alpha = np.zeros((64, 64), np.uint8)
            cv2.ellipse(alpha, (32, 30), (22, 28), 0, 0, 360, 255, -1)
            crops.append(np.dstack([crop, alpha]))
        out[Path(name).stem] = np.stack(crops)
    return out


def test_trains_to_budget_resumes_and_swaps(facesets, tmp_path: Path) -> None:
    spec = ModelSpec(64, 8, 16)
    directory = tmp_path / "gan"
    card = train(facesets, directory, spec, minutes=0.03, batch=2, save_every=1e9)
    assert card.record["steps"] >= 1 and card.record["trained_seconds"] >= 0.03 * 60
    assert card.record["identities"] == sorted(facesets)
    first = card.record["steps"]
    assert train(facesets, directory, spec, minutes=0.03, batch=2).record["steps"] == first  # budget reached: no work
    more = card.record["trained_seconds"] / 60 + 0.03  # (one step can overshoot a tiny budget on a busy machine)
    resumed = train(facesets, directory, spec, minutes=more, batch=2, save_every=1e9)
    assert resumed.record["steps"] > first and resumed.record["trained_seconds"] >= more * 60 - 0.1
    model = MultiSwapModel(directory)
    crops = facesets[sorted(facesets)[0]][:3, ..., :3]
    faces_b, masks_b = model.swap(np.ascontiguousarray(crops), sorted(facesets)[1])
    faces_c, _ = model.swap(np.ascontiguousarray(crops), sorted(facesets)[2])
    assert faces_b.shape == crops.shape and faces_b.dtype == np.uint8 and masks_b.shape == crops.shape[:3]
    assert np.abs(faces_b.astype(int) - faces_c.astype(int)).mean() > 0.1  # each identity has its own decoder
    with pytest.raises(FacepipeError, match="has no decoder"):
        model.swap(np.ascontiguousarray(crops), "nobody")
    with pytest.raises(FacepipeError, match="other identities"):
        train(dict(list(facesets.items())[:3]), directory, spec, minutes=0.1, batch=2)


def test_refuses_a_tampered_checkpoint(facesets, tmp_path: Path) -> None:
    directory = tmp_path / "gan"
    train(dict(list(facesets.items())[:2]), directory, ModelSpec(64, 8, 16), minutes=0.01, batch=2)
    card = json.loads((directory / "model.json").read_text())
    card["files"]["sha256"] = "0" * 64
    (directory / "model.json").write_text(json.dumps(card))
    with pytest.raises(FacepipeError, match="checksum does not match"):
        load(directory)
    (directory / "model.safetensors").write_bytes(b"\x80\x04garbage")
    with pytest.raises(FacepipeError, match="pickle"):
        load(directory)


def test_a_new_model_starts_from_the_bundled_swap_model(facesets, tmp_path: Path) -> None:
    """Warm start: before any step the decoders paint exactly what the bundled 64-px decoders A and B paint
    (in turn), and the card says where the model started."""
    import torch

    from models.checkpoint import FAST_MODEL_DIR, WEIGHTS, load_networks
    from models.family import sha256
    from models.multi_identity import MultiGenerator, warm_start

    names = sorted(facesets)[:3]
    model = MultiGenerator(ModelSpec(64, 32, 256), names)
    x = torch.rand(2, 3, 64, 64)
    scratch = model.decoders[0](model.encoder(x))[0]
    start = warm_start(model, FAST_MODEL_DIR)
    assert start["sha256"] == sha256(FAST_MODEL_DIR / WEIGHTS)
    nets, _ = load_networks(FAST_MODEL_DIR)
    with torch.no_grad():
        for number, identity in enumerate("aba"):
            ours = model.decoders[number](model.encoder(x))[0]
            theirs = nets.g.decoder(identity)(nets.g.encoder(x))[0]
            assert torch.allclose(ours, theirs, atol=1e-5)
        assert (scratch - model.decoders[0](model.encoder(x))[0]).abs().mean() > 0.01
    card = train(dict((n, facesets[n]) for n in names), tmp_path / "gan", ModelSpec(64, 32, 256), minutes=0.01,
                 batch=2, init=FAST_MODEL_DIR)
    assert card.record["started_from"]["sha256"] == start["sha256"]


def test_the_corpus_starts_from_the_bundled_model_only_when_its_shape_fits() -> None:
    from models.checkpoint import BUNDLED_MODEL_DIR, FAST_MODEL_DIR
    from pipeline.corpus.methods.gan import init_model

    assert init_model("bundled", ModelSpec(64, 32, 256)) == str(FAST_MODEL_DIR)  # the corpus's default shape
    assert init_model("bundled", ModelSpec(128, 32, 256, 24)) == str(BUNDLED_MODEL_DIR)
    assert init_model("bundled", ModelSpec(128, 32, 256)) is None  # 128 px with the thin decoder: no such model
    assert init_model("bundled", ModelSpec(64, 16, 256)) is None  # another train.width: from scratch, no error
    assert init_model("none", ModelSpec(64, 32, 256)) is None
    with pytest.raises(FacepipeError, match="no such model folder"):
        init_model("/nope/model", ModelSpec(64, 32, 256))
