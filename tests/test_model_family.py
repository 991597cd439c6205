"""One model family: every kind saved and loaded by ``models.family``, with one card schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from models import ARCHITECTURES
from models.family import InputContract, load_model_file, read_card, save_model
from models.inputs import to_input
from pipeline.errors import FacepipeError

REPO = Path(__file__).resolve().parents[1]
BUNDLED = {
    "swap-pair": REPO / "models" / "bundled",
    "detector": REPO / "models" / "detectors" / "bundled",
    "segmenter": REPO / "models" / "segmenter" / "segmenter.safetensors",
}


@pytest.mark.parametrize("kind", sorted(BUNDLED))
def test_the_one_loader_loads_every_bundled_kind_and_its_card_declares_the_contract(kind: str) -> None:
    loaded = load_model_file(BUNDLED[kind])
    card = loaded.card
    assert card.kind == kind == loaded.net.kind
    assert card.architecture == loaded.net.architecture
    assert card.input == loaded.net.input_contract()  # the file's card says what the network takes
    assert card.sha256 and len(card.sha256) == 64
    raw = json.loads(loaded.weights.with_suffix(".json").read_text())
    assert raw["format"] == "facepipe-model" and raw["kind"] == kind and raw["input"]["size"] == card.input.size
    with pytest.raises(FacepipeError, match="not a"):
        load_model_file(BUNDLED[kind], kind="swap-multi")


def test_a_multi_identity_model_goes_through_the_same_loader(tmp_path: Path) -> None:
    from models.generator import ModelSpec
    from models.multi_identity import MultiGenerator, save

    model = MultiGenerator(ModelSpec(64, 8, 16), ["ann", "bob"])
    save(model, tmp_path, {"steps": 0}, None)
    loaded = load_model_file(tmp_path)
    assert loaded.card.kind == "swap-multi" and loaded.net.identities == ["ann", "bob"]
    assert loaded.card.record["identities"] == ["ann", "bob"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.net.state_dict()[key])


def test_a_card_written_before_the_family_still_loads(tmp_path: Path) -> None:
    """A user's model trained before the schema: old ``format`` name, ``input`` as prose."""
    from models.checkpoint import Networks, load_model
    from models.generator import ModelSpec

    nets = Networks(ModelSpec(64, 8, 32), 8)
    card = save_model(nets, tmp_path, {"iterations": 5})
    old = {"format": "facepipe-swap-model", "version": 1, "input": "aligned crops (prose)", "iterations": 5,
           "files": {"weights": "model.safetensors", "sha256": card.sha256}}
    (tmp_path / "model.json").write_text(json.dumps(old))
    read = read_card(tmp_path / "model.json")
    assert read is not None and read.kind == "swap-pair" and read.input is None and read.record["iterations"] == 5
    model = load_model(tmp_path, "cpu")
    assert model.contract == nets.input_contract()  # the network supplies what the old card lacks
    (tmp_path / "model.json").write_text(json.dumps({**old, "format": "someone-elses-model"}))
    with pytest.raises(FacepipeError, match="not a facepipe model card"):
        load_model(tmp_path, "cpu")


def test_the_input_contract_decides_channel_order_range_and_resize() -> None:
    crops = np.zeros((1, 8, 8, 3), np.uint8)
    crops[..., 0] = 255  # pure blue in OpenCV's BGR
    bgr = to_input(crops, InputContract(8, "BGR"))
    rgb = to_input(crops, InputContract(8, "RGB"))
    assert bgr[0, 0].mean() == 1.0 and bgr[0, 2].mean() == 0.0
    assert rgb[0, 2].mean() == 1.0 and rgb[0, 0].mean() == 0.0  # blue lands in the last channel
    signed = to_input(crops, InputContract(8, "BGR", (-1.0, 1.0)))
    assert signed[0, 0].mean() == 1.0 and signed[0, 1].mean() == -1.0
    ramp = np.tile(np.linspace(0, 255, 4, dtype=np.uint8)[None, :, None], (4, 1, 3))[None]
    cubic = to_input(ramp, InputContract(16, resize="area-down-cubic-up"))
    area = to_input(ramp, InputContract(16, resize="area"))
    assert not torch.equal(cubic, area)  # the card's resize rule is the one applied


class TinyNet(nn.Module):
    """A kind that exists only in this test: one module and one table line make it loadable."""

    kind: ClassVar[str] = "tiny"
    file_stem: ClassVar[str] = "tiny"
    architecture: ClassVar[str] = "tiny-v1"

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.conv = nn.Conv2d(3, width, 1)

    def header(self) -> dict[str, str]:
        return {"architecture": self.architecture, "width": str(self.width)}

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "TinyNet":
        return cls(int(meta["width"]))

    def input_contract(self) -> InputContract:
        return InputContract(16, "RGB")


def test_a_new_kind_is_one_class_and_one_table_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ARCHITECTURES._entries, "tiny-v1", "tests.test_model_family:TinyNet")
    net = TinyNet(4)
    save_model(net, tmp_path, {"trained": "nowhere"})
    loaded = load_model_file(tmp_path)
    assert type(loaded.net).__name__ == "TinyNet" and loaded.net.width == 4  # (pytest may import this module twice)
    assert loaded.card.kind == "tiny" and loaded.contract == InputContract(16, "RGB")
    assert torch.equal(loaded.net.conv.weight, net.conv.weight)
    data = bytearray((tmp_path / "tiny.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "tiny.safetensors").write_bytes(bytes(data))
    with pytest.raises(FacepipeError, match="checksum"):
        load_model_file(tmp_path)
