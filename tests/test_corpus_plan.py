"""Identities, identity-disjoint splits and pairs of a corpus, on the real people clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.corpus.identities import find_videos, make_pairs, split_identities
from pipeline.media.kinds import VIDEO_SUFFIXES
from pipeline.errors import FacepipeError
from tests.conftest import MEDIA, media


def test_every_video_is_an_identity_unless_a_csv_groups_them(tmp_path: Path) -> None:
    media("people")
    videos = find_videos(MEDIA / "people")
    clips = sorted(p.name for p in (MEDIA / "people").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    assert [Path(v.path).name for v in videos] == clips and [v.number for v in videos[:3]] == ["000", "001", "002"]
    assert len({v.identity for v in videos}) == len(clips) > 2
    csv = tmp_path / "ids.csv"
    csv.write_text("video,identity\nlp_d12_man_glasses_green_sweater_talk.mp4,glasses\nlp_d19_man_glasses_white_sweater,glasses\n")
    grouped = find_videos(MEDIA / "people", csv)
    assert len({v.identity for v in grouped}) == len(clips) - 1
    assert sum(v.identity == "glasses" for v in grouped) == 2
    csv.write_text("only-one-column\n")
    with pytest.raises(FacepipeError, match="expected 'video,identity'"):
        find_videos(MEDIA / "people", csv)


def test_splits_are_identity_disjoint_and_pairs_cross_identities() -> None:
    media("people")
    videos = find_videos(MEDIA / "people", None)
    # two videos of one person must land in one split
    videos = [v if v.number != "003" else type(v)(v.number, v.path, videos[2].identity) for v in videos]
    split_of = split_identities([v.identity for v in videos], [0.72, 0.14, 0.14], seed=3)
    assert sorted(set(split_of.values())) == ["test", "train", "val"]
    counts = {name: sum(1 for s in split_of.values() if s == name) for name in ("train", "val", "test")}
    assert counts["train"] >= 9 and counts["val"] >= 2 and counts["test"] >= 2
    pairs = make_pairs(videos, split_of, seed=3)
    assert [t.number for t, _ in pairs] == [v.number for v in videos]
    for target, source in pairs:
        assert source.identity != target.identity
        assert split_of[source.identity] == split_of[target.identity]  # every split has 2+ identities here
    assert make_pairs(videos, split_of, seed=3) == pairs and make_pairs(videos, split_of, seed=4) != pairs
    with pytest.raises(FacepipeError, match="three non-negative"):
        split_identities(["a", "b"], [0.5, 0.5], 0)
