"""`facepipe corpus`: a small real corpus (3 people, warp + gan, c23 + c40, 2 perturbations, 1 occlusion)
built on a 2-worker Dask LocalCluster, verified, re-run, exported; a kill -9 mid-build and a resume;
perturbations, occlusions and the target videos' audio."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, media, read_frames, run_cli

PEOPLE = ["megactor_woman_glasses_talk.mp4", "retalking_face1_man_suit_talk.mp4", "lp_d18_man_grey_hoodie_expressions.mp4"]
FRAMES = 6


def _inputs(folder: Path, extra: dict[str, Path] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in PEOPLE:
        (folder / name).symlink_to(media(f"people/{name}"))
    for name, path in (extra or {}).items():
        (folder / name).symlink_to(path)
    return folder


BUILD = ["--fold-splits",  # 3 people: too few for 2 per split (docs/corpora.md)
         "--methods", "warp,gan", "--compressions", "c23,c40", "--perturb", "CS:3,BW:2", "--occlude", "block:3",
         "--max-frames", str(FRAMES), "--train-minutes", "0.05", "-q"]
OCCLUDED = "occluded/block_3"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("corpus")
    inputs = _inputs(base / "real", {"zz_cartoon.mp4": media("no_face.mp4")})
    out = base / "corpus"
    done = run_cli("corpus", "build", inputs, "-o", out, *BUILD, "--workers", "2", timeout=900)
    return inputs, out, done


def _manifest(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]


def test_build_makes_the_ffpp_layout_and_a_full_manifest(corpus) -> None:
    inputs, root, done = corpus
    assert done.returncode == 0, done.stderr
    assert "zz_cartoon.mp4: no face found; skipped" in done.stderr  # warned, and the run went on
    lines = _manifest(root)
    ok = [l for l in lines if l["status"] == "ok"]
    skipped = [l for l in lines if l["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["video"].endswith("zz_cartoon.mp4")
    # (3 originals + 3 warp + 3 gan fakes) x 2 compressions x (unperturbed + 2 perturbations + 1 occlusion)
    assert len(ok) == 9 * 2 * 4 and len({l["path"] for l in ok}) == len(ok)
    for line in ok:
        assert (root / line["path"]).is_file()
        assert line["frames"] == FRAMES and line["compression"] in ("c23", "c40")
        assert line["facepipe_version"] and line["seed"] == 0 and line["size"][0] > 0
    assert (root / "original_sequences/youtube/c23/videos/000.mp4").is_file()
    fakes = [l for l in ok if l["label"] == "fake"]
    assert {l["method"] for l in fakes} == {"Warp", "GAN"}
    for line in fakes:
        assert line["source_identity"] != line["target_identity"]
        assert line["path"] == f"{line['variant'] + '/' if line['variant'] else ''}manipulated_sequences/{line['method']}/" \
                               f"{line['compression']}/videos/{line['target']}_{line['source']}.mp4"
        assert (root / line["mask"]).is_file() and "/masks/videos/" in line["mask"]
    gan = [l for l in fakes if l["method"] == "GAN"][0]
    from models.family import sha256

    assert gan["model_sha256"] == sha256(Path(gan["model"]) / "model.safetensors")
    # identity-disjoint splits, FF++-style [target, source] lists
    split_of = {}
    for name in ("train", "val", "test"):
        for target, source in json.loads((root / "splits" / f"{name}.json").read_text()):
            split_of[target] = name
    assert sorted(split_of) == ["000", "001", "002"]
    # 3 people are too few for 2 per split: val and test were folded into train, warned and recorded
    assert {l["split"] for l in ok} == {"train"}
    assert all(split_of[l["target"]] == l["split"] for l in ok)
    assert "folded val into train, test into train" in done.stderr
    plan = json.loads((root / ".facepipe" / "plan.json").read_text())
    assert plan["splits"]["folded"] == {"val": "train", "test": "train"} and plan["splits"]["identities"]["train"] == 3
    # DeeperForensics-style meta lines, one per perturbed video
    meta = (root / "perturbations.txt").read_text().splitlines()
    assert len(meta) == 9 * 2 * 2 and all(m.split(" ")[1] in ("CS:3", "BW:2") for m in meta)  # occlusions are not DF lines
    sizes = {l["compression"]: (root / l["path"]).stat().st_size for l in ok if l["target"] == "000" and l["label"] == "real" and not l["variant"]}
    assert sizes["c40"] < sizes["c23"]
    csv_rows = (root / "manifest.csv").read_text().splitlines()
    assert len(csv_rows) == len(lines) + 1 and csv_rows[0].startswith("status,path,label")


def test_masks_are_where_the_fake_differs_from_its_original(corpus) -> None:
    _, root, done = corpus
    assert done.returncode == 0, done.stderr
    for method in ("Warp", "GAN"):
        line = next(l for l in _manifest(root) if l.get("method") == method and l["compression"] == "c23" and not l["variant"])
        fake = read_frames(root / line["path"])
        mask = read_frames(root / line["mask"])
        real = read_frames(root / f"original_sequences/youtube/c23/videos/{line['target']}.mp4")
        assert len(fake) == len(mask) == len(real) == FRAMES
        for f, m, r in zip(fake, mask, real):
            alpha = m[..., 1]
            assert alpha.max() > 100  # (a briefly trained GAN's own mask is ~0.5, so its blend mask peaks ~128)
            inside = alpha > 0.8 * alpha.max()
            outside = cv2.dilate((alpha > 2).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
            diff = np.abs(f.astype(np.int16) - r.astype(np.int16)).mean(axis=2)
            assert inside.sum() > 500  # a face-sized mask
            assert diff[outside].mean() < 2.0  # untouched outside the mask (only x264 noise)
            if method == "Warp":
                assert diff[inside].mean() > 6.0  # a different face inside it
            else:  # a GAN trained for seconds paints a faint, colour-matched blur: weaker, but only inside
                assert diff[inside].mean() > 3 * max(diff[outside].mean(), 0.2)


def test_perturbed_tree_carries_the_perturbation(corpus) -> None:
    _, root, done = corpus
    assert done.returncode == 0, done.stderr
    plain = read_frames(root / "original_sequences/youtube/c23/videos/001.mp4")[2]
    washed = read_frames(root / "perturbed/CS_3/original_sequences/youtube/c23/videos/001.mp4")[2]

    def chroma(image: np.ndarray) -> float:
        return float(np.abs(cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(np.float32) - 128).mean())

    assert chroma(washed) < 0.4 * chroma(plain)  # CS level 3 scales chroma by 0.2


def _audio_seconds(path: Path) -> float | None:
    """Length of the first audio stream from its packets (None: no audio stream)."""
    from pipeline.media.ffmpeg import ffmpeg_exe

    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0?", "-c", "copy", "-f", "framecrc", "-"],
                          capture_output=True, text=True)
    if "#media_type 0: audio" not in done.stdout:
        return None
    num, den = next(l for l in done.stdout.splitlines() if l.startswith("#tb 0:")).split(":", 1)[1].strip().split("/")
    packets = [[int(f) for f in l.split(",")[1:4]] for l in done.stdout.splitlines() if l and not l.startswith("#")]
    return (max(p[1] + p[2] for p in packets) - min(p[1] for p in packets)) * int(num) / int(den)


def test_every_video_keeps_the_target_audio(corpus) -> None:
    """Real and fake, each compression, perturbed and occluded: the target's audio, cut to the frames used."""
    _, root, done = corpus
    assert done.returncode == 0, done.stderr
    ok = [l for l in _manifest(root) if l["status"] == "ok"]
    picks = [("real", "", "c23"), ("real", "perturbed/BW_2", "c40"), ("Warp", OCCLUDED, "c40"), ("GAN", "perturbed/CS_3", "c23"),
             ("Warp", "", "c40")]
    for who, variant, compression in picks:
        line = next(l for l in ok if (l["method"] or "real") == who and l["variant"] == variant and l["compression"] == compression)
        assert line["source_audio"] is True  # all three people clips have audio
        seconds = _audio_seconds(root / line["path"])
        assert seconds is not None, f"{line['path']} has no audio"
        assert abs(seconds - FRAMES / line["fps"]) < 0.1, (line["path"], seconds)
    mask = next(l["mask"] for l in ok if l["label"] == "fake")
    assert _audio_seconds(root / mask) is None  # a mask is not a video to listen to


