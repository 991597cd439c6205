"""The occlusion stage and `facepipe attack`: containment, levels, determinism, keying, attack search.

Faces come from the real face stages on real photos and clips. The attack is tested against a small
TorchScript classifier built here (a fixed convolution: P(fake) rises with the redness of the crop's
centre, calibrated on the clip's own faces) and, when a swap model is available (bundled, or
``FACEPIPE_TEST_MODEL``), against the swap model's discriminator on swapped frames.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.errors import FacepipeError
from stages.occlusion.classifier import TorchScriptClassifier, load_torchscript
from pipeline.frame import Frame, copy_frame
from pipeline.media.occluder_images import load_object
from stages.occlusion.occluders import face_region
from stages.occlusion.attack import cut_crop
from pipeline.stage import StageContext
from stages.occlude import OccludeConfig, OccludeStage
from pipeline.detection.crops import find_faces as detect_faces
from tests.conftest import REPO, WritesMarker, media, one_line_error, read_frames, run_cli

SAMPLE = REPO / "samples" / "sample.mp4"
MASKS = ["mask_black.jpg", "mask_blue.jpg", "mask_green.jpg", "mask_white.jpg"]
MODEL = os.environ.get("FACEPIPE_TEST_MODEL", "")
UNSEEN = "people/lp_d18_man_grey_hoodie_expressions.mp4"  # kept out of every bundled model's training
MIN_SUCCESS = 0.75  # share of attacked faces that must end below the threshold (measured: all of them)


# -- helpers -------------------------------------------------------------------------------------


class Redness(torch.nn.Module):
    """A fixed conv net: P(fake) = sigmoid(gain * (centre redness / reference - knee)).

    Covering the centre of the face with anything less red than skin lowers it, so occlusion can fool
    it, and where the occluder sits matters: a real search problem with real scores.
    """

    def __init__(self, size: int, reference: float, gain: float = 10.0, knee: float = 0.8) -> None:
        super().__init__()
        self.mix = torch.nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.mix.weight.copy_(torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1))  # R - G
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        window = torch.exp(-(xs ** 2 + (ys - 0.1) ** 2) / (2 * 0.3 ** 2))
        self.register_buffer("window", (window / window.sum()).view(1, 1, size, size))
        self.reference, self.gain, self.knee = reference, gain, knee

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        redness = (self.mix(x) * self.window).sum(dim=(1, 2, 3))
        return torch.sigmoid(self.gain * (redness / self.reference - self.knee))


def save_redness(path: Path, crops: np.ndarray, size: int = 64) -> Path:
    """Script a Redness classifier calibrated so these crops score about 0.88 (reference = their median)."""
    probe_file = path.with_suffix(".probe.pt")
    torch.jit.script(Redness(size, 1.0, gain=1.0, knee=0.0)).save(str(probe_file))
    p = TorchScriptClassifier(probe_file, "cpu", size).fake_probability(crops)
    redness = np.log(p / (1 - p))
    torch.jit.script(Redness(size, float(np.median(redness)))).save(str(path))
    return path


def find_faces(image: np.ndarray, index: int = 0) -> Frame:
    frame = detect_faces(image, index)
    assert frame.faces, "no face found"
    return frame


def occlude(frame: Frame, **settings) -> tuple[Frame, list[dict]]:
    """Run the stage on a copy of ``frame``; returns the copy and the sidecar records."""
    stage = OccludeStage(OccludeConfig(**settings))
    stage.open(StageContext(video=None, config=stage.config, warn=lambda message: None))
    out = copy_frame(frame)
    records = [stage.occlude_face(out, face, number) for number, face in enumerate(out.faces)]
    stage.close(True)
    return out, records


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def man() -> Frame:
    return find_faces(cv2.imread(str(media("single_face.jpg"))))


@pytest.fixture(scope="module")
def group() -> Frame:
    return find_faces(cv2.imread(str(media("multi_face.jpg"))))


@pytest.fixture(scope="module")
def sample_crops() -> np.ndarray:
    """Aligned crops of the sample clip's first frames (to calibrate the test classifier)."""
    frames = read_frames(SAMPLE)[:4]
    return np.stack([find_faces(image, index).faces[0].crop for index, image in enumerate(frames)])


