"""bench/blind.py: the blind set hides its key and never shows one video both real and swapped, its crops
are head crops that name nothing, and the score counts what the judge caught and refuses bad answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, bench_module, media, run_bench


blind = bench_module("blind")


# ------------------------------------------------------------------------------------------- make


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Four short clips of four different people, split 2 real + 2 swapped by the script, one crop each,
    swapped with the fast 64-px model so the whole set takes seconds."""
    clips = [media("single_face.mp4"), media("people/lp_d19_man_glasses_white_sweater.mp4"),
             media("people/megactor_woman_glasses_talk.mp4"), REPO / "samples" / "sample.mp4"]
    out = tmp_path_factory.mktemp("blind") / "set"
    done = run_bench("blind", "make", "--out", str(out), "--clips", *map(str, clips), "--crops-per-video", "1",
                     "--frames", "6", "--seed", "3", "--set", 'swap.model="fast"')
    assert done.returncode == 0, done.stderr
    return out, clips


def test_key_is_outside_the_crops_folder(tiny_set: tuple[Path, list[Path]]) -> None:
    out, _ = tiny_set
    crops = out / "crops"
    key = out / "key.json"
    assert key.is_file() and crops.is_dir()
    assert crops.resolve() not in key.resolve().parents
    assert not list(crops.rglob("*.json")), "nothing key-like may sit beside the crops"
    names = sorted(p.name for p in crops.iterdir())
    assert names == sorted([*(f"{i:02d}.png" for i in range(1, 5)), "INSTRUCTIONS.md", "answers_template.csv"])


def test_every_video_is_all_real_or_all_fake_and_the_split_is_balanced(tiny_set: tuple[Path, list[Path]]) -> None:
    out, clips = tiny_set
    key = json.loads((out / "key.json").read_text())
    video_labels = {v["name"]: v["label"] for v in key["videos"]}
    assert sorted(video_labels.values()) == ["fake", "fake", "real", "real"]
    assert {Path(v["source"]) for v in key["videos"]} == {c.resolve() for c in clips}
    for crop in key["crops"]:
        assert crop["label"] == video_labels[crop["video"]]
    per_video = {name: {c["label"] for c in key["crops"] if c["video"] == name} for name in video_labels}
    assert all(len(labels) == 1 for labels in per_video.values()), per_video
    assert len(key["crops"]) == 4 and all(len([c for c in key["crops"] if c["video"] == n]) == 1 for n in video_labels)
    for crop in key["crops"]:  # a fake crop shows a face the blend actually replaced
        if crop["label"] == "fake":
            assert crop["swap_mask"] is not None and crop["swap_mask"] >= blind.MIN_SWAP_MASK


def test_crop_files_reveal_nothing(tiny_set: tuple[Path, list[Path]]) -> None:
    out, clips = tiny_set
    crops = out / "crops"
    pngs = sorted(crops.glob("*.png"))
    assert all(re.fullmatch(r"\d+\.png", p.name) for p in pngs)
    words = {w for c in clips for w in re.split(r"[_\W]+", c.stem.lower()) if len(w) >= 4} | {"real", "fake", "swap"}
    for file in crops.iterdir():
        assert not any(w in file.name.lower() for w in words), file.name
    text = (crops / "INSTRUCTIONS.md").read_text().lower() + (crops / "answers_template.csv").read_text().lower()
    assert not any(c.stem.lower() in text for c in clips)
    assert len({p.stat().st_mtime for p in crops.iterdir()}) == 1, "write times would give the order away"
    for png in pngs:  # no text chunks (tEXt/iTXt/zTXt) that could carry a name
        data = png.read_bytes()
        assert not any(chunk in data for chunk in (b"tEXt", b"iTXt", b"zTXt"))


def test_crops_are_square_head_crops_of_the_right_size(tiny_set: tuple[Path, list[Path]]) -> None:
    out, _ = tiny_set
    key = json.loads((out / "key.json").read_text())
    finder = blind.FaceFinder()
    try:
        for crop in key["crops"]:
            image = cv2.imread(str(out / "crops" / f"{crop['crop']}.png"), cv2.IMREAD_UNCHANGED)
            assert image is not None and image.shape == (blind.CROP_PX, blind.CROP_PX, 3)
            x0, y0, x1, y1 = crop["crop_box"]
            fx0, fy0, fx1, fy1 = crop["face_box"]
            assert x1 - x0 == y1 - y0, "square"
            assert x0 <= fx0 + 2 and y0 <= fy0 + 2 and fx1 <= x1 + 2, "the face is inside the crop"
            # a head crop, not a face crop: the crop is HEAD_SCALE x the face (or the whole frame's short side)
            frame = cv2.VideoCapture(str(next(v["converted"] for v in key["videos"] if v["name"] == crop["video"])))
            short = min(frame.get(cv2.CAP_PROP_FRAME_WIDTH), frame.get(cv2.CAP_PROP_FRAME_HEIGHT))
            frame.release()
            want = min(blind.HEAD_SCALE * max(fx1 - fx0, fy1 - fy0), short)
            assert abs((x1 - x0) - want) <= 2
            face = finder.largest(image, 0)
            assert face is not None, f"no face in crop {crop['crop']}"
            side = max(face[2] - face[0], face[3] - face[1]) / blind.CROP_PX
            assert 0.35 <= side <= 0.85, f"crop {crop['crop']}: face fills {side:.2f} of it"
            centre = ((face[0] + face[2]) / 2, (face[1] + face[3]) / 2)
            assert all(0.25 * blind.CROP_PX < c < 0.75 * blind.CROP_PX for c in centre)
    finally:
        finder.close()


