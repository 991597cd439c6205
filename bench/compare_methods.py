"""Side-by-side of swap methods on the held-out clips: per clip, three frames, input | method | method ...

Usage: python bench/compare_methods.py [--clips V,V,...] [--frames 10,40,70]
       [--method NAME=KEY=VALUE;KEY=VALUE ...] [-o docs/swap_methods_unseen.png]

Each ``--method`` is a column: a name and the ``--set`` overrides that select it (the default convert
is ``default=``; the old default, the bundled pair model, is ``pair=swap.model=bundled``). Each tile is the face's neighbourhood cut from the frame (the input's largest face box,
enlarged 1.8x), so the columns show the same region. Held-out clips only by default: these are the
faces no model or bank was built from, which is what a user's footage is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.cli.settings import load_config  # noqa: E402
from pipeline.cli.video_job import run_in_memory  # noqa: E402
from pipeline.media.atomic import write_image  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
HELD_OUT = [MEDIA / "people" / "lp_d18_man_grey_hoodie_expressions.mp4", MEDIA / "single_face.mp4",
            MEDIA / "people" / "retalking_face2_man_map_bg_talk.mp4",
            MEDIA / "people" / "retalking_face5_older_woman_glasses_talk.mp4",
            MEDIA / "people" / "facenet_crowd_multiface.mp4"]
TILE = 160


def face_box(frame) -> tuple[int, int, int, int] | None:
    """The largest face's box enlarged 1.8x, square, clipped to the frame."""
    if not frame.faces:
        return None
    face = max(frame.faces, key=lambda f: f.width * f.height)
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    side = 1.8 * max(face.width, face.height)
    h, w = frame.image.shape[:2]
    side = min(side, h, w)
    x0 = int(np.clip(cx - side / 2, 0, w - side))
    y0 = int(np.clip(cy - side / 2, 0, h - side))
    return x0, y0, int(side), int(side)


def tile(image: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    if box is None:
        return np.zeros((TILE, TILE, 3), np.uint8)
    x, y, w, h = box
    return cv2.resize(image[y:y + h, x:x + w], (TILE, TILE), interpolation=cv2.INTER_AREA)


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (TILE, 18), (0, 0, 0), -1)  # a dark strip: the label reads on any background
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default=",".join(str(p) for p in HELD_OUT))
    parser.add_argument("--frames", default="10,40,70")
    parser.add_argument("--method", action="append", default=[],
                        help="NAME=KEY=VALUE;KEY=VALUE (the overrides of one column); default: default=")
    parser.add_argument("-o", "--output", default=str(REPO / "docs" / "swap_methods_unseen.png"))
    args = parser.parse_args()
    wanted = [int(v) for v in args.frames.split(",")]
    methods = [(m.split("=", 1)[0], [s for s in m.split("=", 1)[1].split(";") if s]) for m in (args.method or ["default="])]
    rows = []
    for clip in args.clips.split(","):
        clip_tiles: list[np.ndarray] = []
        columns = []
        last = max(wanted) + 1
        for name, overrides in methods:
            config = load_config(overrides=[f"decode.max_frames={last}", *overrides])
            frames, _ = run_in_memory(clip, config)
            columns.append((name, {f.index: f for f in frames}))
        for index in wanted:
            frames_now = [by_index.get(index) for _, by_index in columns]
            if frames_now[0] is None:
                continue
            box = face_box(frames_now[0])
            original = frames_now[0].meta.get("original", frames_now[0].image)
            group = [label(tile(original, box), f"{Path(clip).stem[:12]} frame {index}")]
            group += [label(tile(f.image, box), name) if f is not None else tile(original, None)
                      for (name, _), f in zip(columns, frames_now)]
            clip_tiles.append(np.hstack(group))
        if clip_tiles:
            rows.append(np.hstack(clip_tiles))
        print(f"{Path(clip).name}: {len(clip_tiles)} frames", flush=True)
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    write_image(Path(args.output), sheet)
    print(args.output)


if __name__ == "__main__":
    main()
