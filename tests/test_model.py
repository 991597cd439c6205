"""Swap model networks, checkpoints and the inference API (swap / score)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from models.checkpoint import (
    CARD,
    WEIGHTS,
    Networks,
    load_model,
    load_networks,
    save_weights,
)
from models.generator import Generator, ModelSpec
from pipeline.errors import FacepipeError
from tests.conftest import WritesMarker

SMALL = ModelSpec(resolution=64, width=8, latent=32)


def _save_small(directory: Path, spec: ModelSpec = SMALL, seed: int = 0) -> Networks:
    torch.manual_seed(seed)
    nets = Networks(spec, disc_width=8)
    save_weights(nets, directory, {"iterations": 0})
    return nets


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_generator_shapes_at_every_resolution(resolution: int) -> None:
    g = Generator(ModelSpec(resolution=resolution, width=8, latent=32))
    x = torch.rand(2, 3, resolution, resolution)
    with torch.no_grad():
        out, rgb, alpha = g(x, "b")
    assert out.shape == rgb.shape == x.shape
    assert alpha.shape == (2, 1, resolution, resolution)
    assert 0 <= float(alpha.min()) and float(alpha.max()) <= 1


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    nets = _save_small(tmp_path)
    loaded, card = load_networks(tmp_path)
    assert card.record["resolution"] == 64 and card.sha256 and card.kind == "swap-pair"
    crops = np.random.default_rng(1).integers(0, 256, (3, 80, 80, 3), dtype=np.uint8)
    a = load_model(tmp_path, "cpu")
    from models.checkpoint import SwapModel

    b = SwapModel(nets, card, torch.device("cpu"))
    fa, ma = a.swap(crops, "a2b")
    fb, mb = b.swap(crops, "a2b")
    assert fa.shape == (3, 80, 80, 3) and fa.dtype == np.uint8
    assert ma.shape == (3, 80, 80) and ma.dtype == np.float32
    np.testing.assert_array_equal(fa, fb)
    np.testing.assert_array_equal(ma, mb)
    np.testing.assert_array_equal(a.score(crops, "b"), b.score(crops, "b"))
    for key, value in nets.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_score_judges_each_crop_inside_the_face_mask_with_the_identity_s_discriminator(tmp_path: Path) -> None:
    _save_small(tmp_path)
    model = load_model(tmp_path, "cpu")
    crops = np.random.default_rng(2).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    p = model.score(crops, identity="a")
    assert p.shape == (5,) and p.dtype == np.float32
    outside, inside = crops.copy(), crops.copy()
    outside[:, :6, :6] = 255 - outside[:, :6, :6]  # a corner, outside the face mask's ellipse
    inside[:, 28:36, 28:36] = 255 - inside[:, 28:36, 28:36]  # the middle of the face
    np.testing.assert_array_equal(model.score(outside, identity="a"), p)
    assert np.all(model.score(inside, identity="a") != p)
    assert np.all(model.score(crops, identity="b") != p)
    np.testing.assert_allclose(model.score(crops[2:3], identity="a"), p[2:3], rtol=1e-5)  # a crop alone scores the same
    with pytest.raises(ValueError):
        model.swap(crops, "x2y")


def test_pickle_named_like_a_checkpoint_is_refused(tmp_path: Path) -> None:
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(WritesMarker(control))).close()
    assert control.exists(), "the payload must act when unpickled, or this test proves nothing"
    model = tmp_path / "model"
    model.mkdir()
    marker = tmp_path / "executed"
    (model / WEIGHTS).write_bytes(pickle.dumps({"weights": [1, 2, 3], "payload": WritesMarker(marker)}))
    with pytest.raises(FacepipeError, match="pickle") as err:
        load_model(model, "cpu")
    assert "\n" not in str(err.value)
    assert not marker.exists(), "loading the model unpickled it"
    torch.save({"w": torch.zeros(2), "payload": WritesMarker(marker)}, model / WEIGHTS)  # torch.save zip format
    with pytest.raises(FacepipeError, match="pickle"):
        load_model(model, "cpu")
    assert not marker.exists(), "loading the model unpickled it"


def test_corrupt_checkpoint_is_refused(tmp_path: Path) -> None:
    _save_small(tmp_path)
    data = (tmp_path / WEIGHTS).read_bytes()
    (tmp_path / WEIGHTS).write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(FacepipeError, match="corrupt") as err:
        load_model(tmp_path, "cpu")
    assert "\n" not in str(err.value)
    (tmp_path / WEIGHTS).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(FacepipeError, match="corrupt"):
        load_model(tmp_path, "cpu")


def test_flipped_bytes_fail_the_card_checksum(tmp_path: Path) -> None:
    _save_small(tmp_path)
    data = bytearray((tmp_path / WEIGHTS).read_bytes())
    data[-10] ^= 0xFF  # a weight changed, header intact
    (tmp_path / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(FacepipeError, match="checksum"):
        load_model(tmp_path, "cpu")


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    save_file({"conv.weight": torch.zeros(4, 3, 3, 3)}, str(tmp_path / WEIGHTS), metadata={"architecture": "some-other-net"})
    with pytest.raises(FacepipeError, match="architecture"):
        load_model(tmp_path, "cpu")
    # Right header, wrong tensors: a model of another shape dressed up as ours.
    nets = Networks(SMALL, 8)
    tensors = {k: v for k, v in nets.state_dict().items() if not k.startswith("d_b.")}
    save_file(tensors, str(tmp_path / WEIGHTS), metadata=nets.header())
    with pytest.raises(FacepipeError, match="do not fit"):
        load_model(tmp_path, "cpu")


def test_wrong_resolution_is_refused(tmp_path: Path) -> None:
    _save_small(tmp_path, ModelSpec(resolution=128, width=8, latent=32))
    with pytest.raises(FacepipeError, match="resolution is 128"):
        load_networks(tmp_path, resolution=64)
    with pytest.raises(FacepipeError, match="differs"):
        load_networks(tmp_path, spec=SMALL)


def test_missing_model_and_bad_card(tmp_path: Path) -> None:
    with pytest.raises(FacepipeError, match="not found"):
        load_model(tmp_path / "nope", "cpu")
    _save_small(tmp_path)
    (tmp_path / CARD).write_text("{broken")
    with pytest.raises(FacepipeError, match="JSON"):
        load_model(tmp_path, "cpu")


@pytest.mark.parametrize("name,resolution", [("bundled", 128), ("fast", 64)])
def test_bundled_models_load_and_swap(name: str, resolution: int) -> None:
    """The default model is the 128-px one and stays within the issue's 60 MB; the fast one is 64 px."""
    from models.checkpoint import BUNDLED_MODELS

    folder = BUNDLED_MODELS[name]
    model = load_model(name, device="cpu")
    card = json.loads((folder / CARD).read_text())
    assert model.resolution == card["resolution"] == resolution
    assert card["evaluation"]["split"] == "held-out"
    assert (folder / WEIGHTS).stat().st_size < 60e6
    crops = np.full((2, 256, 256, 3), 128, np.uint8)
    faces, masks = model.swap(crops, "a2b")
    assert faces.shape == (2, 256, 256, 3) and masks.shape == (2, 256, 256)


def test_safetensors_header_that_starts_like_a_pickle_still_loads(tmp_path: Path) -> None:
    """A header length whose low byte is 0x80 must not be taken for pickle's protocol marker."""
    from models.family import read_tensors

    header = json.dumps({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (384 - len(header))  # 384 = 0x180: first byte 0x80
    path = tmp_path / "t.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + np.zeros(2, np.float32).tobytes())
    assert path.read_bytes()[:1] == b"\x80"
    tensors, _ = read_tensors(path)
    assert tensors["x"].tolist() == [0.0, 0.0]


def test_doctor_knows_the_bundled_model_names(capsys: pytest.CaptureFixture) -> None:
    from pipeline.cli.main import main as cli

    assert cli(["doctor", "-q", "--set", "swap.model='fast'"]) == 0
    assert cli(["doctor", "-q", "--set", "swap.model='no-such-model'"]) == 1
    captured = capsys.readouterr()
    assert "no-such-model" in captured.out + captured.err
