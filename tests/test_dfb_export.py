"""`corpus export --dfb-root`: DeepfakeBench's loader, run from its root, finds every frame, mask and
landmark file; landmarks lie in each resolution's range; FF++-family names carry the compression level."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests import dfb_loader_fixture as dfb
from tests.conftest import media, one_line_error, run_cli

# two identities per split (train, val, test), so the loader's train and test modes both see videos
PEOPLE = ["aniportrait_poseref_may_older_woman_grey_hair.mp4", "eamm_crop_m030_man_grey_hoodie_green_screen.mp4",
          "eamm_video_surprised_woman_curly_hair_green_screen.mp4", "ghost_nggyup_singer_man_auburn_hair.mp4",
          "hellomeme_drive_amns_man_straw_hat.mp4", "hellomeme_drive_jgz_man_long_hair_laughing.mp4"]
FRAMES = 4


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One tiny corpus exported into a fake DeepfakeBench root at 256 px, 224 px and as FF-DF."""
    base = tmp_path_factory.mktemp("dfb")
    inputs = base / "real"
    inputs.mkdir()
    for name in PEOPLE:
        (inputs / name).symlink_to(media(f"people/{name}"))
    corpus, root = base / "corpus", base / "DeepfakeBench"
    done = run_cli("corpus", "build", inputs, "-o", corpus, "--methods", "warp", "--compressions", "c23",
                   "--max-frames", "8", "-q", timeout=600)
    assert done.returncode == 0, done.stderr
    root.mkdir()
    runs = {name: run_cli("corpus", "export", corpus, "--dfb-root", root, "--frames", str(FRAMES), "--name", name,
                          "--resolution", str(size))
            for name, size in (("Facepipe", 256), ("Facepipe_224", 224), ("FF-DF", 256))}
    for result in runs.values():
        assert result.returncode == 0, result.stderr
    return {"corpus": corpus, "root": root, "runs": runs}


def _config(name: str, compression: str = "c23") -> dict:
    """A DeepfakeBench config after the user's edits the export prints (lmdb off, its label_dict)."""
    return {"lmdb": False, "dataset_json_folder": "preprocessing/dataset_json", "rgb_dir": "./datasets/rgb",
            "compression": compression, "frame_num": {"train": 32, "test": 32},
            "label_dict": {f"{name}_Real": 0, f"{name}_Fake": 1}}


@pytest.mark.parametrize("name,size", [("Facepipe", 256), ("Facepipe_224", 224), ("FF-DF", 256)])
def test_the_loader_run_from_the_root_finds_every_file(export, monkeypatch, name: str, size: int) -> None:
    monkeypatch.chdir(export["root"])
    items = {mode: dfb.collect(_config(name), name, mode) for mode in ("train", "test")}
    assert all(items.values())  # both modes see videos
    fakes = 0
    for frame, label in items["train"] + items["test"]:
        assert frame.startswith(f"./datasets/rgb/{name}/")
        path = dfb.resolve(frame, _config(name))
        image = cv2.imread(path)
        assert image is not None and image.shape[:2] == (size, size), path
        landmarks = np.load(dfb.landmark_path(path))
        # albumentations' KeyPoint check: x and y in [0, resolution]
        assert landmarks.shape == (68, 2) and landmarks.min() >= 0 and landmarks.max() <= size
        assert landmarks.max() - landmarks.min() > size / 4  # a face's spread, not a collapsed point set
        if label == 1:
            fakes += 1
            mask = cv2.imread(dfb.mask_path(path), cv2.IMREAD_GRAYSCALE)
            assert mask is not None and mask.shape == (size, size) and mask.max() > 100
    assert fakes and fakes < len(items["train"]) + len(items["test"])  # real and fake both present


def test_from_any_other_folder_the_same_paths_are_missing(export, monkeypatch, tmp_path: Path) -> None:
    """The check above is not vacuous: the paths are relative to the root, as the loader needs."""
    monkeypatch.chdir(export["root"])
    frame = dfb.collect(_config("Facepipe"), "Facepipe", "train")[0][0]
    monkeypatch.chdir(tmp_path)
    assert not os.path.exists(dfb.resolve(frame, _config("Facepipe")))


def test_224_landmarks_are_the_256_ones_rescaled(export) -> None:
    rgb = export["root"] / "datasets" / "rgb"
    files = sorted((rgb / "Facepipe").rglob("landmarks/*/*.npy"))
    assert files
    for file in files:
        small = np.load(rgb / "Facepipe_224" / file.relative_to(rgb / "Facepipe"))
        assert np.allclose(small, np.clip(np.load(file) * 224 / 256, 0, 223), atol=0.05)


def test_ffpp_names_carry_the_compression_level(export, monkeypatch, tmp_path: Path) -> None:
    root = export["root"]
    data = json.loads((root / "preprocessing/dataset_json/FF-DF.json").read_text())["FF-DF"]
    assert set(data["FF-DF_Fake"]["train"]) == {"c23"}  # the level the loader indexes with config['compression']
    assert "compression: c23" in export["runs"]["FF-DF"].stdout
    monkeypatch.chdir(root)
    with pytest.raises(KeyError):  # another compression in the config is what the loader fails on
        dfb.collect(_config("FF-DF", "c40"), "FF-DF", "train")
    refused = run_cli("corpus", "export", export["corpus"], "--dfb-root", tmp_path, "--name", "FF-DF_c40")
    one_line_error(refused, "--compression c40")
    assert not (tmp_path / "preprocessing").exists()


def test_the_export_prints_what_a_deepfakebench_user_adds(export, monkeypatch) -> None:
    out = export["runs"]["Facepipe"].stdout
    for text in ("lmdb: false", "train_config.yaml AND training/config/test_config.yaml", "Facepipe_Real: 0",
                 "Facepipe_Fake: 1", "train_dataset: [Facepipe]", "test_dataset: [Facepipe]", "resolution: 256"):
        assert text in out
    assert "resolution: 224" in export["runs"]["Facepipe_224"].stdout
    merged = (export["root"] / "preprocessing/dataset_json/facepipe_label_dict.yaml").read_text()
    assert all(f"{n}_{k}: " in merged for n in ("Facepipe", "Facepipe_224", "FF-DF") for k in ("Real", "Fake"))
    monkeypatch.chdir(export["root"])
    with pytest.raises(ValueError, match="dataset Facepipe not exist!"):  # DeepfakeBench's default lmdb: True
        dfb.collect({**_config("Facepipe"), "lmdb": True}, "Facepipe", "train")
    with pytest.raises(ValueError, match="not found in the configuration"):  # without the label_dict entries
        dfb.collect({**_config("Facepipe"), "label_dict": {}}, "Facepipe", "train")


def test_refusals_are_one_line(export, tmp_path: Path) -> None:
    corpus, root = export["corpus"], export["root"]
    one_line_error(run_cli("corpus", "export", corpus, "--dfb-root", root, "--frames", "1"), "--overwrite")
    afile = tmp_path / "file"
    afile.write_text("x")
    one_line_error(run_cli("corpus", "export", corpus, "--dfb-root", afile), "not a folder")
    assert afile.read_text() == "x"
    assert run_cli("corpus", "export", corpus, "--dfb-root", root, "--resolution", "300").returncode == 2
    assert run_cli("corpus", "export", corpus, "--dfb-root", root, "-o", tmp_path / "o").returncode == 2
    assert not list(root.glob(".*facepipe-export"))  # no staging folder left in the root