@pytest.fixture(scope="module")
def redness_file(tmp_path_factory: pytest.TempPathFactory, sample_crops: np.ndarray) -> Path:
    return save_redness(tmp_path_factory.mktemp("classifier") / "redness.pt", sample_crops)


# -- what is drawn where -------------------------------------------------------------------------

SOURCE = "multi_face.jpg"


def settings(kind: str, **extra) -> dict:
    if kind == "patch":
        extra.setdefault("image", str(media(SOURCE)))
    if kind == "object" and "image" not in extra:
        extra["image"] = str(media("occluders/mask_blue.jpg"))
    return {"kind": kind, **extra}


@pytest.mark.parametrize("kind", ["patch", "block", "noise", "object"])
def test_random_mode_is_byte_identical_for_a_seed_and_differs_across_seeds(man: Frame, kind: str) -> None:
    a, _ = occlude(man, **settings(kind, seed=7, anchor="face", level=4))
    b, _ = occlude(man, **settings(kind, seed=7, anchor="face", level=4))
    c, _ = occlude(man, **settings(kind, seed=8, anchor="face", level=4))
    assert a.image.tobytes() == b.image.tobytes()
    assert changed(a.image, man.image).any()
    assert a.image.tobytes() != c.image.tobytes()


@pytest.mark.parametrize("kind", ["patch", "block", "noise", "object"])
def test_nothing_outside_the_face_box_changes(group: Frame, kind: str) -> None:
    assert len(group.faces) >= 4
    for seed in range(3):
        out, records = occlude(group, **settings(kind, seed=seed, anchor="face", level=5))
        diff = changed(out.image, group.image)
        inside = np.zeros_like(diff)
        ys, xs = np.mgrid[0:diff.shape[0], 0:diff.shape[1]]
        for face in group.faces:
            x0, y0, x1, y1 = face.box
            inside |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        assert diff.any()
        assert not (diff & ~inside).any(), f"{int((diff & ~inside).sum())} pixels changed outside the face boxes"
        assert all(r["pixels"] > 0 for r in records)


@pytest.mark.parametrize("anchor, points", [("eyes", range(36, 48)), ("nose", range(27, 36)),
                                            ("mouth", range(48, 68)), ("cheek", None), ("lower", range(48, 68))])
@pytest.mark.parametrize("kind", ["patch", "block", "noise", "object"])
def test_landmark_regions_hold_their_part_and_bound_the_occluder(group: Frame, anchor: str, points, kind: str) -> None:
    out, records = occlude(group, **settings(kind, seed=3, anchor=anchor, level=5))
    diff = changed(out.image, group.image)
    allowed = np.zeros_like(diff)
    for number, face in enumerate(group.faces):
        region = face_region(face, anchor, 0 if records[number]["anchor"] == "cheek_left" else 1)
        assert records[number]["anchor"].startswith(anchor)
        polygon = region.polygon.astype(np.float32).reshape(-1, 1, 2)
        if points is not None:  # the region is where its face part is
            inside = [cv2.pointPolygonTest(polygon, tuple(map(float, face.landmarks[i])), False) >= 0 for i in points]
            assert np.mean(inside) >= 0.9, f"{anchor}: only {np.mean(inside):.0%} of its landmarks inside"
        bx0, by0 = np.floor(region.polygon.min(axis=0)).astype(int)
        bx1, by1 = np.ceil(region.polygon.max(axis=0)).astype(int) + 1
        ys, xs = np.nonzero(diff[max(0, by0):by1, max(0, bx0):bx1])
        for y, x in zip(ys + max(0, by0), xs + max(0, bx0)):
            if not allowed[y, x] and cv2.pointPolygonTest(polygon, (float(x), float(y)), True) >= -1e-3:
                allowed[y, x] = True
    assert diff.any()
    assert not (diff & ~allowed).any(), f"{int((diff & ~allowed).sum())} pixels changed outside the {anchor} regions"


