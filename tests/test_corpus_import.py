"""`facepipe corpus import`: FaceForensics++ and DeeperForensics-1.0 trees read as facepipe corpora.

The trees are laid out exactly as the two downloads are (FF++: ``original_sequences/youtube/<c>/videos``,
``manipulated_sequences/<Method>/<c>/videos`` and ``masks/videos``, official ``[[t, s], ...]`` split
JSONs; DeeperForensics: ``manipulated_videos/<variant>/NNN_MXXX.mp4``, ``lists/splits/*.txt``, the
distortion meta lists, ``source_videos/``), filled with 1 s cuts of real clips from
``shared/media/people``: a real is the cut, a fake the same cut blurred and washed out (cheap and
separable, enough for the detector's plumbing). Encoded once per module; each tree copies the files in.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import MEDIA, ffmpeg_make, one_line_error, run_cli

PEOPLE = MEDIA / "people"
CLIPS = ["lp_d18_man_grey_hoodie_expressions.mp4", "lp_d19_man_glasses_white_sweater.mp4",
         "lp_d20_young_man_outdoor_talk.mp4", "lp_d0_man_greenscreen_expressions.mp4",
         "megactor_woman_glasses_talk.mp4", "retalking_face5_older_woman_glasses_talk.mp4"]
NUMBERS = [f"{i:03d}" for i in range(len(CLIPS))]  # FF++-style video numbers, one person each
PAIRS = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}  # FF++ split files' shape
ACTORS = {"000": "M004", "001": "M005", "002": "W101", "003": "W102", "004": "M030", "005": "W135"}  # DF sources
DF_SPLIT = {"000": "train", "001": "train", "002": "val", "003": "val", "004": "test", "005": "test"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_bin: str) -> dict[str, tuple[Path, Path]]:
    """number -> (real cut, fake of it), c23-like x264, 1 s, 320 px wide."""
    if not PEOPLE.is_dir():
        pytest.skip(f"real test media not found: {PEOPLE} (clone with shared/ beside the repo)")
    out = tmp_path_factory.mktemp("clips")
    made = {}
    for number, clip in zip(NUMBERS, CLIPS):
        real, fake = out / f"{number}.mp4", out / f"{number}_fake.mp4"
        for path, extra in ((real, ""), (fake, ",gblur=sigma=2.2,eq=saturation=0.4")):
            ffmpeg_make(ffmpeg_bin, "-ss", "0.5", "-t", "1", "-i", PEOPLE / clip, "-an", "-vf", f"scale=320:-2{extra}",
                        "-c:v", "libx264", "-crf", "23", "-preset", "veryfast", "-pix_fmt", "yuv420p", path)
        made[number] = (real, fake)
    return made


def _put(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def ffpp_tree(root: Path, clips: dict[str, tuple[Path, Path]], folders: tuple[str, ...] = ("c23",),
              methods: tuple[str, ...] = ("Deepfakes", "FaceSwap"), masks: tuple[str, ...] = ("Deepfakes",),
              pairs: dict[str, list[list[str]]] | None = PAIRS, originals: bool = True,
              extra_fakes: tuple[str, ...] = ()) -> Path:
    """An FF++ download: originals, each split pair's two fakes per method (``TTT_SSS`` = TTT's frames),
    mask videos for ``masks``, split JSONs in ``ROOT/splits`` (FF++ keeps them in its repository)."""
    for folder in folders:
        if originals:
            for number in NUMBERS:
                _put(clips[number][0], root / f"original_sequences/youtube/{folder}/videos/{number}.mp4")
        names = [f"{t}_{s}" for split in (pairs or PAIRS).values() for a, b in split for t, s in ((a, b), (b, a))]
        for method in methods:
            for name in dict.fromkeys(names + list(extra_fakes)):
                _put(clips[name[:3]][1], root / f"manipulated_sequences/{method}/{folder}/videos/{name}.mp4")
                if method in masks:  # FF++ masks are one video per fake, beside the compressions
                    _put(clips[name[:3]][1], root / f"manipulated_sequences/{method}/masks/videos/{name}.mp4")
    if pairs is not None:
        (root / "splits").mkdir(parents=True, exist_ok=True)
        for split, listed in pairs.items():
            (root / "splits" / f"{split}.json").write_text(json.dumps(listed))
    return root


def df_tree(root: Path, clips: dict[str, tuple[Path, Path]], originals: bool = True) -> Path:
    """A DeeperForensics-1.0 download with FF++'s c23 targets beside it (DeepfakeBench's arrangement)."""
    names = [f"{n}_{ACTORS[n]}" for n in NUMBERS]
    for variant in ("end_to_end", "end_to_end_level_2", "end_to_end_random_level", "reenact_postprocess"):
        for name in names:
            _put(clips[name[:3]][1], root / f"manipulated_videos/{variant}/{name}.mp4")
    _put(clips["000"][1], root / "manipulated_videos/some_new_variant/000_M004.mp4")  # not a documented variant
    _put(clips["000"][0], root / "source_videos/M004/light_uniform/neutral/camera_front/"
                                 "M004_light_uniform_neutral_camera_front.mp4")  # an actor: not a real of the corpus
    if originals:
        for number in NUMBERS:
            _put(clips[number][0], root / f"original_sequences/youtube/c23/videos/{number}.mp4")
            _put(clips[number][0], root / f"original_sequences/youtube/c40/videos/{number}.mp4")
    splits = root / "lists" / "splits"
    splits.mkdir(parents=True)
    for split in ("train", "val", "test"):
        (splits / f"{split}.txt").write_text("".join(f"{n}.mp4\n" for n in names if DF_SPLIT[n[:3]] == split))
    meta = root / "lists" / "manipulated_videos_distortions_meta"
    meta.mkdir(parents=True)
    (meta / "manipulated_videos_end_to_end_level_2_meta.txt").write_text(
        "".join(f"manipulated_videos/end_to_end_level_2/{n}.mp4 {'CS' if i % 2 else 'GB'}:2\n" for i, n in enumerate(names)))
    return root


def manifest(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line.strip()]


def warnings(result) -> list[str]:  # noqa: ANN001
    return [line for line in result.stderr.splitlines() if line.startswith("facepipe: warning:")]


def splits_of_people(lines: list[dict]) -> dict[str, set[str]]:
    people: dict[str, set[str]] = {}
    for line in lines:
        if line["status"] == "ok":
            for person in (line["target_identity"], line["source_identity"]):
                if person is not None:
                    people.setdefault(person, set()).add(line["split"])
    return people


# -- FaceForensics++ -------------------------------------------------------------------------------


@pytest.mark.slow  # a detector trained and evaluated end to end (test_detector covers both on a built corpus), 21 s
def test_ffpp_import_then_detector_train_and_eval(clips: dict, tmp_path: Path) -> None:
    root = ffpp_tree(tmp_path / "FaceForensics++", clips, methods=("Deepfakes",))
    result = run_cli("corpus", "import", root)
    assert result.returncode == 0, result.stderr
    assert "6 real and 6 fake videos" in result.stdout, result.stdout
    lines = manifest(root)
    assert {(l["label"], l["split"]) for l in lines} == {(label, split) for label in ("real", "fake")
                                                         for split in ("train", "val", "test")}
    fake = next(l for l in lines if l["path"] == "manipulated_sequences/Deepfakes/c23/videos/001_000.mp4")
    assert (fake["target"], fake["source"], fake["method"], fake["split"]) == ("001", "000", "Deepfakes", "train")
    assert fake["mask"] == "manipulated_sequences/Deepfakes/masks/videos/001_000.mp4" and fake["frames"] > 0
    assert (root / "manifest.csv").read_text().count("\n") == len(lines) + 1

    fast = ["-a", "meso4", "-q", "--set", "detector.epochs=1", "--set", "detector.frames_per_video=2",
            "--set", "detector.eval_frames=2", "--set", "detector.batch_size=8"]
    trained = run_cli("detector", "train", root, "-o", tmp_path / "det", *fast, timeout=600)
    assert trained.returncode == 0, trained.stderr
    card = json.loads((tmp_path / "det" / "detector.json").read_text())
    assert card["data"]["train_real"] > 0 and card["data"]["train_fake"] > 0
    evaluated = run_cli("detector", "eval", tmp_path / "det", root, "-o", tmp_path / "eval", "-q",
                        "--set", "detector.eval_frames=2", timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr
    overall = json.loads((tmp_path / "eval" / "eval.json").read_text())["slices"]["overall"]["all"]
    assert overall["video"]["real"] == 2 and overall["video"]["fake"] == 2  # the test pair 004/005


def test_ffpp_raw_is_c0_masks_follow_every_compression_and_verify_passes(clips: dict, tmp_path: Path) -> None:
    root = ffpp_tree(tmp_path / "ffpp", clips, folders=("raw", "c23", "c40"), methods=("Deepfakes",))
    result = run_cli("corpus", "import", root)
    assert result.returncode == 0 and not warnings(result), result.stderr
    lines = manifest(root)
    raw = [l for l in lines if "/raw/" in l["path"]]
    assert raw and {l["compression"] for l in raw} == {"c0"}  # FF++'s raw folder is c0, its path unchanged
    assert {l["compression"] for l in lines} == {"c0", "c23", "c40"}
    fakes = [l for l in lines if l["label"] == "fake"]
    assert len(fakes) == 3 * 6 and all(l["mask"].endswith(Path(l["path"]).name) for l in fakes)

    checked = run_cli("corpus", "verify", root)
    assert checked.returncode == 0 and "no problems" in checked.stdout, checked.stdout + checked.stderr
    (root / fakes[0]["path"]).unlink()  # verify still checks an imported tree: a listed file gone is a problem
    broken = run_cli("corpus", "verify", root, "-q")
    assert broken.returncode == 1 and f"{fakes[0]['path']}: in the manifest but missing" in broken.stdout


def test_missing_masks_c40_splits_and_originals_are_one_line_each(clips: dict, tmp_path: Path) -> None:
    root = ffpp_tree(tmp_path / "ffpp", clips, masks=(), pairs=None, originals=False)
    result = run_cli("corpus", "import", root)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = warnings(result)
    for word in ("no masks", "c40 videos", "no split files", "no original videos"):
        assert sum(word in line for line in said) == 1, (word, said)
    assert len(said) == 4, said
    assert {l["split"] for l in manifest(root)} == {""} and {l["label"] for l in manifest(root)} == {"fake"}


def test_dfd_and_unreadable_videos_are_one_line_each(clips: dict, tmp_path: Path) -> None:
    root = ffpp_tree(tmp_path / "ffpp", clips, methods=("Deepfakes",))
    _put(clips["000"][0], root / "original_sequences/actors/c23/videos/01__walking_outside.mp4")
    _put(clips["000"][1], root / "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walking_outside__YVGY8LOK.mp4")
    broken = root / "original_sequences/youtube/c23/videos/003.mp4"
    broken.write_bytes(broken.read_bytes()[:3000])  # a cut-off download
    result = run_cli("corpus", "import", root)
    assert result.returncode == 0, result.stderr
    said = warnings(result)
    assert sum("DeepFakeDetection" in line and "skipped 2 video" in line for line in said) == 1, said
    assert sum("do not read" in line for line in said) == 1, said
    lines = manifest(root)
    assert not any("actors" in l["path"] or "DeepFakeDetection" in l["path"] for l in lines)
    assert [l["status"] for l in lines if l["path"].endswith("/003.mp4")] == ["failed"]
    from pipeline.detection.corpus import read_corpus

    assert not any(v.key.endswith("/003.mp4") for v in read_corpus(root))  # readers skip it
    checked = run_cli("corpus", "verify", root, "-q")
    assert checked.returncode == 1 and "003.mp4" in checked.stdout  # and verify reports it


def test_no_person_in_two_splits(clips: dict, tmp_path: Path) -> None:
    """001 is listed in train and in test (a custom split gone wrong): its videos are left out; a fake
    whose pair no split lists is left out; everyone else keeps one split."""
    pairs = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"], ["005", "001"]]}
    root = ffpp_tree(tmp_path / "ffpp", clips, methods=("Deepfakes",), pairs=pairs, extra_fakes=("000_004",))
    result = run_cli("corpus", "import", root)
    assert result.returncode == 0, result.stderr
    dropped = [line for line in warnings(result) if "left out" in line]
    # real 001; fakes 000_001, 001_000, 005_001, 001_005 (001 leaks); 000_004 (its pair is in no split)
    assert len(dropped) == 1 and "left out 6 video(s)" in dropped[0], warnings(result)
    lines = manifest(root)
    assert not [l["path"] for l in lines if "001" in (l["target"], l["source"]) or l["path"].endswith("000_004.mp4")]
    people = splits_of_people(lines)
    assert {p for p, s in people.items() if len(s) > 1} == set() and set(people) == {"000", "002", "003", "004", "005"}
    checked = run_cli("corpus", "verify", root, "-q")
    assert checked.returncode == 0, checked.stdout


def test_splits_from_another_folder(clips: dict, tmp_path: Path) -> None:
    root = ffpp_tree(tmp_path / "ffpp", clips, methods=("Deepfakes",))
    (root / "splits").rename(tmp_path / "ff_repo_splits")
    assert run_cli("corpus", "import", root, "--splits", tmp_path / "ff_repo_splits").returncode == 0
    assert {l["split"] for l in manifest(root)} == {"train", "val", "test"}
    one_line_error(run_cli("corpus", "import", root, "--splits", tmp_path), "holds none of train.json")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.json").write_text('{"000": "001"}')
    one_line_error(run_cli("corpus", "import", root, "--splits", tmp_path / "bad"), "not an FF++ split file")


# -- refusals --------------------------------------------------------------------------------------


def test_a_folder_of_neither_format_is_refused(clips: dict, tmp_path: Path) -> None:
    folder = tmp_path / "my_videos"
    _put(clips["000"][0], folder / "videos" / "000.mp4")
    result = run_cli("corpus", "import", folder)
    assert result.returncode == 2
    one_line_error(result, "neither a FaceForensics++ tree")
    assert not (folder / "manifest.jsonl").exists()
    ffpp = ffpp_tree(tmp_path / "ffpp", clips, methods=("Deepfakes",))
    one_line_error(run_cli("corpus", "import", ffpp, "--format", "deeperforensics"), "not a DeeperForensics-1.0 tree")
    one_line_error(run_cli("corpus", "import", tmp_path / "nowhere"), "corpus not found")


def test_a_symlink_out_of_the_root_is_refused(clips: dict, tmp_path: Path) -> None:
    root = ffpp_tree(tmp_path / "ffpp", clips, methods=("Deepfakes",))
    outside = tmp_path / "elsewhere.mp4"
    _put(clips["000"][0], outside)
    os.symlink(outside, root / "original_sequences/youtube/c23/videos/006.mp4")
    result = run_cli("corpus", "import", root)
    assert result.returncode == 2
    one_line_error(result, "original_sequences/youtube/c23/videos/006.mp4: leads outside")
    assert not (root / "manifest.jsonl").exists()
    (root / "original_sequences/youtube/c23/videos/006.mp4").unlink()  # a link inside the root is fine
    os.symlink(root / "original_sequences/youtube/c23/videos/000.mp4", root / "original_sequences/youtube/c23/videos/006.mp4")
    assert run_cli("corpus", "import", root).returncode == 0


def test_a_manifest_not_written_by_the_importer_is_kept(clips: dict, tmp_path: Path) -> None:
    root = ffpp_tree(tmp_path / "ffpp", clips, methods=("Deepfakes",))
    mine = '{"path": "original_sequences/youtube/c23/videos/000.mp4", "label": "real", "split": "train"}\n'
    (root / "manifest.jsonl").write_text(mine)
    one_line_error(run_cli("corpus", "import", root), "--overwrite")
    assert (root / "manifest.jsonl").read_text() == mine
    assert run_cli("corpus", "import", root, "--overwrite").returncode == 0
    assert run_cli("corpus", "import", root).returncode == 0  # its own manifest is replaced without asking
    assert all(l["importer"] == "ffpp" for l in manifest(root))


# -- DeeperForensics-1.0 ---------------------------------------------------------------------------


def test_deeperforensics_tree_labels_splits_and_variants(clips: dict, tmp_path: Path) -> None:
    root = df_tree(tmp_path / "DeeperForensics-1.0", clips)
    result = run_cli("corpus", "import", root)
    assert result.returncode == 0, result.stderr
    said = warnings(result)
    assert len(said) == 2 and any("some_new_variant" in l for l in said) and any("c40" in l for l in said), said
    lines = manifest(root)
    reals = [l for l in lines if l["label"] == "real"]
    assert sorted(l["path"] for l in reals) == [f"original_sequences/youtube/c23/videos/{n}.mp4" for n in NUMBERS]
    assert all(l["split"] == DF_SPLIT[l["target"]] for l in lines)  # a real takes the split of its fakes
    assert not any("source_videos" in l["path"] or "some_new_variant" in l["path"] for l in lines)
    fake = {(l["variant"] or "clean", l["method"]): l for l in lines if l["label"] == "fake" and l["target"] == "003"}
    assert set(fake) == {("clean", "DF-VAE"), ("clean", "DF-VAE-reenact"), ("end_to_end_level_2", "DF-VAE"),
                         ("end_to_end_random_level", "DF-VAE")}
    assert fake[("clean", "DF-VAE")]["perturbation"] == [] and fake[("clean", "DF-VAE")]["source"] == "W102"
    assert fake[("end_to_end_level_2", "DF-VAE")]["perturbation"] == ["end_to_end_level_2"]
    assert fake[("end_to_end_level_2", "DF-VAE")]["distortions"] == ["CS:2"]  # from the meta list
    assert splits_of_people(lines)["W102"] == {"val"}

    from pipeline.detection.corpus import CLEAN, read_corpus
    from pipeline.detection.evaluate import slices
    from pipeline.detection.train import training_videos

    videos = read_corpus(root)
    assert {v.perturbation for v in videos} == {CLEAN, "end_to_end_level_2", "end_to_end_random_level"}
    train, val, test = training_videos(root)
    assert train and all(v.perturbation == CLEAN for v in train + val)  # the detector trains on clean only
    test_videos = [v for v in videos if v.split == "test"]
    rows = slices(test_videos)["perturbation"]
    # eval's robustness rows: DeeperForensics perturbs fakes only, so each is scored against the clean reals
    assert {"end_to_end_level_2 vs clean reals", "end_to_end_random_level vs clean reals"} <= set(rows), rows
    for name in ("end_to_end_level_2 vs clean reals", "end_to_end_random_level vs clean reals"):
        labels = {test_videos[i].label for i in rows[name]}
        reals = [test_videos[i] for i in rows[name] if test_videos[i].label == 0]
        assert labels == {0, 1} and all(v.perturbation == CLEAN for v in reals)

    checked = run_cli("corpus", "verify", root)
    assert checked.returncode == 0 and "no problems" in checked.stdout, checked.stdout + checked.stderr


def test_deeperforensics_alone_gives_fakes_only(clips: dict, tmp_path: Path) -> None:
    root = df_tree(tmp_path / "df", clips, originals=False)
    result = run_cli("corpus", "import", root, "--format", "deeperforensics")
    assert result.returncode == 0, result.stderr
    assert sum("no FF++ target videos" in line for line in warnings(result)) == 1, result.stderr
    assert {l["label"] for l in manifest(root)} == {"fake"}
    one_line_error(run_cli("detector", "train", root, "-o", tmp_path / "det", "-q"), "only fake videos")


# -- export ----------------------------------------------------------------------------------------


def test_faces_make_an_imported_tree_exportable(clips: dict, tmp_path: Path) -> None:
    pairs = {"train": [["000", "001"]]}
    root = ffpp_tree(tmp_path / "ffpp", clips, methods=("Deepfakes",), pairs=pairs)
    for number in NUMBERS[2:]:
        (root / f"original_sequences/youtube/c23/videos/{number}.mp4").unlink()
    result = run_cli("corpus", "import", root, "--faces", "--set", "decode.max_frames=3", timeout=600)
    assert result.returncode == 0, result.stderr
    assert "2 face cache(s) written" in result.stdout, result.stdout
    exported = run_cli("corpus", "export", root, "-o", tmp_path / "dfb", "--frames", "2", "-q", timeout=600)
    assert exported.returncode == 0, exported.stderr
    table = json.loads((tmp_path / "dfb" / "dataset_json" / "Facepipe.json").read_text())["Facepipe"]
    assert set(table["Facepipe_Real"]["train"]) == {"000", "001"}
    assert set(table["Facepipe_Fake"]["train"]) == {"Deepfakes_000_001", "Deepfakes_001_000"}
    frames = table["Facepipe_Fake"]["train"]["Deepfakes_000_001"]
    assert frames["frames"] and frames["masks"] and (tmp_path / "dfb" / frames["frames"][0]).is_file()
