"""Splits that never leak (issue 23): a fake's source and target share its split, no identity is in two
splits; a corpus too small is refused in one line, or folded on request and the folding recorded;
``corpus verify`` flags a fake whose source is borrowed from another split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.corpus.identities import MIN_PER_SPLIT, SPLITS, Video, make_pairs, plan_splits, split_identities
from pipeline.corpus.verify import verify_corpus
from pipeline.errors import FacepipeError
from tests.conftest import run_cli

RATIOS = ([0.72, 0.14, 0.14], [0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [1.0, 0.0, 0.0])


def _videos(people: int, per_person: int = 1) -> list[Video]:
    """``people`` identities, the first of them with ``per_person`` videos (a person may have several)."""
    names = [f"p{i:02d}" for i in range(people)]
    identities = [names[0]] * (per_person - 1) + names
    return [Video(f"{n:03d}", f"/in/{n:03d}.mp4", identity) for n, identity in enumerate(identities)]


def _assert_leak_free(videos: list[Video], split_of: dict[str, str], seed: int) -> None:
    assert set(split_of) == {v.identity for v in videos}  # every identity in exactly one split (a dict)
    for name in SPLITS:
        members = [i for i, s in split_of.items() if s == name]
        assert len(members) == 0 or len(members) >= MIN_PER_SPLIT, (name, members)
    pairs = make_pairs(videos, split_of, seed)
    assert [t.number for t, _ in pairs] == [v.number for v in videos]
    for target, source in pairs:
        assert source.identity != target.identity
        assert split_of[source.identity] == split_of[target.identity]


@pytest.mark.parametrize("ratios", RATIOS)
def test_every_size_is_leak_free_or_refused_in_one_line(ratios: list[float]) -> None:
    used = sum(r > 0 for r in ratios)
    for people in range(2, 21):
        for seed in range(5):
            videos = _videos(people, per_person=1 + seed % 3)
            identities = [v.identity for v in videos]
            if people < MIN_PER_SPLIT * used:
                with pytest.raises(FacepipeError) as refused:
                    plan_splits(identities, ratios, seed)
                message = str(refused.value)
                assert "\n" not in message and f"{people} identities are too few" in message
                assert f"each split needs {MIN_PER_SPLIT} identities, {MIN_PER_SPLIT * used} in all" in message
                assert "--fold-splits" in message
                continue
            plan = plan_splits(identities, ratios, seed)
            assert plan.folded == {}
            assert {s for s in plan.split_of.values()} == {SPLITS[i] for i in range(3) if ratios[i] > 0}
            _assert_leak_free(videos, plan.split_of, seed)


@pytest.mark.parametrize("ratios", RATIOS)
def test_folding_on_request_is_leak_free_and_recorded(ratios: list[float]) -> None:
    for people in range(2, 21):
        for seed in range(5):
            videos = _videos(people, per_person=2)
            plan = plan_splits([v.identity for v in videos], ratios, seed, fold=True)
            _assert_leak_free(videos, plan.split_of, seed)
            present = set(plan.split_of.values())
            assert set(plan.folded).isdisjoint(present) and set(plan.folded.values()) <= present
            wanted = {SPLITS[i] for i in range(3) if ratios[i] > 0}
            assert present | set(plan.folded) == wanted  # a split is either there or recorded as folded
            record = plan.record()
            assert record["folded"] == plan.folded and sum(record["identities"].values()) == people
            assert all(record["identities"][name] == 0 for name in plan.folded)
            if people >= MIN_PER_SPLIT * len(wanted):
                assert plan.folded == {}  # folding only when needed


def test_default_ratios_fold_val_first_then_test() -> None:
    folds = {n: plan_splits([f"p{i}" for i in range(n)], [0.72, 0.14, 0.14], 0, fold=True).folded for n in (3, 4, 5, 6)}
    assert folds == {3: {"val": "train", "test": "train"}, 4: {"val": "train"}, 5: {"val": "train"}, 6: {}}
    # large corpora keep the ratios: 15 people -> 11/2/2, as before this rule
    counts = plan_splits([f"p{i}" for i in range(15)], [0.72, 0.14, 0.14], 0).record()["identities"]
    assert counts == {"train": 11, "val": 2, "test": 2}


def test_pairs_never_borrow_a_source_from_another_split() -> None:
    videos = _videos(3)
    lonely = {"p00": "train", "p01": "train", "p02": "val"}  # a hand-made plan with a one-person split
    with pytest.raises(FacepipeError, match="split val has no identity but p02") as refused:
        make_pairs(videos, lonely, 0)
    assert "\n" not in str(refused.value)
    assert split_identities(["a", "b", "c", "d"], [0.5, 0.0, 0.5], 1) == \
        plan_splits(["a", "b", "c", "d"], [0.5, 0.0, 0.5], 1).split_of


def _manifest_corpus(root: Path, borrow: bool) -> Path:
    """A corpus's manifest, split files and plan (no videos): 4 people, train {000, 001}, test {002, 003}."""
    split = {"000": "train", "001": "train", "002": "test", "003": "test"}
    pairs = {"000": "001", "001": "000", "002": "003", "003": "002"}
    if borrow:
        pairs["002"] = "000"  # a test fake with a train person's face
    lines = []
    for target, name in split.items():
        lines.append({"status": "ok", "label": "real", "path": f"original_sequences/youtube/c23/videos/{target}.mp4",
                      "target": target, "source": None, "target_identity": f"id{target}", "source_identity": None,
                      "split": name, "compression": "c23", "frames": 4})
        source = pairs[target]
        lines.append({"status": "ok", "label": "fake", "method": "Warp", "split": name, "compression": "c23",
                      "path": f"manipulated_sequences/Warp/c23/videos/{target}_{source}.mp4", "frames": 4,
                      "target": target, "source": source, "target_identity": f"id{target}",
                      "source_identity": f"id{source}", "mask": None})
    root.mkdir(parents=True)
    (root / "manifest.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    (root / "splits").mkdir()
    for name in SPLITS:
        (root / "splits" / f"{name}.json").write_text(json.dumps([[t, pairs[t]] for t, s in split.items() if s == name]))
    (root / ".facepipe").mkdir()
    (root / ".facepipe" / "plan.json").write_text(json.dumps({"inputs": [], "splits": {"folded": {"val": "train"}}}))
    return root


def _split_problems(root: Path) -> list[str]:
    problems, _ = verify_corpus(root)
    return [p for p in problems if "missing" not in p]  # the synthetic corpus has no video files


def test_verify_flags_a_fake_whose_source_is_from_another_split(tmp_path: Path) -> None:
    assert _split_problems(_manifest_corpus(tmp_path / "clean", borrow=False)) == []
    problems = _split_problems(_manifest_corpus(tmp_path / "leak", borrow=True))
    assert "Warp fake 002_000 (test): its source identity id000 is in split train, not test" in problems
    assert "splits/test.json: source 000 of target 002 is in split train in the manifest" in problems
    # a video in a split the plan folded away
    folded = _manifest_corpus(tmp_path / "folded", borrow=False)
    text = (folded / "manifest.jsonl").read_text().replace('"split": "test"', '"split": "val"')
    (folded / "manifest.jsonl").write_text(text)
    assert any("split val was folded into train" in p for p in _split_problems(folded))


def test_build_refuses_a_small_corpus_before_any_work(tmp_path: Path) -> None:
    from tests.conftest import media

    inputs = tmp_path / "real"
    inputs.mkdir()
    for name in ("megactor_woman_glasses_talk.mp4", "retalking_face1_man_suit_talk.mp4"):
        (inputs / name).symlink_to(media(f"people/{name}"))
    done = run_cli("corpus", "build", inputs, "-o", tmp_path / "c", "--methods", "warp", "-q")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [l for l in done.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and "2 identities are too few for the splits train, val, test" in errors[0]
    assert "--fold-splits" in errors[0]
    assert not (tmp_path / "c" / ".facepipe" / "faces").exists()  # refused before face extraction