def test_kinds_draw_what_they_say(man: Frame, tmp_path: Path) -> None:
    block, records = occlude(man, kind="block", level=2, seed=1, grey=77)
    diff = changed(block.image, man.image)
    assert (block.image[diff] == 77).all()
    assert 0 < diff.sum() <= records[0]["pixels"] <= 32 * 8 * 8

    noise, _ = occlude(man, kind="noise", level=5, seed=1, noise_sigma=40.0)
    values = noise.image[changed(noise.image, man.image)].astype(float)
    assert 100 < values.mean() < 156 and 30 < values.std() < 50

    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((300, 300, 3), (10, 200, 30), np.uint8))
    patch, _ = occlude(man, kind="patch", image=str(flat), level=3, seed=1)
    assert (patch.image[changed(patch.image, man.image)] == (10, 200, 30)).all()

    # A real source: the pasted pixels are the source window's, at the same scale.
    source = cv2.imread(str(media(SOURCE)))
    real, records = occlude(man, kind="patch", image=str(media(SOURCE)), level=3, seed=2)
    x0, y0, x1, y1 = records[0]["occluder_box"]
    sx0, sy0, sx1, sy1 = records[0]["source"]
    assert abs((sx1 - sx0) - (x1 - x0)) <= 2 and abs((sy1 - sy0) - (y1 - y0)) <= 2
    window = cv2.resize(source[int(round(sy0)):int(round(sy1)), int(round(sx0)):int(round(sx1))], (x1 - x0, y1 - y0))
    pasted = real.image[y0:y1, x0:x1]
    assert np.abs(pasted.astype(int) - window.astype(int)).mean() < 12


@pytest.mark.parametrize("name", MASKS)
def test_keyed_mask_covers_nose_and_mouth_and_leaves_the_eyes(man: Frame, name: str) -> None:
    out, records = occlude(man, kind="object", image=str(media(f"occluders/{name}")), anchor="lower", level=5)
    face = man.faces[0]
    diff = changed(out.image, man.image)
    hull = cv2.convexHull(np.round(face.landmarks[list(range(31, 36)) + list(range(48, 68))]).astype(np.int32))
    part = np.zeros(diff.shape, np.uint8)
    cv2.fillConvexPoly(part, hull, 1)
    assert diff[part > 0].mean() > 0.97, f"{name}: covers {diff[part > 0].mean():.0%} of nose tip and mouth"
    eyes = np.round(face.landmarks[36:48]).astype(int)
    assert not diff[eyes[:, 1], eyes[:, 0]].any()
    assert records[0]["anchor"] == "lower" and records[0]["region_from"] == "landmarks"


