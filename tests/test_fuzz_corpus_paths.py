"""Issue 24: paths read from manifests, identities CSVs and alignments.json stay inside their roots;
`corpus export` refuses a file or an earlier export as its output; a CSV naming absent videos warns; a
re-run of `corpus build` re-renders a truncated output. One small corpus (2 people, warp, c23, 8 frames)
is built once and copied per case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.errors import FacepipeError
from pipeline.media.paths import inside
from tests.conftest import media, one_line_error, run_cli

PEOPLE = ["megactor_woman_glasses_talk.mp4", "retalking_face1_man_suit_talk.mp4"]
BUILD = ["--fold-splits", "--methods", "warp", "--compressions", "c23", "--max-frames", "8", "-q"]
REAL = "original_sequences/youtube/c23/videos/000.mp4"
MASK = "manipulated_sequences/Warp/masks/videos/000_001.mp4"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("fuzz")
    inputs = base / "real"
    inputs.mkdir()
    for name in PEOPLE:
        (inputs / name).symlink_to(media(f"people/{name}"))
    corpus = base / "corpus"
    done = run_cli("corpus", "build", inputs, "-o", corpus, *BUILD, timeout=600)
    assert done.returncode == 0, done.stderr
    return inputs, corpus


@pytest.fixture
def corpus(built: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy, two levels down so that ``../../ESCAPED`` lands inside tmp_path."""
    copy = tmp_path / "a" / "b" / "corpus"
    shutil.copytree(built[1], copy, symlinks=True)
    return copy


def _lines(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line.strip()]


