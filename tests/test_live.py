"""The live path on a real stream served over loopback (no camera here): real time, graceful stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipeline.media.decode import probe
from tests.conftest import REPO, media, run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(ffmpeg: str, clip: Path, port: int, seconds: float) -> subprocess.Popen:
    """Stream ``clip`` in real time (-re) as MPEG-TS from a one-client TCP listener."""
    process = subprocess.Popen([ffmpeg, "-v", "error", "-re", "-i", str(clip), "-t", str(seconds), "-map", "0", "-c", "copy",
                                "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:  # wait until it listens, without connecting (it accepts one client)
        if f":{port:04X} 00000000:0000 0A" in Path("/proc/net/tcp").read_text():
            break
        time.sleep(0.05)
    return process


def test_live_stream_to_recording_keeps_real_time(tmp_path: Path, ffmpeg_bin: str) -> None:
    port = free_port()
    server = serve(ffmpeg_bin, media("single_face.mp4"), port, 3)
    try:
        record, stats = tmp_path / "live.mp4", tmp_path / "live.json"
        result = run_cli("live", f"tcp://127.0.0.1:{port}", "--passthrough", "--record", record, "--stats", stats, "-q",
                         timeout=60)
    finally:
        server.kill()
    assert result.returncode == 0, result.stderr
    report = json.loads(stats.read_text())
    assert report["frames_in"] >= 60  # 72 frames served in 2.4 s
    assert report["frames_out"] + report["frames_dropped"] == report["frames_in"]
    assert report["latency_ms_median"] is not None and report["latency_ms_median"] < 500
    assert probe(record).frame_count == report["frames_out"]


def test_ctrl_c_ends_live_gracefully_and_keeps_recording(tmp_path: Path, ffmpeg_bin: str) -> None:
    port = free_port()
    server = serve(ffmpeg_bin, media("WolfgangLanger_Pexels.mp4"), port, 15)
    record = tmp_path / "live.mp4"
    try:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", f"tcp://127.0.0.1:{port}", "--passthrough",
                                    "--record", str(record), "-q"], cwd=REPO, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        server.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert probe(record).frame_count > 24


def test_live_needs_an_output_and_a_reachable_source(tmp_path: Path) -> None:
    result = run_cli("live", "0", "--passthrough")
    assert result.returncode != 0 and "--window" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("live", f"tcp://127.0.0.1:{free_port()}", "--passthrough", "--record", tmp_path / "x.mp4",
                     "--set", "capture.open_timeout=1")
    assert result.returncode != 0 and "cannot open stream" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.mp4").exists()