@pytest.mark.parametrize("name", MASKS)
def test_key_removes_only_the_backdrop(name: str) -> None:
    image = load_object(str(media(f"occluders/{name}")))
    assert not image.key_failed and image.keyed < 0.1
    h, w = image.alpha.shape
    assert image.alpha[h // 4:3 * h // 4, w // 4:3 * w // 4].min() > 0.99  # the mask itself stays opaque
    if name == "mask_black.jpg":  # its bottom-left corner is white backdrop
        assert image.alpha[-3:, :3].max() < 0.5


def test_png_alpha_is_used_as_is(tmp_path: Path) -> None:
    rgba = np.zeros((40, 80, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[10:30, 20:60, 3] = 255
    path = tmp_path / "sticker.png"
    cv2.imwrite(str(path), rgba)
    image = load_object(str(path))
    assert image.bgr.shape[:2] == (20, 40) and image.alpha.min() == 1.0


@pytest.mark.parametrize("kind, anchor", [("block", "face"), ("noise", "face"), ("patch", "face"),
                                          ("object", "lower"), ("noise", "eyes")])
def test_levels_grade_the_covered_share(group: Frame, kind: str, anchor: str) -> None:
    for seed in range(2):
        covered = []
        for level in range(1, 6):
            _, records = occlude(group, **settings(kind, anchor=anchor, level=level, seed=seed))
            covered.append(sum(r["area"] for r in records))
        assert all(b > a for a, b in zip(covered, covered[1:])), f"{kind}/{anchor} seed {seed}: {covered}"


def test_level_zero_draws_a_level_per_face(group: Frame) -> None:
    _, records = occlude(group, kind="noise", level=0, seed=4)
    assert {r["level"] for r in records} <= {1, 2, 3, 4, 5} and len({r["level"] for r in records}) > 1


# -- attack --------------------------------------------------------------------------------------


def test_attack_scores_match_a_rescoring_and_keep_to_the_budget(man: Frame, tmp_path: Path) -> None:
    crops = np.stack([face.crop for face in man.faces])
    classifier = save_redness(tmp_path / "c.pt", crops)
    scorer = TorchScriptClassifier(classifier, "cpu", 64)
    for budget, batch, threshold in [(5, 3, 0.0), (13, 4, 0.0), (40, 8, 0.5)]:
        out, records = occlude(man, mode="attack", kind="patch", image=str(media(SOURCE)), level=3, seed=5,
                               classifier=str(classifier), classifier_size=64, budget=budget, batch=batch,
                               threshold=threshold)
        record = records[0]
        assert record["queries"] <= budget
        if threshold == 0.0:  # never fooled: the search uses exactly its budget
            assert record["queries"] == budget and not record["fooled"]
        crop = cut_crop(out.image, np.array(record["matrix"]), record["crop_size"])
        assert abs(scorer.fake_probability(crop[None])[0] - record["score_after"]) < 1e-6
        assert record["score_after"] < record["score_before"]
        diff = changed(out.image, man.image)
        x0, y0, x1, y1 = man.faces[0].box
        ys, xs = np.nonzero(diff)
        assert xs.min() >= x0 and xs.max() <= x1 and ys.min() >= y0 and ys.max() <= y1


def test_attack_cli_lowers_the_fake_score_and_rescoring_agrees(redness_file: Path, tmp_path: Path) -> None:
    out, report, sidecar, masks = tmp_path / "a.mp4", tmp_path / "a.json", tmp_path / "a.jsonl", tmp_path / "masks"
    budget = 24
    result = run_cli("attack", SAMPLE, "-o", out, "-q", "--report", report, "--sidecar", sidecar, "--write-masks", masks,
                     "--set", "decode.max_frames=5", "--set", f"occlude.classifier={json.dumps(str(redness_file))}",
                     "--set", "occlude.classifier_size=64", "--set", "occlude.kind='block'", "--set", "occlude.level=5",
                     "--set", f"occlude.budget={budget}", "--set", "occlude.batch=8", "--set", "occlude.threshold=0.8",
                     # near-lossless output so the written frames can be re-scored
                     "--set", "encode.crf=0", "--set", "encode.pix_fmt='yuv444p'")
    assert result.returncode == 0, result.stderr
    summary = json.loads(report.read_text())["attack"]
    records = [json.loads(line) for line in sidecar.read_text().splitlines()]
    assert len(records) == summary["faces"] == 5
    assert all(r["queries"] <= budget for r in records) and summary["queries_max"] <= budget
    assert summary["mean_fake_after"] < summary["mean_fake_before"]
    assert_fooled(summary, records, 0.8, MIN_SUCCESS)
    scorer = TorchScriptClassifier(redness_file, "cpu", 64)
    frames = read_frames(out)
    for record in records:
        crop = cut_crop(frames[record["frame"]], np.array(record["matrix"]), record["crop_size"])
        rescored = scorer.fake_probability(crop[None])[0]
        # the encoder's colour conversion moves pixels by up to 2 levels; this classifier is steep
        assert abs(rescored - record["score_after"]) < 0.03, (record["frame"], rescored, record["score_after"])
        mask = cv2.imread(str(masks / f"{record['frame']:06d}.png"), cv2.IMREAD_GRAYSCALE)
        assert int((mask > 0).sum()) == record["pixels"]


def assert_fooled(summary: dict, records: list[dict], threshold: float, min_success: float) -> None:
    """The attack fooled the classifier: most faces it attacked now score below ``threshold``, and the
    records say so honestly (``fooled`` exactly when the final score is below the threshold)."""
    attacked = [r for r in records if r["score_before"] >= threshold]
    assert attacked, "no face scored fake before the attack: nothing was tested"
    fooled = [r for r in attacked if r["score_after"] < threshold]
    assert all(r["fooled"] == (r["score_after"] < threshold) for r in records)
    assert summary["attacked"] == len(attacked) and summary["fooled"] == len(fooled)
    assert summary["success_rate"] == pytest.approx(len(fooled) / len(attacked), abs=1e-4)
    assert len(fooled) >= min_success * len(attacked), (
        f"fooled {len(fooled)}/{len(attacked)}: scores {[round(r['score_after'], 3) for r in attacked]}")


def _swap_model() -> str:
    from models.checkpoint import BUNDLED_MODEL_DIR, WEIGHTS

    if MODEL:
        return MODEL
    if not (BUNDLED_MODEL_DIR / WEIGHTS).is_file():
        pytest.skip("no bundled swap model yet (models/bundled/model.safetensors); set FACEPIPE_TEST_MODEL to test")
    return ""


# The bundled 128-px model's D_B calls its clean A->B swaps fake: 0.72-0.76 on the sample's first 8
# frames, 0.82-0.83 on the unseen man's (the 64-px model's D_B had called the sample's swaps real, 0.45,
# so that case asked for 0.25). Fooling it means the plain 0.5 on both. With a budget of 32 the patch
# search fooled 8/8 sample faces but 6/8 of the unseen man's (0.75, the bare minimum); 64 fools 8/8.
@pytest.mark.parametrize("clip, threshold", [("sample", 0.5), ("unseen", 0.5)])
def test_attack_on_swapped_frames_fools_the_discriminator(tmp_path: Path, clip: str, threshold: float) -> None:
    model = _swap_model()
    source = SAMPLE if clip == "sample" else media(UNSEEN)
    out, report, sidecar = tmp_path / "s.mp4", tmp_path / "s.json", tmp_path / "s.jsonl"
    budget = 64
    args = ["attack", source, "-o", out, "-q", "--swap", "--report", report, "--sidecar", sidecar,
            "--set", "decode.max_frames=8", "--set", "occlude.kind='patch'",
            "--set", f"occlude.image={json.dumps(str(media(SOURCE)))}", "--set", "occlude.level=4",
            "--set", f"occlude.budget={budget}", "--set", "encode.crf=0", "--set", "encode.pix_fmt='yuv444p'",
            "--set", f"occlude.threshold={threshold}", "--set", "occlude.classifier='discriminator'",
            "--set", f"swap.model={json.dumps(model or 'bundled')}"]  # the discriminator is a pair model's
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(report.read_text())["attack"]
    records = [json.loads(line) for line in sidecar.read_text().splitlines()]
    assert records and all(r["queries"] <= budget for r in records)
    assert all(r["classifier"] == "discriminator:b" for r in records)
    assert summary["mean_fake_after"] < summary["mean_fake_before"]
    assert_fooled(summary, records, threshold, MIN_SUCCESS)
    from stages.occlusion.classifier import DiscriminatorClassifier
    from models.checkpoint import BUNDLED_MODEL_DIR

    disc = DiscriminatorClassifier(model or BUNDLED_MODEL_DIR, "b", "cpu")
    frames = read_frames(out)
    for record in records:
        crop = cut_crop(frames[record["frame"]], np.array(record["matrix"]), record["crop_size"])
        assert abs(disc.fake_probability(crop[None])[0] - record["score_after"]) < 0.03


# -- errors and reproducibility through the CLI ---------------------------------------------------


@pytest.mark.parametrize("sets, fragment", [
    (["occlude.kind='object'", "occlude.image='/nope/mask.png'"], "occlude.image = '/nope/mask.png': file not found"),
    (["occlude.kind='patch'"], "needs occlude.image"),
    (["occlude.level=6"], "occlude.level = 6: must be between 0 and 5"),
    (["occlude.level=-1"], "occlude.level = -1: must be between 0 and 5"),
    (["occlude.anchor='ear'"], "occlude.anchor = 'ear': must be one of"),
])
def test_bad_occluder_settings_are_one_line_errors(tmp_path: Path, sets: list[str], fragment: str) -> None:
    output = tmp_path / "out.mp4"
    args = [item for s in sets for item in ("--set", s)]
    result = run_cli("convert", SAMPLE, "-o", output, "--set", 'pipeline.stages=["detect","occlude"]', *args)
    one_line_error(result, fragment, output)


def test_attack_with_unreadable_image_or_classifier_fails_cleanly(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    output, report = tmp_path / "out.mp4", tmp_path / "r.json"
    result = run_cli("attack", SAMPLE, "-o", output, "--report", report, "--set", "occlude.kind='object'",
                     "--set", f"occlude.image={json.dumps(str(text))}")
    one_line_error(result, "not an image", output)
    assert not report.exists()
    pickled = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 1), pickled)
    result = run_cli("attack", SAMPLE, "-o", output, "--report", report,
                     "--set", f"occlude.classifier={json.dumps(str(pickled))}")
    one_line_error(result, "refusing it", output)
    assert not report.exists()


def test_torchscript_loader_refuses_pickles(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(FacepipeError, match="is a pickle"):
        load_torchscript(plain, "cpu")
    archive = tmp_path / "saved.pt"
    torch.save({"payload": WritesMarker(marker)}, archive)
    with pytest.raises(FacepipeError, match="torch.save archive"):
        load_torchscript(archive, "cpu")
    assert not marker.exists(), "the loader unpickled the file"
    pickle.loads(plain.read_bytes()).close()
    assert marker.exists()  # the payload was live: unpickling it does write the marker
    with pytest.raises(FacepipeError, match="file not found"):
        load_torchscript(tmp_path / "missing.pt", "cpu")


def test_convert_with_occlude_is_reproducible_and_writes_sidecar_and_masks(tmp_path: Path) -> None:
    runs = []
    for name in ("one", "two"):
        out, sidecar, masks = tmp_path / f"{name}.mp4", tmp_path / f"{name}.jsonl", tmp_path / f"{name}-masks"
        result = run_cli("convert", SAMPLE, "-o", out, "-q", "--set", 'pipeline.stages=["detect","landmarks","occlude"]',
                         "--set", "decode.max_frames=4", "--set", "occlude.kind='noise'", "--set", "occlude.seed=11",
                         "--set", "occlude.anchor='mouth'", "--set", f"occlude.report={json.dumps(str(sidecar))}",
                         "--set", f"occlude.masks_dir={json.dumps(str(masks))}")
        assert result.returncode == 0, result.stderr
        runs.append((read_frames(out), sidecar.read_text(), sorted(p.name for p in masks.iterdir())))
    (frames_a, text_a, masks_a), (frames_b, text_b, masks_b) = runs
    assert len(frames_a) == 4 and all(a.tobytes() == b.tobytes() for a, b in zip(frames_a, frames_b))
    assert text_a == text_b and len(text_a.splitlines()) == 4
    assert masks_a == masks_b == [f"{i:06d}.png" for i in range(4)]
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
