"""The numpy segmenter (``models.segmenter_cpu``) is the torch one: same masks, same refusals."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models import BUNDLED_SEGMENTER
from models.segmenter import Segmenter, SegmenterNet, save_segmenter
from models.segmenter_cpu import CpuSegmenter, expected_shapes, open_segmenter
from pipeline.errors import FacepipeError
from tests.conftest import media


def _real_crops() -> list[np.ndarray]:
    """Three crops of a real face at the sizes the stages hand the segmenter (and one it must shrink)."""
    image = cv2.imread(str(media("single_face.jpg")))
    height, width = image.shape[:2]
    square = image[:min(height, width), :min(height, width)]
    return [cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA) for size in (256, 64, 97)]


@pytest.mark.parametrize("resolution,width", [(64, 12), (96, 8)])
def test_expected_shapes_are_the_torch_networks(resolution: int, width: int) -> None:
    net = SegmenterNet(resolution, width)
    assert expected_shapes(resolution, width) == {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_bundled_masks_match_torch() -> None:
    crops = _real_crops()
    ours, theirs = CpuSegmenter(BUNDLED_SEGMENTER)(crops), Segmenter(BUNDLED_SEGMENTER, "cpu")(crops)
    for crop, mine, reference in zip(crops, ours, theirs):
        assert mine.shape == crop.shape[:2] and mine.dtype == np.float32
        assert np.abs(mine - reference).max() < 1e-4
        assert reference.max() - reference.min() > 0.5  # the face is told from its surroundings: not a flat mask


def test_batch_norms_are_folded_as_torch_evaluates_them(tmp_path: Path) -> None:
    """A network whose batch norms are far from identity (the bundled one could hide a wrong fold)."""
    torch.manual_seed(4)
    net = SegmenterNet(64, 6)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.3, 3.0)
                module.weight.uniform_(0.5, 2.0)
                module.bias.uniform_(-0.3, 0.3)
    path = tmp_path / "segmenter.safetensors"
    save_segmenter(net.eval(), path, {"description": "test"})
    crops = _real_crops()
    ours, theirs = CpuSegmenter(path)(crops), Segmenter(path, "cpu")(crops)
    for mine, reference in zip(ours, theirs):
        assert np.abs(mine - reference).max() < 1e-4


@pytest.mark.parametrize("segmenter", [Segmenter, CpuSegmenter])
def test_segmenters_refuse_a_missing_file_and_a_pickle(tmp_path: Path, segmenter: type) -> None:
    with pytest.raises(FacepipeError, match="not found"):
        segmenter(tmp_path / "missing.safetensors")
    pickle = tmp_path / "pickle.safetensors"
    pickle.write_bytes(b"\x80\x04junk")
    with pytest.raises(FacepipeError, match="pickle"):
        segmenter(pickle)


def test_cpu_segmenter_refuses_what_the_torch_loader_refuses(tmp_path: Path) -> None:
    net = SegmenterNet(64, 4)
    path = tmp_path / "model" / "segmenter.safetensors"
    path.parent.mkdir()
    save_segmenter(net.eval(), path, {"description": "test"})
    changed = bytearray(path.read_bytes())
    changed[-1] ^= 1
    path.write_bytes(bytes(changed))
    with pytest.raises(FacepipeError, match="checksum"):
        CpuSegmenter(path)

    from safetensors.numpy import save_file

    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    meta = {"architecture": "facepipe-xseg-unet-v1", "resolution": "64", "width": "4"}
    loose = tmp_path / "loose.safetensors"  # no card beside it: the tensors themselves are checked
    save_file({**tensors, "stem.0.weight": np.full_like(tensors["stem.0.weight"], np.nan)}, str(loose), metadata=meta)
    with pytest.raises(FacepipeError, match="NaN"):
        CpuSegmenter(loose)
    save_file({k: v for k, v in tensors.items() if k != "refine.2.bias"}, str(loose), metadata=meta)
    with pytest.raises(FacepipeError, match="do not fit"):
        CpuSegmenter(loose)
    save_file(tensors, str(loose), metadata={**meta, "architecture": "facepipe-unet-v3"})
    with pytest.raises(FacepipeError, match="not a segmenter"):
        CpuSegmenter(loose)


def test_open_segmenter_takes_numpy_on_a_cpu() -> None:
    assert isinstance(open_segmenter(BUNDLED_SEGMENTER, "cpu"), CpuSegmenter)
