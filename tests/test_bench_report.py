"""bench/report.py: a bench script rewrites only its own section of a markdown page, headed by when, where
and from which commit it measured; and a real (short) bench run writes a numeric table through it."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, bench_module

report = bench_module("report")

PAGE = """# Benchmarks

Intro text that no script owns.

## Convert

<!-- bench:convert -->
old convert figures | 1 | 2
<!-- /bench:convert -->

Prose between sections, kept as written.

## IO

<!-- bench:io -->
| a | b |
|---|---|
| 1 | 2 |
<!-- /bench:io -->
trailing line without newline"""


def run_info(commit: str = "abc1234") -> "report.RunInfo":
    return report.RunInfo("2030-01-02 03:04 UTC", "Test CPU (2 cores)", 0.5, commit, "python bench/x.py")


def test_section_is_replaced_in_place_and_the_rest_is_byte_identical(tmp_path: Path) -> None:
    page = tmp_path / "bench.md"
    page.write_bytes(PAGE.encode())
    report.write_section(page, "convert", "| clip | fps |\n|---|---|\n| x | 9.5 |\n", run_info())
    text = page.read_text()
    before, after = PAGE.split("<!-- bench:convert -->")[0], PAGE.split("<!-- /bench:convert -->\n")[1]
    assert text.startswith(before) and text.endswith(after)
    block = text[len(before):len(text) - len(after)]
    assert "old convert figures" not in block and "| x | 9.5 |" in block
    assert block.startswith("<!-- bench:convert -->\n") and block.endswith("<!-- /bench:convert -->\n")
    assert text.count("<!-- bench:convert -->") == 1


def test_writing_one_section_twice_leaves_one_block_with_the_new_body(tmp_path: Path) -> None:
    page = tmp_path / "bench.md"
    page.write_text(PAGE)
    report.write_section(page, "io", "first body", run_info())
    report.write_section(page, "io", "second body", run_info())
    text = page.read_text()
    assert text.count("<!-- bench:io -->") == 1 and "second body" in text and "first body" not in text
    assert text.endswith("<!-- /bench:io -->\ntrailing line without newline")


def test_a_missing_section_is_appended_under_a_heading(tmp_path: Path) -> None:
    page = tmp_path / "bench.md"
    page.write_text(PAGE)
    report.write_section(page, "faces", "| n | ms |\n|---|---|\n| 1 | 2.0 |", run_info())
    text = page.read_text()
    assert text.startswith(PAGE + "\n")  # nothing before it moved
    tail = text[len(PAGE):]
    assert re.fullmatch(r"\n+## faces\n\n<!-- bench:faces -->\n.*\| 1 \| 2\.0 \|\n<!-- /bench:faces -->\n", tail, re.S)


def test_a_missing_page_is_created(tmp_path: Path) -> None:
    page = tmp_path / "new" / "bench.md"
    report.write_section(page, "io", "body", run_info())
    assert "<!-- bench:io -->" in page.read_text() and "body" in page.read_text()


def test_the_header_carries_date_machine_load_and_commit(tmp_path: Path) -> None:
    page = tmp_path / "bench.md"
    page.write_text(PAGE)
    report.write_section(page, "io", "body", run_info("deadbee+dirty"))
    block = page.read_text().split("<!-- bench:io -->\n")[1].split("<!-- /bench:io -->")[0]
    header = block.splitlines()[0]
    for fact in ("2030-01-02 03:04 UTC", "Test CPU (2 cores)", "0.50", "deadbee+dirty", "python bench/x.py"):
        assert fact in header


def test_a_snapshot_names_this_clone_s_commit_and_today(tmp_path: Path) -> None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git clone")
    days = {dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")}
    page = tmp_path / "bench.md"
    report.write_section(page, "io", "body")  # header facts taken now
    days.add(dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"))
    header = page.read_text().split("<!-- bench:io -->\n")[1].splitlines()[0]
    assert re.search(rf"commit `{re.escape(head)}(\+dirty)?`", header)
    assert any(day in header for day in days)
    assert re.search(r"\(\d+ cores\)", header) and re.search(r"load average \d+\.\d\d", header)


def test_the_page_being_written_does_not_make_the_tree_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    try:
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    (repo / "page.md").write_text("x\n")
    subprocess.run(git + ["add", "page.md"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "init"], cwd=repo, check=True)
    assert not report.git_commit(repo).endswith("+dirty")
    (repo / "page.md").write_text("changed\n")
    assert report.git_commit(repo, ignore=[repo / "page.md"]) == report.git_commit(repo).removesuffix("+dirty")
    assert report.git_commit(repo).endswith("+dirty")


def test_bad_section_names_and_unclosed_markers_are_refused(tmp_path: Path) -> None:
    page = tmp_path / "bench.md"
    page.write_text("<!-- bench:io -->\nno end\n")
    with pytest.raises(ValueError, match="no closing"):
        report.write_section(page, "io", "body", run_info())
    assert page.read_text() == "<!-- bench:io -->\nno end\n"
    with pytest.raises(ValueError, match="bad section name"):
        report.write_section(page, "a -->", "body", run_info())
    assert not list(tmp_path.glob(".bench.md.*"))  # no temporary file left behind


def test_table_escapes_pipes_and_has_one_row_per_item() -> None:
    text = report.table(["a", "b"], [(1, "x|y"), (2.5, "z")])
    lines = text.strip().splitlines()
    assert len(lines) == 4 and lines[2] == "| 1 | x\\|y |" and lines[3] == "| 2.5 | z |"


def test_bench_convert_writes_its_section_with_a_numeric_table(tmp_path: Path) -> None:
    """The cheapest real bench run: 12 frames of the sample at its own size, one run."""
    page = tmp_path / "bench.md"
    page.write_text("# page\n\nkept\n")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "convert.py"), "--frames", "12", "--sizes", "640x360",
                           "--device", "cpu", "--markdown", str(page)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = page.read_text()
    assert text.startswith("# page\n\nkept\n")
    block = text.split("<!-- bench:convert -->\n")[1].split("<!-- /bench:convert -->")[0]
    assert "samples/sample.mp4" in block and "first 12 of" in block and "Device: cpu" in block
    assert "`pipeline.device=\"cpu\"`" in block  # the swap convert really ran with the device asked for
    rows = [line for line in block.splitlines() if line.startswith("| 640x360 |")]
    assert rows, block
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "12"  # the clip really had the frames asked for
    fps = [float(c) for c in cells[2:]]
    assert all(v > 0 for v in fps)
