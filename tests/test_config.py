"""Configuration: defaults, overrides and one-line errors for every kind of mistake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.cli.settings import load_config, section_types
from pipeline.cli.configdoc import render
from pipeline.errors import FacepipeError
from tests.conftest import REPO


def test_committed_pipeline_toml_is_the_documented_defaults() -> None:
    committed = (REPO / "pipeline.toml").read_text()
    assert committed == render(), "pipeline.toml is stale: run `facepipe config --defaults > pipeline.toml`"


def test_every_key_is_documented() -> None:
    for name, cls in section_types().items():
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{name}.{f.name} has no help text"


def test_user_file_and_set_override_in_order(tmp_path: Path) -> None:
    user = tmp_path / "my.toml"
    user.write_text("[encode]\ncrf = 23\npreset = 'slow'\n")
    config = load_config(user, ["encode.crf=30", "pipeline.stages=[]", "encode.audio_bitrate=128k"])
    assert config.encode.crf == 30
    assert config.encode.preset == "slow"
    assert config.pipeline.stages == []
    assert config.encode.audio_bitrate == "128k"


def test_a_command_profile_beats_the_defaults_but_not_the_user(tmp_path: Path) -> None:
    profile = {"landmarks": {"samples": 1, "refine": 0}, "detect": {"detect_size": 320}}
    user = tmp_path / "my.toml"
    user.write_text("[landmarks]\nrefine = 2\n")
    config = load_config(user, ["detect.detect_size=480"], profile=profile)
    assert (config.landmarks.samples, config.landmarks.refine, config.detect.detect_size) == (1, 2, 480)
    plain = load_config()
    assert (plain.landmarks.samples, plain.detect.detect_size) != (1, 320)
    with pytest.raises(FacepipeError, match="^live profile: unknown key landmarks.sample "):
        load_config(profile={"landmarks": {"sample": 1}}, profile_name="live profile")


def test_the_live_profile_is_valid_and_cheaper_than_convert() -> None:
    from pipeline.cli.commands.live import LIVE_PROFILE

    live, plain = load_config(profile=LIVE_PROFILE), load_config()
    assert live.align.size < plain.align.size
    assert 0 < live.detect.detect_size < plain.detect.detect_size


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[encode]\ncrff = 3\n", "unknown key encode.crff"),
        ("[swap]\ndirection = 'sideways'\n", "swap.direction = 'sideways': must be one of"),  # a lazily built table
        ("[blend]\nfeather = -4\n", "blend.feather = -4.0: must be between"),
        ("[encoder]\ncrf = 3\n", "unknown table [encoder]"),
        ("[encode]\ncrf = 'high'\n", "encode.crf = 'high': expected a whole number"),
        ("[encode]\ncrf = 99\n", "encode.crf = 99: must be between 0 and 63"),
        ("[encode]\npreset = 'warp'\n", "encode.preset = 'warp': must be one of"),
        ("[pipeline]\nstages = ['nope']\n", "unknown stage 'nope'"),
        ("[encode\ncrf = 3\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    user = tmp_path / "bad.toml"
    user.write_text(text)
    with pytest.raises(FacepipeError) as info:
        load_config(user)
    message = str(info.value)
    assert fragment in message
    assert str(user) in message
    assert "\n" not in message


def test_bad_override_is_reported() -> None:
    with pytest.raises(FacepipeError, match="expected SECTION.KEY=VALUE"):
        load_config(None, ["crf=3"])
    with pytest.raises(FacepipeError, match="--set: encode.crf = -1"):
        load_config(None, ["encode.crf=-1"])


def test_stage_tables_are_built_when_used_and_survive_pickling() -> None:
    """Tables nobody named are built on first use (a passthrough imports no stage), still validated,
    and a config sent to a job worker arrives whole."""
    import pickle
    import sys

    config = load_config(None, ["pipeline.stages=[]", "swap.select='largest'"])
    assert config.swap.select == "largest"
    assert config.blend.feather == dataclasses.asdict(section_types()["blend"]())["feather"]
    copy = pickle.loads(pickle.dumps(config))
    assert copy.as_dict() == config.as_dict()
    assert "stages.swap" in sys.modules  # named by --set, so built (and checked) up front