def test_make_refuses_an_existing_set_and_a_missing_clip(tiny_set: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, clips = tiny_set
    again = run_bench("blind", "make", "--out", str(out), "--clips", *map(str, clips))
    assert again.returncode != 0 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    missing = run_bench("blind", "make", "--out", str(tmp_path / "x"), "--clips", str(clips[0]),
                        str(tmp_path / "nope.mp4"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "nope.mp4" in missing.stderr


def test_split_is_seeded_balanced_and_disjoint() -> None:
    clips = [Path(f"/v/{i}.mp4") for i in range(7)]
    fakes, reals = blind.split_videos(clips, seed=5)
    assert (len(fakes), len(reals)) == (4, 3)
    assert not set(fakes) & set(reals) and set(fakes) | set(reals) == set(clips)
    assert blind.split_videos(clips, seed=5) == (fakes, reals)
    assert any(blind.split_videos(clips, seed=s) != (fakes, reals) for s in range(6, 10))


def test_head_box_stays_square_and_inside_the_frame() -> None:
    box = blind.head_box(np.array([600.0, 10.0, 640.0, 60.0]), 640, 360)  # a face at the top-right corner
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 == round(blind.HEAD_SCALE * 50)
    assert 0 <= x0 and x1 <= 640 and 0 <= y0 and y1 <= 360


# ------------------------------------------------------------------------------------------ score


def write_key(out: Path) -> None:
    """A hand-made key: crops 01-04 fake (two videos), 05-10 real (three videos)."""
    fakes = [("01", "fa"), ("02", "fa"), ("03", "fb"), ("04", "fb")]
    reals = [(f"{i:02d}", f"r{i % 3}") for i in range(5, 11)]
    crops = [{"crop": c, "video": v, "label": "fake", "frame": 0} for c, v in fakes]
    crops += [{"crop": c, "video": v, "label": "real", "frame": 0} for c, v in reals]
    videos = [{"name": n, "label": "fake"} for n in ("fa", "fb")] + [{"name": f"r{i}", "label": "real"} for i in range(3)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "key.json").write_text(json.dumps({"version": 1, "seed": 0, "frames": 90, "crops_per_video": 2,
                                              "settings": [], "commit": "abc", "videos": videos, "crops": crops}))


ANSWERS = """crop,label,confidence,evidence
01,fake,5,"seam along the jaw, blurry cheeks"
02.png,real,4,looks fine
3,fake,3,teeth smeared
04,real,2,unsure
05,real,4,natural skin
06,fake,2,odd lighting, maybe
07,real,5,sharp hair
08,real,3,-
09,real,3,-
10,real,4,-
"""


def test_score_counts_caught_confident_and_flagged(tmp_path: Path) -> None:
    write_key(tmp_path)
    answers = tmp_path / "answers.csv"
    answers.write_text(ANSWERS)
    result = blind.score(blind.load_key(tmp_path), blind.read_answers(answers))
    assert (result.fakes, result.reals) == (4, 6)
    assert (result.caught, result.caught_confident, result.flagged) == (2, 1, 1)
    assert result.caught_rate == pytest.approx(0.5) and result.flagged_rate == pytest.approx(1 / 6)
    assert not result.passes  # 17 % of reals flagged is over the 10 % target
    evidence = {j.crop: j.answer.evidence for j in result.judged}
    assert evidence["01"] == "seam along the jaw, blurry cheeks" and evidence["06"] == "odd lighting, maybe"


def test_score_cli_prints_rates_and_evidence_and_writes_the_section(tmp_path: Path) -> None:
    write_key(tmp_path / "set")
    answers = tmp_path / "answers.csv"
    answers.write_text(ANSWERS)
    page = tmp_path / "bench.md"
    page.write_text("# Benchmarks\n\nkept text\n")
    done = run_bench("blind", "score", "--out", str(tmp_path / "set"), "--answers", str(answers),
                     "--markdown", str(page), "--judge", "test judge")
    assert done.returncode == 0, done.stderr
    assert "fakes caught (labelled fake): 2/4 (50 %)" in done.stdout
    assert "confidence >= 4: 1/4 (25 %)" in done.stdout
    assert "reals flagged (labelled fake): 1/6 (17 %)" in done.stdout
    fake_lines = [line for line in done.stdout.splitlines() if re.match(r"\s+0[1-4]\s", line)]
    assert len(fake_lines) == 4 and "fa" in fake_lines[0] and "seam along the jaw" in fake_lines[0]
    text = page.read_text()
    assert "kept text" in text and "<!-- bench:blind -->" in text and "<!-- /bench:blind -->" in text
    assert "| 2/4 (50 %) | 1/4 (25 %) | 1/6 (17 %) | not met |" in text and "test judge" in text


@pytest.mark.parametrize("change, message", [
    (lambda text: text + "11,fake,3,extra\n", "'11', which is not in the set"),
    (lambda text: text.replace("10,real,4,-\n", ""), "miss crop '10'"),
    (lambda text: text.replace("05,real,4", "05,maybe,4"), "real or fake"),
    (lambda text: text.replace("05,real,4", "05,real,9"), "1 to 5"),
    (lambda text: text + "05,real,3,again\n", "twice"),
])
def test_score_refuses_bad_answers_in_one_line(tmp_path: Path, change, message: str) -> None:
    write_key(tmp_path / "set")
    answers = tmp_path / "answers.csv"
    answers.write_text(change(ANSWERS))
    done = run_bench("blind", "score", "--out", str(tmp_path / "set"), "--answers", str(answers))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr
    assert "fakes caught" not in done.stdout
