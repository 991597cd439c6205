"""The whole user path on real clips: `facepipe extract` -> `facepipe train` -> `facepipe convert`.

Kept short (a dozen frames per clip, a tiny model, a few iterations): it proves that facesets made
by ``extract`` train, that the card records them, and that ``convert`` runs with the trained model.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from pipeline.media.faceset import list_faces
from tests.conftest import media, read_frames, run_cli

TINY = ["train.width=8", "train.latent=32", "train.disc_width=8", "train.batch_size=4", "train.preview_every=1000",
        "train.gan_warmup=2", "train.holdout=0.25", "train.holdout_gap=0", "train.threads=2"]


def sets(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def test_extract_train_convert(tmp_path: Path) -> None:
    facesets = {}
    for ident, clip in (("a", "WolfgangLanger_Pexels.mp4"), ("b", "single_face.mp4")):
        facesets[ident] = tmp_path / f"faces-{ident}"
        result = run_cli("extract", media(clip), "-o", facesets[ident], "-q", "--every", "2",
                         *sets("decode.max_frames=16"))
        assert result.returncode == 0, result.stderr
        entries, align = list_faces(facesets[ident])
        assert len(entries) >= 6 and align["size"] == 256, (clip, len(entries))

    model = tmp_path / "model"
    result = run_cli("train", "--faces-a", facesets["a"], "--faces-b", facesets["b"], "-o", model, "--iterations", "4",
                     "-q", *sets(*TINY))
    assert result.returncode == 0, result.stderr
    card = json.loads((model / "model.json").read_text())
    assert card["iterations"] == 4
    for ident, clip in (("a", "WolfgangLanger_Pexels"), ("b", "single_face")):
        data = card["data"][ident]
        crops = len(list_faces(facesets[ident])[0])
        assert list(data["clips"]) == [clip]
        assert data["train_faces"] + data["held_out_faces"] + data["duplicates_dropped"] == crops
        assert data["held_out_faces"] >= 1
    assert card["data"]["align"] == list_faces(facesets["a"])[1]
    assert {"a2a", "b2b"} <= set(card["evaluation"])

    out, masks = tmp_path / "out.mp4", tmp_path / "masks"
    limit = sets("decode.max_frames=6")
    result = run_cli("convert", media("single_face.mp4"), "-o", out, "-q", "--write-masks", masks, *limit,
                     *sets(f"swap.model={json.dumps(str(model))}", "swap.direction='b2a'"))
    assert result.returncode == 0, result.stderr
    plain = tmp_path / "plain.mp4"
    assert run_cli("convert", media("single_face.mp4"), "-o", plain, "-q", *limit,
                   *sets("pipeline.stages=['detect']")).returncode == 0
    swapped, before = read_frames(out), read_frames(plain)
    assert len(swapped) == len(before) == 6
    mask = cv2.imread(str(masks / "000003.png"), cv2.IMREAD_GRAYSCALE)
    inside = mask > 128
    assert inside.sum() > 500  # the trained model's mask covers the face
    assert np.abs(swapped[3].astype(np.int16) - before[3].astype(np.int16))[inside].mean() > 3.0
