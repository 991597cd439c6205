"""Shared fixtures: the real media folder, a CLI runner, and small media made with ffmpeg."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"


MISSING_MEDIA = f"real test media not found: {MEDIA} (clone with shared/ beside the repo)"


def media(name: str) -> Path:
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"real test media not found: {path} (clone with shared/ beside the repo)")
    return path


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """No silent skips in CI: with ``CI`` set, a missing media folder fails the run with one line."""
    if os.environ.get("CI") and not MEDIA.is_dir():
        print(f"facepipe tests: {MISSING_MEDIA}; CI needs it", file=sys.stderr)
        return 1
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Locally a missing media folder skips the tests that need it; say so at the top of the run."""
    if MEDIA.is_dir():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"WARNING: {MISSING_MEDIA}: every test that needs it is skipped", yellow=True, bold=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEDIA.is_dir():
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "real test media not found" in str(r.longrepr)]
    terminalreporter.write_line(f"WARNING: {len(skipped)} tests skipped: {MISSING_MEDIA}", yellow=True, bold=True)


@pytest.fixture(scope="session")
def ffmpeg_bin() -> str:
    from pipeline.media.ffmpeg import ffmpeg_exe

    return ffmpeg_exe()


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``facepipe`` as a user would (a fresh process), capturing its output."""
    return subprocess.run([sys.executable, "-m", "pipeline.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or REPO)


def bench_module(name: str) -> ModuleType:
    """``bench/NAME.py`` imported as a module of its own (``bench_NAME_under_test``): the bench scripts
    are scripts, not a package."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def run_bench(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``bench/NAME.py`` as a user would (a fresh process from the repository), capturing its output."""
    return subprocess.run([sys.executable, str(REPO / "bench" / f"{name}.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess, fragment: str = "", output: Path | None = None) -> str:
    """Assert a run failed as a user's mistake should: non-zero exit, no traceback, one ``facepipe: error:``
    line (warnings aside) that holds ``fragment``; with ``output``, nothing written there or left beside it.
    Returns the line."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("facepipe: warning")]
    assert len(lines) == 1 and lines[0].startswith("facepipe: error: "), result.stderr
    assert fragment in lines[0], lines[0]
    if output is not None:
        assert not output.exists()
        leftovers = [p.name for p in output.parent.iterdir() if "facepipe-" in p.name]
        assert not leftovers, leftovers
    return lines[0]


def ffmpeg_make(ffmpeg: str, *args: str) -> None:
    subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        diff = diff[mask.astype(bool)]
    mse = float(diff.mean()) if diff.size else 0.0
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def read_frames(path: str | Path, max_frames: int = 0) -> list[np.ndarray]:
    """The decoded frames of a video (its first ``max_frames``; 0 = all)."""
    from pipeline.media.decode import DecodeConfig, FileSource

    source = FileSource(path, DecodeConfig(max_frames=max_frames))
    source.open()
    try:
        return [frame.image for frame in source.frames()]
    finally:
        source.close()


class WritesMarker:
    """A pickle payload that creates ``path`` when unpickled: what a hostile model file would do.

    Tests of loaders that refuse pickles put one inside and check the marker never appears.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return open, (str(self.path), "w")
