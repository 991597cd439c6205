"""Everyday use (issue 14): photos in and out, trimming and output shape, picking faces by a reference
photo, one faceset per person, folders on the job engine, and no silent no-ops. All on real media."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.media.decode import probe
from pipeline.media.faceset import read_alignments
from tests.conftest import media, one_line_error, psnr, read_frames, run_cli

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"


# --- photos ------------------------------------------------------------------------------------------
def _rotated_with_exif(source: Path, target: Path) -> None:
    """The photo stored turned 90° with EXIF orientation 6 (a phone's portrait shot), and a colour profile."""
    from PIL import Image, ImageCms

    with Image.open(source) as image:
        turned = image.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90° clockwise to display"
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        turned.save(target, exif=exif.tobytes(), icc_profile=profile, quality=95)


def test_photo_in_photo_out_upright_with_profile_and_face_swapped(tmp_path: Path) -> None:
    from PIL import Image

    original = cv2.imread(str(media("single_face.jpg")))
    rotated = tmp_path / "portrait.jpg"
    _rotated_with_exif(media("single_face.jpg"), rotated)
    output = tmp_path / "out.jpg"
    result = run_cli("convert", rotated, "-o", output, "-q", "--stats", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    swapped = cv2.imread(str(output))
    assert swapped.shape == original.shape  # upright, as a viewer shows the input
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["stages"]["swap"]["faces_swapped"] == 1
    # the face changed, the rest did not (the background only lost a JPEG generation)
    box = read_box(tmp_path, media("single_face.jpg"))
    inside, outside = np.zeros(original.shape[:2], bool), np.ones(original.shape[:2], bool)
    x0, y0, x1, y1 = box
    inside[y0:y1, x0:x1] = True
    outside[max(0, y0 - 60):y1 + 60, max(0, x0 - 60):x1 + 60] = False
    assert psnr(swapped, original, outside) > 33
    assert psnr(swapped, original, inside) < 30
    with Image.open(output) as written:
        assert written.info.get("icc_profile"), "the colour profile was dropped"
        assert written.getexif().get(0x0112) in (None, 1)  # stored upright: no turn left to apply
    assert not list(tmp_path.glob(".*facepipe-partial*"))


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_photo_formats_keep_pixels_orientation_and_profile(tmp_path: Path, suffix: str) -> None:
    from PIL import Image

    rotated = tmp_path / "portrait.jpg"
    _rotated_with_exif(media("single_face.jpg"), rotated)
    output = tmp_path / f"out{suffix}"
    result = run_cli("convert", rotated, "-o", output, "-q", "--passthrough", "--size", "286x-1")
    assert result.returncode == 0, result.stderr
    upright = cv2.resize(cv2.imread(str(rotated)), (286, 281), interpolation=cv2.INTER_AREA)
    written = cv2.imread(str(output))
    assert written.shape == upright.shape
    assert psnr(written, upright) > (60 if suffix == ".png" else 30)  # PNG: the very pixels
    with Image.open(output) as image:
        assert image.info.get("icc_profile")


def read_box(tmp_path: Path, photo: Path) -> tuple[int, int, int, int]:
    """The photo's largest face box, from `facepipe extract` (the same detector convert uses)."""
    faceset = tmp_path / f"faces-{photo.stem}"
    assert run_cli("extract", photo, "-o", faceset, "-q").returncode == 0
    records = read_alignments(faceset)["faces"]
    box = max((r["box"] for r in records), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    return tuple(int(round(v)) for v in box)  # type: ignore[return-value]


def test_video_into_a_photo_gives_the_frame_at_start(tmp_path: Path) -> None:
    clip = media("single_face.mp4")
    output = tmp_path / "frame.png"
    result = run_cli("convert", clip, "-o", output, "--start", "30f", "--passthrough", "-q")
    assert result.returncode == 0, result.stderr
    frames = read_frames(clip)
    still = cv2.imread(str(output))
    scores = [psnr(still, frame) for frame in frames[25:36]]
    assert int(np.argmax(scores)) + 25 == 30 and max(scores) > 40


# --- trimming and output shape -------------------------------------------------------------------------
def test_start_end_by_frame_are_frame_accurate(tmp_path: Path) -> None:
    clip = media("WolfgangLanger_Pexels.mp4")
    output = tmp_path / "part.mp4"
    result = run_cli("convert", clip, "-o", output, "--passthrough", "-q", "--start", "24f", "--end", "48f")
    assert result.returncode == 0, result.stderr
    info = probe(output)
    assert info.frame_count == 24 and abs(info.duration - 24 / info.fps) < 0.1
    source, part = read_frames(clip), read_frames(output)
    assert psnr(part[0], source[24]) > 38 and psnr(part[0], source[23]) < psnr(part[0], source[24])
    assert psnr(part[-1], source[47]) > 38


def test_start_end_by_time_size_and_fps(tmp_path: Path) -> None:
    output = tmp_path / "small.mp4"
    result = run_cli("convert", media("WolfgangLanger_Pexels.mp4"), "-o", output, "--passthrough", "-q",
                     "--start", "0:02", "--end", "6.5", "--size", "320x-1", "--fps", "10")
    assert result.returncode == 0, result.stderr
    info = probe(output)
    assert (info.width, info.height) == (320, 180)
    assert abs(info.fps - 10) < 0.01 and info.frame_count == 45  # 4.5 s at 10 fps
    assert info.audio and abs(info.duration - 4.5) < 0.15  # audio cut to the same span


@pytest.mark.parametrize("args, fragment", [
    (["--start", "2", "--end", "1"], "is not after --start"),
    (["--start", "99999f"], "past the end"),
    (["--size", "big"], "give WIDTHxHEIGHT"),
])
def test_bad_trim_is_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    output = tmp_path / "x.mp4"
    one_line_error(run_cli("convert", media("single_face.mp4"), "-o", output, "--passthrough", *args), fragment)
    assert not output.exists()


def test_extract_samples_by_time_and_rate(tmp_path: Path) -> None:
    out = tmp_path / "faces"
    result = run_cli("extract", media("WolfgangLanger_Pexels.mp4"), "-o", out, "-q", "--start", "1", "--end", "3",
                     "--fps", "4")
    assert result.returncode == 0, result.stderr
    frames = sorted({r["frame"] for r in read_alignments(out)["faces"]})
    assert frames == list(range(4, 12))  # frames of the 4 fps timeline, 1 s to 3 s


# --- picking faces by who they are -----------------------------------------------------------------------
def test_reference_photo_swaps_only_that_person_in_a_group(tmp_path: Path) -> None:
    group = media("multi_face.jpg")
    faceset = tmp_path / "group"
    assert run_cli("extract", group, "-o", faceset, "-q").returncode == 0
    boxes = [r["box"] for r in read_alignments(faceset)["faces"]]
    assert len(boxes) == 5
    image = cv2.imread(str(group))
    x0, y0, x1, y1 = (int(v) for v in boxes[2])
    pad = (x1 - x0) // 2
    reference = tmp_path / "them.png"
    cv2.imwrite(str(reference), image[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad])

    output, stats = tmp_path / "out.png", tmp_path / "stats.json"
    result = run_cli("convert", group, "-o", output, "-q", "--stats", stats, "--set", "swap.select='reference'",
                     "--set", f"swap.reference={json.dumps(str(reference))}")
    assert result.returncode == 0, result.stderr
    assert json.loads(stats.read_text())["stages"]["swap"]["faces_swapped"] == 1
    changed = np.abs(cv2.imread(str(output)).astype(int) - image.astype(int)).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    assert len(xs) > 200
    assert x0 - pad <= np.percentile(xs, 1) and np.percentile(xs, 99) <= x1 + pad  # only that face changed
    assert y0 - pad <= np.percentile(ys, 1) and np.percentile(ys, 99) <= y1 + pad


@pytest.mark.slow
def test_reference_photo_picks_the_man_not_the_woman(tmp_path: Path) -> None:
    sets = ["--set", "swap.select='reference'", "--set", f"swap.reference={json.dumps(str(media('single_face.jpg')))}"]
    same, other = tmp_path / "same.json", tmp_path / "other.json"
    result = run_cli("convert", media("single_face.mp4"), "-o", tmp_path / "b.mp4", "-q", "--stats", same,
                     "--end", "30f", *sets)
    assert result.returncode == 0, result.stderr
    stages = json.loads(same.read_text())["stages"]
    assert stages["swap"]["faces_swapped"] == stages["detect"]["faces"] == 30
    assert stages["swap"]["identity_checks"] <= 2  # once per track and second, not per frame
    result = run_cli("convert", media("WolfgangLanger_Pexels.mp4"), "-o", tmp_path / "a.mp4", "--end", "20f",
                     "-q", "--stats", other, *sets)
    assert result.returncode == 0, result.stderr
    assert json.loads(other.read_text())["stages"]["swap"]["faces_swapped"] == 0
    assert "none was chosen" in result.stderr


def test_extract_by_identity_gives_one_faceset_per_person(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("single_face.mp4", "single_face.jpg", "WolfgangLanger_Pexels.mp4", "multi_face.jpg"):
        shutil.copy(media(name), folder / name)
    shutil.copy(media("people/lp_d18_man_grey_hoodie_expressions.mp4"), folder / "hoodie.mp4")
    out = tmp_path / "people"
    result = run_cli("extract", folder, "-o", out, "--by-identity", "--every", "6", "--end", "60f", "-q")
    assert result.returncode == 0, result.stderr
    listing = json.loads((out / "people.json").read_text())["sets"]
    people = {row["set"]: set(row["sources"]) for row in listing}
    persons = [sources for name, sources in people.items() if name.startswith("person-")]
    assert sorted(map(sorted, persons)) == [["WolfgangLanger_Pexels.mp4"], ["hoodie.mp4"],
                                            ["single_face.jpg", "single_face.mp4"]]
    assert people["unsorted"] == {"multi_face.jpg"}  # five people, one photo each
    pooled = read_alignments(out / "all")["faces"]
    total = 0
    for name in people:
        faces = read_alignments(out / name)["faces"]
        total += len(faces)
        assert all((out / name / r["file"]).is_file() for r in faces)
    assert total == len(pooled)


# --- folders ------------------------------------------------------------------------------------------
def test_folder_convert_keeps_paths_skips_done_and_lists_failures(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "clips").mkdir(parents=True)
    shutil.copy(media("single_face.mp4"), folder / "clips" / "man.mp4")
    shutil.copy(media("single_face.jpg"), folder / "man.jpg")
    (folder / "broken.mp4").write_text("not a video\n")
    out = tmp_path / "out"
    args = ["--passthrough", "--end", "10f", "-q"]
    first = run_cli("convert", folder, "-o", out, "--recursive", "--workers", "2", *args)
    assert first.returncode == 1
    assert "broken.mp4" in first.stderr and "1 of 3 files failed" in first.stderr and "Traceback" not in first.stderr
    assert probe(out / "clips" / "man.mp4").frame_count == 10
    assert cv2.imread(str(out / "man.jpg")).shape == cv2.imread(str(folder / "man.jpg")).shape
    assert not (out / "broken.mp4").exists() and not list(out.rglob(".*facepipe-partial*"))

    stamp = (out / "clips" / "man.mp4").stat().st_mtime_ns
    (folder / "broken.mp4").unlink()
    again = run_cli("convert", folder, "-o", out, "--recursive", *args[:-1])
    assert again.returncode == 0, again.stderr
    assert "2 of 2 files already converted" in again.stderr
    assert (out / "clips" / "man.mp4").stat().st_mtime_ns == stamp
    flat = run_cli("convert", folder, "-o", tmp_path / "flat", *args)
    assert flat.returncode == 0 and not (tmp_path / "flat" / "clips").exists()


# --- no silent no-ops, and the CLI's own promises ----------------------------------------------------
def test_stage_list_that_skips_a_needed_stage_is_refused(tmp_path: Path) -> None:
    output = tmp_path / "x.mp4"
    one_line_error(run_cli("convert", SAMPLE, "-o", output, "--set", "pipeline.stages=['swap']"),
                   "stage 'swap' needs 'align'")
    assert not output.exists()


def test_select_tracks_without_tracks_is_refused(tmp_path: Path) -> None:
    output = tmp_path / "x.mp4"
    one_line_error(run_cli("convert", SAMPLE, "-o", output, "--set", "swap.select='tracks'"), "swap.tracks is empty")
    assert not output.exists()


def test_convert_without_input_does_not_convert_the_sample(tmp_path: Path) -> None:
    output = tmp_path / "x.mp4"
    result = run_cli("convert", "-o", output)
    assert result.returncode == 2 and not output.exists()
    assert "usage: facepipe convert" in result.stderr and "required: IN" in result.stderr


def test_two_inputs_print_converts_usage(tmp_path: Path) -> None:
    result = run_cli("convert", SAMPLE, SAMPLE, "-o", tmp_path / "x.mp4")
    assert result.returncode == 2
    assert "usage: facepipe convert" in result.stderr and "convert takes one input" in result.stderr


def test_help_shows_every_new_option() -> None:
    convert = run_cli("convert", "--help").stdout
    for option in ("--start", "--end", "--size", "--fps", "--recursive", "--workers", "--scheduler"):
        assert option in convert
    extract = run_cli("extract", "--help").stdout
    for option in ("--start", "--end", "--size", "--fps", "--by-identity", "--identity-distance"):
        assert option in extract
    doctor = run_cli("doctor", "--help").stdout
    for option in ("--config", "--set", "--quiet"):
        assert option in doctor


# --- doctor -------------------------------------------------------------------------------------------
def _has_nvidia_gpu() -> bool:
    return Path("/dev/nvidia0").exists()


def test_doctor_calls_an_encoder_usable_only_when_it_encodes() -> None:
    from pipeline.cli.commands.doctor import encoder_word
    from pipeline.media.ffmpeg import encoder_check, video_encoders

    assert encoder_word("libx264") == "yes" and encoder_check("libx264") == ""
    if "h264_nvenc" in video_encoders() and not _has_nvidia_gpu():
        assert encoder_word("h264_nvenc") == "listed, not usable"
        assert encoder_check("h264_nvenc")  # ffmpeg's own reason
    assert encoder_word("no_such_encoder") == "no"


def test_doctor_takes_config_set_and_quiet(tmp_path: Path) -> None:
    quiet = run_cli("doctor", "-q")
    assert quiet.returncode == 0 and quiet.stdout.strip() == "", quiet.stdout + quiet.stderr
    config = tmp_path / "my.toml"
    config.write_text("[encode]\ncodec = 'libvpx-vp9'\n")
    table = run_cli("doctor", "-c", config)
    assert table.returncode == 0 and "libvpx-vp9: usable" in table.stdout
    if not _has_nvidia_gpu():
        cuda = run_cli("doctor", "-q", "--set", "pipeline.device='cuda'")
        assert cuda.returncode == 1 and "problem:" in cuda.stdout and "cuda" in cuda.stdout
    one_line_error(run_cli("doctor", "--set", "encode.crf=99"), "encode.crf")


def test_ctrl_c_stops_a_folder_convert_and_leaves_only_whole_files(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(media("WolfgangLanger_Pexels.mp4"), folder / name)
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "convert", str(folder), "-o", str(out),
                                "--passthrough", "-q", "--set", "encode.preset='veryslow'"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even if launched with SIGINT ignored
    deadline = time.time() + 60
    while not list(out.glob(".*facepipe-partial*")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert not list(out.rglob("*.mp4")) and not list(out.rglob(".*facepipe-partial*"))
