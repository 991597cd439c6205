"""bench/prefer.py: each pair is one frame swapped two ways, its key is outside the judges' folder, and
the score maps left/right back to the settings and refuses bad answers in one line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, bench_module, media, run_bench


prefer = bench_module("prefer")


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short clips, one pair each, swapped with the fast 64-px model: with and without the colour
    transfer, a difference the pairs must show."""
    out = tmp_path_factory.mktemp("prefer") / "set"
    done = run_bench("prefer", "make", "--out", str(out), "--clips", str(media("single_face.mp4")),
                     str(REPO / "samples" / "sample.mp4"), "--pairs-per-clip", "1", "--frames", "6",
                     "--a", 'rct=swap.model="fast"', "--b", 'plain=swap.model="fast";blend.color="none"')
    assert done.returncode == 0, done.stderr
    return out


def test_each_pair_is_one_frame_two_ways_and_the_key_stays_outside(tiny_set: Path) -> None:
    pairs, key_file = tiny_set / "pairs", tiny_set / "key.json"
    assert key_file.is_file() and pairs.resolve() not in key_file.resolve().parents
    assert not list(pairs.rglob("*.json")) and not (tiny_set / "work").exists()
    key = json.loads(key_file.read_text())
    assert key["a"] == {"name": "rct", "settings": ['swap.model="fast"']}
    assert key["b"]["settings"] == ['swap.model="fast"', 'blend.color="none"']
    assert sorted(p["clip"] for p in key["pairs"]) == ["sample", "single_face"]
    for pair in key["pairs"]:
        image = cv2.imread(str(pairs / f"{pair['pair']}.png"))
        assert image.shape == (prefer.CROP_PX, 2 * prefer.CROP_PX + prefer.GAP_PX, 3)
        left, right = image[:, :prefer.CROP_PX].astype(int), image[:, -prefer.CROP_PX:].astype(int)
        # the same head box of the same frame: the background agrees, the painted face does not
        assert np.abs(left[:20] - right[:20]).mean() < 3.0
        assert np.abs(left - right).max() > 20
    assert (pairs / "INSTRUCTIONS.md").is_file() and (pairs / "answers_template.csv").is_file()


def test_make_refuses_an_existing_set_and_a_missing_clip_in_one_line(tiny_set: Path, tmp_path: Path) -> None:
    for args, message in ((["--out", str(tiny_set)], "already holds a preference set"),
                          (["--out", str(tmp_path / "new"), "--clips", str(tmp_path / "none.mp4")], "no such clip")):
        done = run_bench("prefer", "make", *args, "--a", "x=", "--b", "y=")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert (tiny_set / "key.json").is_file()  # the set refused is left as it was


def test_differing_keeps_a_pair_only_where_its_sides_differ_over_enough_of_the_crop() -> None:
    side = np.full((prefer.CROP_PX, prefer.CROP_PX, 3), 120, np.uint8)
    changed = side.copy()
    changed[:12, :12] = 150  # 144 pixels of 102400, over the share
    speck = side.copy()
    speck[:5, :5] = 250  # 25 pixels: a speck, under it
    assert prefer.differ(side, changed, 20) and not prefer.differ(side, changed, 30)
    assert not prefer.differ(side, speck, 20) and not prefer.differ(side, side, 0)


def test_make_with_differing_refuses_sides_that_never_differ(tmp_path: Path) -> None:
    done = run_bench("prefer", "make", "--out", str(tmp_path / "set"), "--clips", str(media("single_face.mp4")),
                     "--pairs-per-clip", "1", "--frames", "3", "--differing", "0",
                     "--a", 'one=swap.model="fast"', "--b", 'same=swap.model="fast"')
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no pair's sides differ" in done.stderr.strip().splitlines()[-1], done.stderr  # after the progress lines
    assert not (tmp_path / "set" / "key.json").exists() and not (tmp_path / "set" / "work").exists()


