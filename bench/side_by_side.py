"""Side-by-side picture of swapped sample frames: input | before | after | after with the mouth mask.

Usage: python bench/side_by_side.py [--frames 45,75,110] [--clip VIDEO] [--direction a2b]
       [--before-model DIR [--before-set KEY=VALUE ...]] [-o docs/swap_quality_side_by_side.png]

"before" is the blend as it was before occlusion, detail and the mouth mask existed
(``blend.occlusion=none``, ``blend.detail=0``), or, with ``--before-model``, today's default blend
with another swap model (an earlier bundled one); "after" is today's default; the last column adds
``blend.mouth=source``. Each tile is the face's neighbourhood cut from the frame.
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
from pipeline.media.atomic import write_image  # noqa: E402
from pipeline.cli.video_job import run_in_memory  # noqa: E402

SETTINGS = {
    "before": ["blend.occlusion='none'", "blend.detail=0.0"],
    "after (default)": [],
    "after + blend.mouth=source": ["blend.mouth='source'"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="45,75,110")
    parser.add_argument("--clip", default=str(REPO / "samples" / "sample.mp4"))
    parser.add_argument("--direction", default="a2b", choices=("a2b", "b2a"))
    parser.add_argument("--before-model", help="the 'before' column: this swap model with today's blend")
    parser.add_argument("--before-set", action="append", default=[], metavar="KEY=VALUE",
                        help="more settings of the 'before' column (e.g. the detail band the earlier model was tuned for)")
    parser.add_argument("-o", "--output", default=str(REPO / "docs" / "swap_quality_side_by_side.png"))
    args = parser.parse_args()
    wanted = [int(v) for v in args.frames.split(",")]
    columns: dict[str, dict[int, np.ndarray]] = {}
    boxes: dict[int, np.ndarray] = {}
    settings = dict(SETTINGS)
    if args.before_model:
        settings = {"before (" + Path(args.before_model).name + ")": [f"swap.model='{args.before_model}'", *args.before_set],
                    **{k: v for k, v in SETTINGS.items() if k != "before"}}
    common = [f"decode.max_frames={max(wanted) + 1}", f"swap.direction='{args.direction}'"]
    for title, sets in settings.items():
        frames, _ = run_in_memory(args.clip, load_config(overrides=[*sets, *common]))
        if "input" not in columns:
            columns["input"] = {i: frames[i].meta["original"] for i in wanted}
            boxes = {i: frames[i].faces[0].box for i in wanted if frames[i].faces}
        columns[title] = {i: frames[i].image for i in wanted}
    rows = []
    for i in wanted:
        x0, y0, x1, y1 = boxes[i]
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 0.8
        h, w = columns["input"][i].shape[:2]
        a, b = int(max(0, cy - half)), int(min(h, cy + half))
        c, d = int(max(0, cx - half)), int(min(w, cx + half))
        tiles = []
        for title, images in columns.items():
            tile = cv2.resize(images[i][a:b, c:d], (300, int(300 * (b - a) / (d - c))), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"{title}  #{i}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(tile, f"{title}  #{i}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        height = min(t.shape[0] for t in tiles)
        rows.append(np.hstack([t[:height] for t in tiles]))
    width = min(r.shape[1] for r in rows)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_image(args.output, np.vstack([r[:, :width] for r in rows]))
    print(args.output)


if __name__ == "__main__":
    main()
