"""How DeepfakeBench's unmodified loader finds a dataset's files, small enough to check an export against.

Mirrors ``training/dataset/abstract_dataset.py`` of SCLBD/DeepfakeBench at commit
db3e3482781793fa0fa684f834f8f3cd53d80558 (``collect_img_and_label_for_one_dataset``: the JSON, the
``_c40`` names, the compression level of FF++'s family, ``label_dict``, frames in the JSON's order (its
sort key is a constant), the first ``frame_num`` frames; ``__getitem__``: masks and landmarks named by replacing
``frames`` in the frame path), with two rules of its later ``load_rgb`` and ``train.py``: a path not
starting with ``.`` is prefixed ``./{rgb_dir}\\`` (a backslash, even on Linux), and ``lmdb: True``
switches the JSON folder to ``preprocessing/dataset_json_v3``. Every path resolves against the current
working directory, as in the loader. Written from reading, not copied; no torch, cv2 or lmdb.
"""

from __future__ import annotations

import json
import os
from typing import Any

FFPP_FAMILY = ["FF-DF", "FF-F2F", "FF-FS", "FF-NT", "FaceForensics++", "DeepFakeDetection", "FaceShifter"]
C40_NAMES = {f"{base}_c40": base for base in ["FaceForensics++", "FF-DF", "FF-F2F", "FF-FS", "FF-NT"]}


def collect(config: dict[str, Any], dataset_name: str, mode: str) -> list[tuple[str, int]]:
    """(frame path, integer label) of every frame the loader would read for ``mode`` (train or test)."""
    folder = "preprocessing/dataset_json_v3" if config.get("lmdb") else config["dataset_json_folder"]
    try:
        with open(os.path.join(folder, dataset_name + ".json")) as handle:
            info = json.load(handle)
    except Exception:
        raise ValueError(f"dataset {dataset_name} not exist!") from None
    level = None
    if dataset_name in C40_NAMES:
        dataset_name, level = C40_NAMES[dataset_name], "c40"
    items: list[tuple[str, int]] = []
    for label in info[dataset_name]:
        videos = info[dataset_name][label][mode]
        if dataset_name in FFPP_FAMILY:
            videos = videos[level or config["compression"]]  # KeyError: 'c23' when the level is missing
        for video in videos.values():
            if video["label"] not in config["label_dict"]:
                raise ValueError(f"Label {video['label']} is not found in the configuration file.")
            value = config["label_dict"][video["label"]]
            # its sort key parses frames[0] for every item (a constant), so the JSON's order is what it uses
            frames = video["frames"]
            items += [(frame, value) for frame in frames[: config["frame_num"][mode]]]
    return items


def resolve(path: str, config: dict[str, Any]) -> str:
    """The path ``load_rgb`` opens: ``rgb_dir`` only for paths not starting with ``.``, joined by ``\\``."""
    return path if path.startswith(".") else f"./{config['rgb_dir']}\\" + path


def mask_path(frame: str) -> str:
    """``__getitem__``'s mask path for a frame."""
    return frame.replace("frames", "masks")


def landmark_path(frame: str) -> str:
    """``__getitem__``'s landmark path for a frame."""
    return frame.replace("frames", "landmarks").replace(".png", ".npy")