def write_key(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [{"pair": f"{n:02d}", "clip": "c1" if n <= 4 else "c2", "frame": n, "crop_box": [0, 0, 10, 10],
              "left": "a" if n % 2 else "b"} for n in range(1, 9)]
    (folder / "key.json").write_text(json.dumps({
        "version": prefer.KEY_VERSION, "commit": "abc", "seed": 0, "frames": 90, "clips": ["c1", "c2"],
        "a": {"name": "old", "settings": []}, "b": {"name": "new", "settings": ["x=1"]}, "pairs": pairs}))


# pairs 01, 03, 05, 07 have A on the left; 02, 04, 06, 08 have B on the left
ANSWERS = """pair,choice,confidence,evidence
01,right,4,"left cheek waxy, right has pores"
02,left,3,-
03,right,2,-
04,left,5,flat light on the right
05,left,3,-
06,left,2,-
07,same,1,-
08,right,2,-
"""


def test_score_maps_sides_back_to_the_settings() -> None:
    key = {"pairs": [{"pair": f"{n:02d}", "clip": "c1" if n <= 4 else "c2", "left": "a" if n % 2 else "b"}
                     for n in range(1, 9)]}
    result = prefer.tally(key, prefer.read_answers_text(ANSWERS), "judge")
    # B chosen on 01-04 and 06 (left when B is on the left, right when A is), A on 05 and 08, 07 same
    assert (result.prefer_a, result.prefer_b, result.same) == (2, 5, 1)
    assert result.per_clip == {"c1": [0, 4, 0], "c2": [2, 1, 1]}
    assert result.b_share == pytest.approx(5 / 7)
    # a judge who writes 1 for 01 names the same image
    again = prefer.tally(key, prefer.read_answers_text(ANSWERS.replace("\n01,", "\n1,")), "judge")
    assert (again.prefer_a, again.prefer_b, again.same) == (2, 5, 1)


def test_the_sign_test_is_the_exact_two_sided_binomial() -> None:
    assert prefer.sign_test(0, 6) == pytest.approx(2 / 64)
    assert prefer.sign_test(1, 7) == pytest.approx(2 * 9 / 256)
    assert prefer.sign_test(3, 3) == 1.0 and prefer.sign_test(0, 0) == 1.0


def test_score_cli_pools_judges_and_writes_the_section(tmp_path: Path) -> None:
    write_key(tmp_path / "set")
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(ANSWERS)
    second.write_text(ANSWERS.replace("05,left,3", "05,right,3"))  # B on 05 too
    page = tmp_path / "bench.md"
    page.write_text("# Benchmarks\n\nkept text\n")
    done = run_bench("prefer", "score", "--out", str(tmp_path / "set"), "--answers", str(first), str(second),
                     "--judge", "one", "two", "--markdown", str(page), "--section", "prefer-test")
    assert done.returncode == 0, done.stderr
    assert "one: prefer A (old) 2, B (new) 5, same 1" in done.stdout
    assert "all judges: prefer A (old) 3, B (new) 11, same 2" in done.stdout
    text = page.read_text()
    assert "kept text" in text and "<!-- bench:prefer-test -->" in text
    assert "| all judges | 3 | 11 | 2 | 11/14 (79%) |" in text and "left cheek waxy, right has pores" in text


@pytest.mark.parametrize("change, message", [
    (lambda text: text + "09,left,3,extra\n", "every pair once"),
    (lambda text: text.replace("08,right,2,-\n", ""), "every pair once"),
    (lambda text: text.replace("05,left,3", "05,middle,3"), "left, right, same"),
    (lambda text: text.replace("05,left,3", "05,left,9"), "1-5"),
    (lambda text: text + "05,left,3,again\n", "every pair once"),
])
def test_score_refuses_bad_answers_in_one_line(tmp_path: Path, change, message: str) -> None:
    write_key(tmp_path / "set")
    answers = tmp_path / "answers.csv"
    answers.write_text(change(ANSWERS))
    done = run_bench("prefer", "score", "--out", str(tmp_path / "set"), "--answers", str(answers))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr and "prefer A" not in done.stdout