def _face_box(root: Path, target: str, frame: int, shape: tuple[int, ...], margin: int = 0) -> np.ndarray:
    from pipeline.corpus.faces import face_records

    x0, y0, x1, y1 = (int(round(v)) for v in face_records(root / ".facepipe" / "faces" / target)[frame]["box"])
    inside = np.zeros(shape[:2], bool)
    inside[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = True
    return inside


def test_occluded_tree_covers_the_face_alike_in_real_and_fake(corpus) -> None:
    _, root, done = corpus
    assert done.returncode == 0, done.stderr
    ok = [l for l in _manifest(root) if l["status"] == "ok"]
    occluded = [l for l in ok if l["variant"] == OCCLUDED]
    assert len(occluded) == 9 * 2 and all(l["path"].startswith(OCCLUDED + "/") and not l["perturbation"] for l in occluded)
    for line in occluded:
        assert {k: line["occlusion"][k] for k in ("kind", "level", "anchor", "frames")} == \
               {"kind": "block", "level": 3, "anchor": "face", "frames": FRAMES}
    assert all(l["occlusion"] is None for l in ok if l["variant"] != OCCLUDED)
    fake = next(l for l in occluded if l["method"] == "Warp" and l["compression"] == "c23")
    real = next(l for l in occluded if l["label"] == "real" and l["target"] == fake["target"] and l["compression"] == "c23")
    other = next(l for l in occluded if l["label"] == "real" and l["target"] != fake["target"] and l["compression"] == "c23")
    assert real["occlusion"]["seed"] == fake["occlusion"]["seed"] != other["occlusion"]["seed"]
    clean_real = read_frames(root / real["path"].removeprefix(OCCLUDED + "/"))
    clean_fake = read_frames(root / fake["path"].removeprefix(OCCLUDED + "/"))
    occ_real, occ_fake = read_frames(root / real["path"]), read_frames(root / fake["path"])
    assert len(occ_real) == len(occ_fake) == FRAMES
    for number, (cr, orl, cf, of) in enumerate(zip(clean_real, occ_real, clean_fake, occ_fake)):
        inside = _face_box(root, real["target"], number, cr.shape)
        outside = ~_face_box(root, real["target"], number, cr.shape, margin=16)
        changed = np.abs(orl.astype(np.int16) - cr.astype(np.int16)).max(axis=2) > 40
        assert changed[inside].sum() > 500  # 48 grey 8x8 blocks in the face box (measured 975-2093 px changed)
        assert changed[outside].sum() == 0  # nothing outside it (the margin holds x264's ringing)
        assert np.abs(orl.astype(np.int16) - cr.astype(np.int16))[outside].mean() < 1.0
        # the fake got the very same blocks: at the real's block pixels both are the blocks' grey
        blocks = changed & inside & (np.abs(orl.astype(np.int16) - 128).max(axis=2) < 20)
        assert blocks.sum() > 500
        assert np.abs(of[blocks].astype(np.int16) - 128).mean() < 8  # (measured 3.5-5.2)
        assert np.abs(cf[blocks].astype(np.int16) - 128).mean() > 20  # the clean fake is a face there (38-65)
    from pipeline.detection.corpus import read_corpus

    seen = {v.key: v.perturbation for v in read_corpus(root)}
    assert {seen[l["path"]] for l in occluded} == {"occluded_block_3"}  # a detector never trains on them as clean


def test_occlusion_and_export_refusals_are_one_line() -> None:
    from pipeline.corpus.export import choose
    from pipeline.corpus.occlude import check_material, parse_occlusion
    from pipeline.errors import FacepipeError
    from stages.occlude import OccludeConfig

    assert parse_occlusion(" Object:5:lower ").folder() == "occluded/object_5_lower"
    for bad in ("hand:3", "block:9", "block:3:elbow", "block"):
        with pytest.raises(FacepipeError, match=f"--occlude '{bad}': use KIND:LEVEL"):
            parse_occlusion(bad)
    with pytest.raises(FacepipeError, match="needs occlude.image"):
        check_material([parse_occlusion("patch:2")], OccludeConfig())
    lines = [{"status": "ok", "compression": c, "variant": v, "label": "real", "split": "train", "target": "000",
              "frames": 8, "path": f"original_sequences/youtube/{c}/videos/000.mp4"}
             for c in ("c23", "c40") for v in ("", "perturbed/GB_3")]
    with pytest.raises(FacepipeError, match="^--compression c0: corpus has only c23, c40$"):
        choose(lines, Path("corpus"), "c0", "")
    with pytest.raises(FacepipeError, match="^--variant occluded/block_3: corpus has perturbed/GB_3$"):
        choose(lines, Path("corpus"), "c23", "occluded/block_3")
    assert len(choose(lines, Path("corpus"), "c40", "perturbed/GB_3/")) == 1
    with pytest.raises(FacepipeError, match="lacks a valid label"):
        choose([dict(lines[0], label="maybe")], Path("corpus"), "c23", "")


def test_verify_passes_and_a_rerun_does_nothing(corpus) -> None:
    inputs, root, done = corpus
    assert done.returncode == 0, done.stderr
    checked = run_cli("corpus", "verify", root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no problems" in checked.stdout
    records = {p: p.stat().st_mtime_ns for p in (root / ".facepipe" / "records").glob("*.json")}
    videos = {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")}
    again = run_cli("corpus", "build", inputs, "-o", root, *BUILD, "--engine", "serial", timeout=600)
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in records} == records  # every job skipped
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")} == videos
    other = run_cli("corpus", "build", inputs, "-o", root, *BUILD[:-3], "--max-frames", "7", "-q")
    assert other.returncode != 0 and "built from other inputs or settings" in other.stderr


def test_verify_reports_damage_one_line_each(corpus, tmp_path: Path) -> None:
    _, root, done = corpus
    assert done.returncode == 0, done.stderr
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns("faces", "models"))
    fake = copy / "manipulated_sequences/Warp/c23/videos"
    victim = sorted(fake.glob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])  # truncated
    (copy / "original_sequences/youtube/c40/videos/002.mp4").unlink()
    shutil.copy(victim, fake / "999_998.mp4")  # a stray file
    silent = copy / "original_sequences/youtube/c23/videos/001.mp4"
    from pipeline.media.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent), "-an", "-c", "copy", str(tmp_path / "silent.mp4")],
                   check=True)
    shutil.copy(tmp_path / "silent.mp4", silent)  # audio lost
    lines = (copy / "manifest.jsonl").read_text().splitlines()
    tampered = next(i for i, l in enumerate(lines) if json.loads(l).get("variant") == OCCLUDED and '"label": "fake"' in l)
    row = json.loads(lines[tampered])
    row["occlusion"]["seed"] += 1  # its real video was occluded with another seed
    lines[tampered] = json.dumps(row)
    (copy / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    checked = run_cli("corpus", "verify", copy)
    assert checked.returncode == 1
    problems = checked.stdout.splitlines()
    assert any(victim.name in p and ("does not decode" in p or "frames" in p) for p in problems)
    assert any("c40/videos/002.mp4: in the manifest but missing" in p for p in problems)
    assert any("999_998.mp4: in the tree but not in the manifest" in p for p in problems)
    assert "original_sequences/youtube/c23/videos/001.mp4: no audio, but its input video has audio" in problems
    assert f"{OCCLUDED}: the videos of target {row['target']} have different occluder seeds" in "\n".join(problems)
    assert "Traceback" not in checked.stderr


def test_export_follows_the_deepfakebench_loader_rules(corpus, tmp_path: Path) -> None:
    _, root, done = corpus
    assert done.returncode == 0, done.stderr
    out = tmp_path / "dfb"
    exported = run_cli("corpus", "export", root, "--format", "deepfakebench", "-o", out, "--frames", "3", "--name", "Ours")
    assert exported.returncode == 0, exported.stderr
    data = json.loads((out / "dataset_json" / "Ours.json").read_text())
    assert list(data) == ["Ours"] and set(data["Ours"]) == {"Ours_Real", "Ours_Fake"}
    labels = {"Ours_Real": 0, "Ours_Fake": 1}
    assert "Ours_Real: 0" in (out / "label_dict.yaml").read_text()
    videos = 0
    for label, splits in data["Ours"].items():
        assert set(splits) == {"train", "val", "test"}
        for split, entries in splits.items():
            for video, info in entries.items():
                videos += 1
                assert info["label"] == label and label in labels
                frames = info["frames"]
                assert frames and all(f.startswith("./") and "/frames/" in f for f in frames)
                # the loader sorts by the integer file name and derives landmarks and masks from the frame path
                assert frames == sorted(frames, key=lambda f: int(Path(f).stem))
                for frame in frames:
                    image = cv2.imread(str(out / frame))
                    assert image is not None and image.shape[0] == image.shape[1]
                    landmarks = np.load(out / frame.replace("frames", "landmarks").replace(".png", ".npy"))
                    assert landmarks.shape == (68, 2) and 0 <= landmarks.min() and landmarks.max() < image.shape[0]
                if label == "Ours_Fake":
                    assert info["masks"] == [f.replace("frames", "masks") for f in frames]
                    mask = cv2.imread(str(out / info["masks"][0]), cv2.IMREAD_GRAYSCALE)
                    assert mask.max() > 100 and mask.min() < 10  # a face-shaped mask, not a blank (a seconds-trained GAN's peaks ~128)
    assert videos == 9  # 3 real + 6 fake (c23, unperturbed)
    # a robustness set: the occluded tree at c40, named after it, its frames cut from the occluded videos
    occluded = run_cli("corpus", "export", root, "-o", out, "--frames", "1", "--compression", "c40", "--variant", OCCLUDED)
    assert occluded.returncode == 0, occluded.stderr
    data = json.loads((out / "dataset_json" / "Facepipe_occluded_block_3.json").read_text())["Facepipe_occluded_block_3"]
    entries = [info for splits in data.values() for entries in splits.values() for info in entries.values()]
    assert len(entries) == 9 and all(f.startswith(f"./{OCCLUDED}/") and "/c40/frames/" in f for e in entries for f in e["frames"])
    assert (out / "dataset_json" / "Ours.json").is_file()  # the clean export beside it is untouched


def test_kill_9_then_rerun_finishes_everything_once(tmp_path: Path) -> None:
    """A real build killed mid-way (whole process group, SIGKILL), then resumed; one input is corrupt."""
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    inputs = _inputs(tmp_path / "real", {"broken.mp4": garbage})
    out = tmp_path / "corpus"
    args = [sys.executable, "-m", "pipeline.cli.main", "corpus", "build", str(inputs), "-o", str(out), "--methods", "warp",
            "--compressions", "c23,c40", "--perturb", "GB:2", "--max-frames", "8", "--fold-splits", "-q"]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    records = out / ".facepipe" / "records"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if len([p for p in records.glob("*.json") if not p.name.startswith("faces-")]) >= 1:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the build finished before it could be killed; make it longer"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len([p for p in records.glob("*.json") if not p.name.startswith("faces-")])
    assert 1 <= finished_before < 6
    resumed = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 1  # the corrupt input failed its job; everything else was made
    assert "job(s) failed" in resumed.stderr and "broken.mp4" not in resumed.stderr.split("failed:")[0]
    lines = _manifest(out)
    failed = [l for l in lines if l["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["key"] == "faces-000" and failed[0]["error"]
    ok = [l for l in lines if l["status"] == "ok"]
    assert len(ok) == 6 * 2 * 2 and len({l["path"] for l in ok}) == len(ok)  # none missing, none twice
    assert not list(out.rglob("*facepipe-partial*"))
    checked = run_cli("corpus", "verify", out)
    assert checked.stdout.splitlines() == [f"job faces-000 failed: {failed[0]['error']}"]  # and nothing corrupt


def test_refuses_a_single_identity(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "a.mp4").symlink_to(media("single_face.mp4"))
    done = run_cli("corpus", "build", folder, "-o", tmp_path / "c")
    assert done.returncode != 0 and "at least 2 identities" in done.stderr and "Traceback" not in done.stderr
    bad = run_cli("corpus", "build", folder, "-o", tmp_path / "c", "--perturb", "XX:9")
    assert bad.returncode != 0 and "--perturb 'XX:9'" in bad.stderr


def test_the_bank_method_paints_the_source_persons_real_face_inside_the_mask(tmp_path: Path) -> None:
    """``--methods bank``: convert's default swap as a corpus method, with the source's cached faces as
    its bank; the fake differs from its original only where its mask is, and there by a whole face."""
    inputs = _inputs(tmp_path / "real")
    root = tmp_path / "corpus"
    done = run_cli("corpus", "build", inputs, "-o", root, "--fold-splits", "--methods", "bank", "--compressions", "c23",
                   "--max-frames", str(FRAMES), "-q", timeout=600)
    assert done.returncode == 0, done.stderr
    fakes = [l for l in _manifest(root) if l["status"] == "ok" and l["label"] == "fake"]
    assert len(fakes) == 3 and {l["method"] for l in fakes} == {"Bank"}
    assert all(l["model"] is None and l["source_identity"] != l["target_identity"] for l in fakes)
    for line in fakes:
        fake, mask = read_frames(root / line["path"]), read_frames(root / line["mask"])
        real = read_frames(root / f"original_sequences/youtube/c23/videos/{line['target']}.mp4")
        assert len(fake) == len(mask) == len(real) == FRAMES
        for f, m, r in zip(fake, mask, real):
            alpha = m[..., 1]
            inside = alpha > 0.8 * alpha.max()
            outside = cv2.dilate((alpha > 2).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
            diff = np.abs(f.astype(np.int16) - r.astype(np.int16)).mean(axis=2)
            assert alpha.max() > 200 and inside.sum() > 500
            assert diff[outside].mean() < 2.0 and diff[inside].mean() > 6.0