def _rewrite(root: Path, edit) -> None:
    """Apply ``edit`` to the first real c23 line (the reviewer's ``000.mp4``)."""
    lines = _lines(root)
    line = next(l for l in lines if l["path"] == REAL)
    edit(line)
    (root / "manifest.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- 1. manifest paths that leave the corpus ------------------------------------------------------
@pytest.mark.parametrize("field,value", [
    ("path", "../../ESCAPED/c23/videos/000.mp4"),  # the reviewer's reproduction
    ("path", "ABSOLUTE"),  # an absolute path to a real video
    ("path", "original_sequences/../../../ESCAPED/c23/videos/000.mp4"),  # climbs out midway
    ("mask", "../../ESCAPED/c23/videos/000.mp4"),  # the mask field is opened too
    ("target", "../../../../ESCAPED"),  # the face cache is looked up by target
])
def test_export_refuses_a_manifest_path_outside_the_corpus(corpus: Path, tmp_path: Path, field: str, value: str) -> None:
    escaped = tmp_path / "ESCAPED" / "c23" / "videos"
    escaped.mkdir(parents=True)
    shutil.copy(corpus / REAL, escaped / "000.mp4")  # a real video there, so a follower would succeed
    if value == "ABSOLUTE":
        value = str(escaped / "000.mp4")
    _rewrite(corpus, lambda line: line.__setitem__(field, value))
    out = tmp_path / "out"
    result = run_cli("corpus", "export", corpus, "-o", out, "--frames", "2")
    one_line_error(result, "outside", output=out)
    assert sorted(p.name for p in (tmp_path / "ESCAPED" / "c23").iterdir()) == ["videos"]  # no frames/, landmarks/


def test_export_refuses_a_symlink_that_leads_out_of_the_corpus(corpus: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.mp4"
    shutil.copy(corpus / REAL, outside)
    (corpus / REAL).unlink()
    (corpus / REAL).symlink_to(outside)
    out = tmp_path / "out"
    one_line_error(run_cli("corpus", "export", corpus, "-o", out, "--frames", "2"), "outside", output=out)


def test_verify_lists_an_escaping_path_as_a_problem_and_opens_nothing_there(corpus: Path, tmp_path: Path) -> None:
    _rewrite(corpus, lambda line: line.__setitem__("path", "../../ESCAPED/c23/videos/000.mp4"))
    result = run_cli("corpus", "verify", corpus, "-q")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "'../../ESCAPED/c23/videos/000.mp4' leads outside" in result.stdout


def test_detector_reader_refuses_an_escaping_manifest_path(corpus: Path, tmp_path: Path) -> None:
    from pipeline.detection.corpus import read_corpus

    _rewrite(corpus, lambda line: line.__setitem__("path", "/etc/passwd"))
    with pytest.raises(FacepipeError, match="leads outside"):
        read_corpus(corpus)
    out = tmp_path / "det"
    one_line_error(run_cli("detector", "train", corpus, "-o", out), "leads outside", output=out)


def test_a_bad_manifest_line_is_one_line(corpus: Path, tmp_path: Path) -> None:
    with (corpus / "manifest.jsonl").open("a") as handle:
        handle.write("{not json\n")
    out = tmp_path / "out"
    one_line_error(run_cli("corpus", "export", corpus, "-o", out), "not a JSON line", output=out)


# -- alignments.json --------------------------------------------------------------------------
@pytest.mark.parametrize("file", ["../../../../etc/passwd", "/etc/passwd", "faces/../../x.png"])
def test_alignments_paths_outside_the_faceset_are_refused(corpus: Path, tmp_path: Path, file: str) -> None:
    from pipeline.media.faceset import FacesetWriter, list_faces, read_alignments

    faces = corpus / ".facepipe" / "faces" / "000"
    data = json.loads((faces / "alignments.json").read_text())
    data["faces"][0]["file"] = file
    (faces / "alignments.json").write_text(json.dumps(data))
    for reader in (read_alignments, list_faces):
        with pytest.raises(FacepipeError, match="outside"):
            reader(faces)
    with pytest.raises(FacepipeError, match="outside"):  # extract would later delete that "stale" file
        FacesetWriter(faces, data["align"])
    out = tmp_path / "out"
    one_line_error(run_cli("corpus", "export", corpus, "-o", out, "--frames", "2"), "outside", output=out)


# -- 2, 3. export's output ------------------------------------------------------------------------
def test_export_to_an_existing_file_is_one_line_and_keeps_the_file(corpus: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    result = run_cli("corpus", "export", corpus, "-o", target, "--frames", "2")
    one_line_error(result, "is a file")
    assert target.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if "facepipe" in p.name] == []


def test_export_into_a_missing_parent_is_one_line(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "out"
    one_line_error(run_cli("corpus", "export", corpus, "-o", out), "does not exist")
    assert not (tmp_path / "no").exists()


def test_export_over_an_earlier_export_needs_overwrite(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "dfb"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")  # unrelated files do not block an export
    first = run_cli("corpus", "export", corpus, "-o", out, "--frames", "3", "-q")
    assert first.returncode == 0, first.stderr
    before = _tree(out)
    assert before["notes.txt"] == b"keep me" and "dataset_json/Facepipe.json" in before
    again = run_cli("corpus", "export", corpus, "-o", out, "--frames", "2")
    one_line_error(again, "--overwrite")
    assert _tree(out) == before  # nothing replaced, nothing added
    assert [p.name for p in out.iterdir() if "facepipe" in p.name] == []
    forced = run_cli("corpus", "export", corpus, "-o", out, "--frames", "2", "--overwrite", "-q")
    assert forced.returncode == 0, forced.stderr
    after = _tree(out)
    assert after["notes.txt"] == b"keep me"
    frames = [k for k in after if "/frames/" in k]
    assert len(frames) == 4 * 2  # 4 videos, 2 frames each: the 3-frame export's extra frames are gone
    listed = json.loads(after["dataset_json/Facepipe.json"])["Facepipe"]
    paths = {f[2:] for label in listed.values() for split in label.values() for v in split.values() for f in v["frames"]}
    assert paths == set(frames)


def test_a_second_named_export_shares_the_folder_and_the_label_dict(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "dfb"
    assert run_cli("corpus", "export", corpus, "-o", out, "--frames", "1", "-q").returncode == 0
    second = run_cli("corpus", "export", corpus, "-o", out, "--frames", "1", "--name", "Other", "-q")
    # the same videos: their frame folders are this export's too, so it is refused without --overwrite
    one_line_error(second, "--overwrite")
    labels = (out / "label_dict.yaml").read_text()
    assert "Facepipe_Real: 0" in labels and "Other" not in labels


def test_a_failing_export_leaves_nothing_at_the_output(corpus: Path, tmp_path: Path) -> None:
    (corpus / REAL).write_bytes(b"not a video")  # passes the path checks, fails mid-export
    out = tmp_path / "out"
    one_line_error(run_cli("corpus", "export", corpus, "-o", out, "--frames", "2"), output=out)


# -- identities CSV ---------------------------------------------------------------------------
def test_identities_csv_naming_a_path_outside_is_refused(built: tuple[Path, Path], tmp_path: Path) -> None:
    inputs, _ = built
    csv = tmp_path / "ids.csv"
    csv.write_text(f"video,identity\n../outside.mp4,a\n{PEOPLE[0]},b\n")
    out = tmp_path / "corpus"
    one_line_error(run_cli("corpus", "build", inputs, "-o", out, *BUILD, "--identities", csv), "outside", output=out)


def test_identities_csv_naming_absent_videos_warns_by_name(built: tuple[Path, Path], corpus: Path) -> None:
    inputs, _ = built
    csv = corpus.parent / "ids.csv"
    csv.write_text("video,identity\nghost_one.mp4,x\nghost_two,y\n")
    result = run_cli("corpus", "build", inputs, "-o", corpus, *BUILD, "--identities", csv)
    assert result.returncode == 0, result.stderr
    warnings = [l for l in result.stderr.splitlines() if l.startswith("facepipe: warning:") and "ids.csv" in l]
    assert len(warnings) == 1 and "ghost_one.mp4" in warnings[0] and "ghost_two" in warnings[0], result.stderr
    assert all("ids.csv" in l or "folded" in l for l in result.stderr.splitlines() if l.startswith("facepipe: warning:"))
    assert "Traceback" not in result.stderr


def test_find_videos_warns_only_of_absent_rows(tmp_path: Path, built: tuple[Path, Path]) -> None:
    from pipeline.corpus.identities import find_videos

    inputs, _ = built
    csv = tmp_path / "ids.csv"
    csv.write_text(f"{PEOPLE[0]},a\n{Path(PEOPLE[1]).stem},b\n")
    heard: list[str] = []
    assert len(find_videos(inputs, csv, heard.append)) == 2 and heard == []


# -- 5. a re-run rebuilds what verify flags -------------------------------------------------------
def test_rerun_rerenders_a_truncated_mask(built: tuple[Path, Path], corpus: Path) -> None:
    inputs, _ = built
    mask = corpus / MASK
    data = mask.read_bytes()
    mask.write_bytes(data[: len(data) // 2])
    assert run_cli("corpus", "verify", corpus, "-q").returncode == 1
    untouched = (corpus / REAL).stat().st_mtime_ns
    rerun = run_cli("corpus", "build", inputs, "-o", corpus, *BUILD)
    assert rerun.returncode == 0, rerun.stderr
    assert mask.stat().st_size > len(data) // 2
    assert (corpus / REAL).stat().st_mtime_ns == untouched  # only the broken job was redone
    check = run_cli("corpus", "verify", corpus, "-q")
    assert check.returncode == 0, check.stdout + check.stderr


def test_job_done_rejects_a_truncated_output(built: tuple[Path, Path], tmp_path: Path) -> None:
    from pipeline.corpus.render import job_done

    _, root = built
    record = root / ".facepipe" / "records" / "warp-000_001.json"
    files = [str(root / l["path"]) for l in json.loads(record.read_text())["lines"]] + [str(root / MASK)]
    assert job_done(record, files)
    cut = tmp_path / "cut.mp4"
    data = (root / MASK).read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert not job_done(record, files[:-1] + [str(cut)])


# -- the one check ----------------------------------------------------------------------------
def test_inside_refuses_every_way_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "out").symlink_to(tmp_path)
    assert inside(root, "sub/x.mp4") == (root / "sub" / "x.mp4").resolve()
    assert inside(root, "sub/out/x", follow_links=False) == root / "sub" / "out" / "x"  # names only
    for bad in ["../x", "/etc/passwd", "sub/../../x", "sub/out/x", "", None, 3, "a\x00b", "sub/../x"]:
        with pytest.raises(FacepipeError) as caught:
            inside(root, bad, "m.jsonl:1")
        assert str(caught.value).startswith("m.jsonl:1: ") and "\n" not in str(caught.value)
        if bad != "sub/out/x":
            with pytest.raises(FacepipeError):
                inside(root, bad, follow_links=False)
