"""A small corpus in the FaceForensics++ layout for detector tests (and for the bundled detector
until the demo corpus exists): real = 1 s of a ``people/`` clip, fake = the same clip manipulated.

``blur`` is the cheap, obviously separable manipulation (a Gaussian blur and washed-out colour)
that plumbing tests use; ``swap`` runs the bundled GAN swap (``facepipe convert``), a real fake.
Identities are split train/val/test by person, as the corpus generator does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEOPLE = REPO.parent / "shared" / "media" / "people"

CLIPS = ["lp_d18_man_grey_hoodie_expressions.mp4", "lp_d19_man_glasses_white_sweater.mp4",
         "lp_d20_young_man_outdoor_talk.mp4", "lp_d0_man_greenscreen_expressions.mp4",
         "megactor_woman_glasses_talk.mp4", "retalking_face5_older_woman_glasses_talk.mp4",
         "tpsmm_man_closeup_talk.mp4", "lp_d3_woman_hoop_earrings_expressions.mp4",
         "retalking_face4_woman_blue_bg_talk.mp4", "lp_d9_man_round_glasses_expressions.mp4",
         "retalking_face1_man_suit_talk.mp4", "retalking_face2_man_map_bg_talk.mp4",
         "lp_d12_man_glasses_green_sweater_talk.mp4", "../single_face.mp4",
         "lp_d13_webcam_selfie_man_glasses.mp4"]  # (lp_d6 is the swap model's B: it joins as a train real below)
CRF = {"c0": None, "c23": 23, "c40": 40}
BLUR = "gblur=sigma=2.2,eq=saturation=0.4"


def _ffmpeg(*args: str) -> None:
    from pipeline.media.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def _encode(src: Path, dst: Path, compression: str, filters: str, seconds: float, start: float = 0.5,
            scale: bool = True) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    vf = ",".join(f for f in ("scale=320:-2" if scale else "", filters) if f) or "null"
    crf = CRF[compression]
    codec = ["-c:v", "libx264rgb", "-crf", "0"] if crf is None else ["-c:v", "libx264", "-crf", str(crf), "-pix_fmt", "yuv420p"]
    _ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(src), "-an", "-vf", vf, *codec, "-preset", "veryfast", str(dst))


def _swap(src: Path, dst: Path, compression: str) -> None:
    """The bundled GAN swap, encoded like the real videos of that compression (no codec confound)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    crf = CRF[compression] or 0
    subprocess.run([sys.executable, "-m", "pipeline.cli.main", "convert", str(src), "-o", str(dst), "-q", "-y",
                    "--set", 'swap.direction="a2b"', "--set", f"encode.crf={crf}", "--set", 'encode.preset="veryfast"'],
                   check=True, cwd=REPO, capture_output=True)


# The bundled swap model paints identity B (and A): every swap fake shows one of their faces. Without real
# footage of A and B among the training reals, a detector learns "B's face = fake" instead of swap
# artefacts (it then calls real B video fake). So their real clips join the train split as reals.
SWAP_IDENTITIES = {"A": "WolfgangLanger_Pexels.mp4", "B": "people/lp_d6_woman_scrunchie_funnyfaces_first30s.mp4"}


def swap_identity_reals(root: Path, compressions: tuple[str, ...], seconds: float) -> list[dict]:
    rows = []
    for name, clip in SWAP_IDENTITIES.items():
        for comp in compressions:
            rel = f"original_sequences/youtube/{comp}/videos/swapid_{name}.mp4"
            _encode(PEOPLE.parent / clip, root / rel, comp, "", seconds)
            rows.append({"path": rel, "label": "real", "method": None, "target_video": f"swapid_{name}", "source_video": None,
                         "target_identity": f"swap model identity {name}", "split": "train", "compression": comp,
                         "perturbation": [], "occlusion": None})
    return rows


def build(root: Path, splits: dict[str, int], compressions: tuple[str, ...] = ("c23",), seconds: float = 1.0,
          method: str = "blur", perturb: dict[str, str] | None = None, perturb_split: str = "test") -> Path:
    """Write the corpus; ``splits`` = identities per split; ``perturb`` = {name: ffmpeg filter} variants."""
    manifest = []
    clips = iter(CLIPS)
    split_pairs: dict[str, list[list[str]]] = {}
    number = 0
    for split, count in splits.items():
        pairs = split_pairs.setdefault(split, [])
        ids = [f"{n:03d}" for n in range(number, number + count)]
        number += count
        for k, tid in enumerate(ids):
            clip = PEOPLE / next(clips)
            sid = ids[(k + 1) % len(ids)]  # the source is a person of the same split, as in FF++ (itself when alone)
            pairs.append([tid, sid])
            for comp in compressions:
                for label, variant_filters, rel in (("real", "", f"original_sequences/youtube/{comp}/videos/{tid}.mp4"),
                                                    ("fake", BLUR if method == "blur" else "",
                                                     f"manipulated_sequences/{method.title()}/{comp}/videos/{tid}_{sid}.mp4")):
                    variants = [("", [])] + ([(f"perturbed/{name}/", [name]) for name in perturb or {}]
                                             if split == perturb_split and comp == compressions[0] else [])
                    for prefix, plist in variants:
                        pfilter = (perturb or {}).get(plist[0], "") if plist else ""
                        dst = root / f"{prefix}{rel}"
                        if label == "fake" and method == "swap":
                            clean = root / rel
                            if not clean.exists():  # swap a lossless cut, so fakes are compressed as often as reals
                                raw = root / "cache" / "raw" / f"{tid}.mkv"
                                if not raw.exists():
                                    _encode(clip, raw, "c0", "", seconds)
                                _swap(raw, clean, comp)
                            if plist:  # perturb the finished fake, as the corpus does
                                _encode(clean, dst, comp, pfilter, seconds, start=0.0, scale=False)
                        else:
                            _encode(clip, dst, comp, ",".join(f for f in (variant_filters, pfilter) if f), seconds)
                        manifest.append({"path": f"{prefix}{rel}", "label": label, "method": method.title() if label == "fake" else None,
                                         "target_video": tid, "source_video": sid if label == "fake" else None,
                                         "target_identity": clip.stem, "split": split, "compression": comp,
                                         "perturbation": [f"{p}" for p in plist], "occlusion": None})
    if method == "swap":
        manifest += swap_identity_reals(root, compressions, seconds)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, pairs in split_pairs.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    (root / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in manifest))
    return root


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="build a toy detector corpus")
    parser.add_argument("out")
    parser.add_argument("--method", default="blur", choices=("blur", "swap"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--train", type=int, default=9)
    parser.add_argument("--val", type=int, default=2)
    parser.add_argument("--test", type=int, default=4)
    parser.add_argument("--compressions", default="c23,c40")
    a = parser.parse_args()
    build(Path(a.out), {"train": a.train, "val": a.val, "test": a.test}, tuple(a.compressions.split(",")), a.seconds, a.method,
          perturb={"CC_3": "eq=contrast=0.6", "GB_3": "gblur=sigma=2.1667"})
