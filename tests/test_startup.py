"""Start-up stays light: commands that do not need torch or OpenCV do not import them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PROBE = ("import sys\nfrom pipeline.cli.main import main\ntry:\n    code = main({argv!r})\nfinally:\n"
         "    heavy = sorted(m for m in ('torch', 'cv2', 'numpy', 'stages.swap') if m in sys.modules)\n"
         "    print('HEAVY=' + ','.join(heavy), file=sys.stderr)\nsys.exit(code)\n")


def heavy_modules(*argv: str, strict: bool = False) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(argv=list(argv))], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode in (0, 2), result.stderr
    line = [l for l in result.stderr.splitlines() if l.startswith("HEAVY=")][-1]
    found = [m for m in line[len("HEAVY="):].split(",") if m]
    return found if strict else [m for m in found if m in ("torch", "cv2")]


@pytest.mark.parametrize("argv", [("--help",), ("config",), ("config", "--defaults"), ("convert", "--help")])
def test_light_commands_import_neither_torch_nor_opencv(argv: tuple[str, ...]) -> None:
    assert heavy_modules(*argv) == []


def test_stage_less_convert_imports_neither_torch_nor_opencv(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    assert heavy_modules("convert", str(REPO / "samples" / "sample.mp4"), "-o", str(output), "--passthrough", "-q",
                         "--set", "decode.max_frames=10") == []
    assert output.is_file()


def test_whole_file_passthrough_starts_without_numpy_or_stage_modules(tmp_path: Path) -> None:
    """The one-ffmpeg path (no trim, no stage) loads no array library and no stage: its start-up cost
    is what keeps a short passthrough near the ffmpeg CLI's speed (bench/io.py)."""
    output = tmp_path / "out.mp4"
    assert heavy_modules("convert", str(REPO / "samples" / "sample.mp4"), "-o", str(output), "--passthrough", "-q",
                         strict=True) == []
    assert output.is_file()


def test_default_swap_on_a_cpu_runs_without_torch(tmp_path: Path) -> None:
    """The bank swap's only network, the segmenter, runs on numpy on a CPU, and ``auto`` knows there is
    no GPU without asking torch: a second or more of every convert's start."""
    from pipeline.device import gpu_possible

    if gpu_possible():
        pytest.skip("a GPU may be here: auto asks torch, as it should")
    output = tmp_path / "out.mp4"
    assert "torch" not in heavy_modules("convert", str(REPO / "samples" / "sample.mp4"), "-o", str(output), "-q",
                                        "--end", "3f")
    assert output.is_file()


def test_gpu_possible_reads_the_torch_build_and_the_driver_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import device

    node = tmp_path / "nvidiactl"
    monkeypatch.setattr(device.sys, "platform", "linux")
    monkeypatch.setattr(device, "GPU_DEVICE_NODES", (str(node),))
    monkeypatch.setattr(device.metadata, "version", lambda name: "2.13.0+cpu")
    assert not device.gpu_possible()
    monkeypatch.setattr(device.metadata, "version", lambda name: "2.13.0")
    assert not device.gpu_possible()  # a CUDA build, but no driver
    node.write_text("")
    assert device.gpu_possible()
    monkeypatch.setattr(device.metadata, "version", lambda name: "2.13.0+cpu")
    assert device.resolve_device("auto") == "cpu"


def test_a_corpus_job_leaves_torch_unimported_but_one_threaded() -> None:
    """Bank and warp jobs need no torch; a GAN job that imports it later still gets one thread a job."""
    probe = ("import sys\nfrom pipeline.corpus.render import one_thread_per_job\none_thread_per_job()\n"
             "assert 'torch' not in sys.modules\nimport torch\nprint('THREADS', torch.get_num_threads())\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    assert result.returncode == 0, result.stderr
    assert "THREADS 1" in result.stdout
