"""The whole user path on real clips: `facepipe extract` -> `facepipe train` -> `facepipe convert`.

Kept short (a dozen frames per clip, a tiny model, a few iterations): it proves that facesets made
by ``extract`` train, that the card records them, and that ``convert`` runs with the trained model.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from pipeline.media.faceset import list_faces
from tests.conftest import media, read_frames, run_cli

TINY = ["train.width=8", "train.latent=32", "train.disc_width=8", "train.batch_size=4", "train.preview_every=1000",
        "train.gan_warmup=2", "train.holdout=0.25", "train.holdout_gap=0", "train.threads=2"]


def sets(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def test_extract_train_convert(tmp_path: Path) -> None:
    # B from two files of the same footage (face_noface.mov starts with single_face.mp4's shot, re-encoded
    # at 960x540): training must count those faces once.
    clips = {"a": ["WolfgangLanger_Pexels.mp4"], "b": ["single_face.mp4", "face_noface.mov"]}
    facesets = {}
    for ident, names in clips.items():
        facesets[ident] = tmp_path / f"faces-{ident}"
        result = run_cli("extract", *(media(n) for n in names), "-o", facesets[ident], "-q", "--every", "2",
                         *sets("decode.max_frames=16"))
        assert result.returncode == 0, result.stderr
        entries, align = list_faces(facesets[ident])
        assert len(entries) >= 6 * len(names) and align["size"] == 256, (names, len(entries))

    model = tmp_path / "model"
    result = run_cli("train", "--faces-a", facesets["a"], "--faces-b", facesets["b"], "-o", model, "--iterations", "4",
                     "-q", *sets(*TINY))
    assert result.returncode == 0, result.stderr
    card = json.loads((model / "model.json").read_text())
    assert card["iterations"] == 4
    for ident in ("a", "b"):
        data, entries = card["data"][ident], list_faces(facesets[ident])[0]
        assert data["train_faces"] + data["held_out_faces"] + data["duplicates_dropped"] + data["gap_faces"] == len(entries)
        assert data["train_faces"] >= 4 and data["held_out_faces"] >= 1
    assert list(card["data"]["a"]["clips"]) == ["WolfgangLanger_Pexels"]
    copies = sum(1 for e in list_faces(facesets["b"])[0] if e.clip == "face_noface")
    assert card["data"]["b"]["duplicates_dropped"] >= copies - 1, card["data"]["b"]  # the re-encode counts once
    assert card["data"]["align"] == list_faces(facesets["a"])[1]
    assert {"a2a", "b2b"} <= set(card["evaluation"])

    out, masks, stats = tmp_path / "out.mp4", tmp_path / "masks", tmp_path / "stats.json"
    result = run_cli("convert", media("single_face.mp4"), "-o", out, "-q", "--write-masks", masks, "--stats", stats,
                     *sets("decode.max_frames=6", f"swap.model={json.dumps(str(model))}", "swap.direction='b2a'"))
    assert result.returncode == 0, result.stderr
    assert json.loads(stats.read_text())["stages"]["swap"]["faces_swapped"] == 6
    assert len(read_frames(out)) == 6
    mask = cv2.imread(str(masks / "000003.png"), cv2.IMREAD_GRAYSCALE)
    assert (mask > 128).sum() > 500  # the trained model's mask, pasted back over the face
