"""Benchmark of picking and splitting faces by identity (dlib's 128-D embedding).

    python bench/identity.py [--every 8] [--keep DIR] [--markdown docs/benchmarks.md [--section identity]]

Prints:
- the embedding's cost per face on this machine;
- ``extract --by-identity`` on a mixed folder (woman A, man B as clip and photo, four people/ clips,
  the five-person group photo): for each clustering distance, how many sets come out and which sets
  mix two people (ground truth = the source file; B's photo and clip are one person; each face of
  the group photo is its own person). The right answer is 12 sets, none mixed.
With --markdown the same figures go into that page's section as tables (bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MEDIA = REPO.parent / "shared" / "media"

from bench.report import add_options, begin_run, publish, table  # noqa: E402

FILES = ["single_face.mp4", "single_face.jpg", "WolfgangLanger_Pexels.mp4", "multi_face.jpg",
         "people/retalking_face4_woman_blue_bg_talk.mp4", "people/lp_d18_man_grey_hoodie_expressions.mp4",
         "people/lp_d20_young_man_outdoor_talk.mp4", "people/tpsmm_man_closeup_talk.mp4"]


def who(record: dict) -> str:
    name = Path(record["source"]).name
    if name.startswith("single_face"):
        return "B"
    if name == "multi_face.jpg":
        return f"group@{int(record['box'][0])}"
    return name


def embedding_ms() -> float:
    from pipeline.cli.settings import load_config
    from pipeline.compose import build_stages
    from pipeline.media.images import ImageSource
    from pipeline.runner import Runner
    from stages import STAGES
    from stages.faces.identity import face_embedding

    class Keep:
        frame = None

        def open(self, info):
            pass

        def write(self, frame):
            Keep.frame = frame

        def close(self, ok):
            pass

    source = ImageSource([MEDIA / "single_face.jpg"], "photo")
    info = source.open()
    stages, contexts = build_stages(load_config(), STAGES, ["detect", "landmarks"], info, print)
    Runner(source, stages, Keep(), contexts=contexts).run()
    frame = Keep.frame
    face = frame.faces[0]
    face_embedding(frame.image, face.landmarks)
    started = time.perf_counter()
    for _ in range(10):
        face_embedding(frame.image, face.landmarks)
    return (time.perf_counter() - started) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=8)
    parser.add_argument("--keep", help="extract into this folder (kept) instead of a temporary one")
    add_options(parser, "identity")
    args = parser.parse_args()
    run = begin_run(args)
    missing = [name for name in FILES if not (MEDIA / name).exists()]
    if missing:
        raise SystemExit(f"bench/identity.py: media not found: {MEDIA / missing[0]}")
    embed_ms = embedding_ms()
    print(f"embedding: {embed_ms:.0f} ms per face")

    from pipeline.cli.identity_split import face_tracks
    from pipeline.media.faceset import read_alignments
    from stages.faces.identity import cluster_embeddings

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "mixed"
        folder.mkdir()
        for name in FILES:
            (folder / Path(name).name).symlink_to(MEDIA / name)
        out = Path(args.keep) if args.keep else Path(scratch) / "out"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline.cli.main", "extract", str(folder), "-o", str(out),
                        "--by-identity", "--every", str(args.every), "-q"], cwd=REPO, check=True)
        seconds = time.perf_counter() - started
        faces = read_alignments(out / "all")["faces"]
        print(f"extract --by-identity --every {args.every}: {len(faces)} faces in {seconds:.1f} s")
        tracks = face_tracks(faces)
        truth = [who(track[0]) for track in tracks]
        centres = np.array([np.mean([r["embedding"] for r in track], axis=0) for track in tracks], np.float32)
        people = len(set(truth))
        print(f"{len(tracks)} face tracks of {people} people")
        rows = []
        for threshold in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65):
            labels = cluster_embeddings(centres, threshold)
            mixed = [sorted({truth[i] for i in np.nonzero(labels == label)[0]}) for label in set(labels.tolist())]
            mixed = [m for m in mixed if len(m) > 1]
            split = sorted(p for p in set(truth) if len({labels[i] for i, t in enumerate(truth) if t == p}) > 1)
            print(json.dumps({"distance": threshold, "sets": len(set(labels.tolist())), "mixed": mixed, "split": split}))
            rows.append((threshold, len(set(labels.tolist())), "; ".join(" + ".join(m) for m in mixed) or "none",
                         ", ".join(split) or "none"))
    body = (f"dlib embedding: {embed_ms:.0f} ms per face. `extract --by-identity --every {args.every}` on {len(FILES)} "
            f"files of `../shared/media` (woman A, man B as clip and photo, four `people/` clips, the five-person group "
            f"photo): {len(faces)} faces in {seconds:.1f} s, {len(tracks)} face tracks of {people} people. Sets per "
            "clustering distance (ground truth = the source file):\n\n"
            + table(["distance", "sets", "mixed (people in one set)", "split (a person in two sets)"], rows))
    publish(args, run, body)


if __name__ == "__main__":
    main()
