"""Issue 24's reproductions, each a user's mistake or a hostile input: every one ends with one
``facepipe: error:`` line, a non-zero exit, no traceback and nothing at (or beside) the output path, or
with the behaviour the docs promise. Servers are only ever talked to over 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from tests.conftest import REPO, media, one_line_error, run_cli
from tests.test_live import free_port, wait_listening

FACE = "single_face.jpg"


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header declaring ``width`` x ``height`` with a token of data: what a hostile upload looks like."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A baseline JPEG's SOI, an APP0 and a SOF0 declaring ``width`` x ``height``, then junk."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\0" * 200 + b"\xff\xd9"


# --- 1 and 2: --serve --------------------------------------------------------------------------------------

def test_serve_on_every_interface_without_the_flag_is_refused(tmp_path: Path) -> None:
    record = tmp_path / "out.mp4"
    result = run_cli("live", media("single_face.mp4"), "--passthrough", "--serve", f"0.0.0.0:{free_port()}",
                     "--record", record, timeout=60)
    line = one_line_error(result, "--serve-public", record)
    assert "0.0.0.0" in line


def test_serve_public_warns_in_one_line(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is never this machine's: the warning comes first, then the bind fails; nothing listens
    result = run_cli("live", media("single_face.mp4"), "--passthrough", "--serve-public", "--serve",
                     f"192.0.2.1:{free_port()}", "-q", timeout=60)
    one_line_error(result, "--serve 192.0.2.1")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("facepipe: warning")]
    assert len(warnings) == 1 and "no authentication" in warnings[0], result.stderr


@pytest.mark.parametrize("address, fragment", [("127.0.0.1:99999", "port 99999"), ("127.0.0.1:0", "port 0"),
                                               ("localhost:http", "HOST:PORT"), ("12ab", "HOST:PORT")])
def test_bad_serve_addresses_are_one_line(address: str, fragment: str, tmp_path: Path) -> None:
    result = run_cli("live", media("single_face.mp4"), "--passthrough", "--serve", address, timeout=60)
    one_line_error(result, fragment)


def test_serve_port_alone_is_loopback_and_foreign_host_headers_get_403() -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", str(media("WolfgangLanger_Pexels.mp4")),
                                "--passthrough", "--serve", str(port), "--duration", "20", "-q"], cwd=REPO,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, timeout=30)

        def status(host: str) -> int:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/stats.json", headers={"Host": host})
            code = connection.getresponse().status
            connection.close()
            return code

        assert status(f"127.0.0.1:{port}") == 200
        assert status(f"localhost:{port}") == 200
        assert status(f"attacker.example:{port}") == 403  # DNS rebinding: a foreign name resolving to us
        assert status("localhost") == 403  # without the port
        assert status(f"127.0.0.1:{port + 1}") == 403
    finally:
        process.kill()
        process.wait()


# --- 3: --record after kill -9 -----------------------------------------------------------------------------

def _frames(path: Path) -> int:
    """Pictures a player gets from the file: decoded until the end, or until a cut-off last fragment."""
    import av

    count = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(video=0):
                count += 1
        except av.FFmpegError:
            pass  # the fragment being written when ffmpeg was killed
    return count


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


@pytest.mark.parametrize("kill_ffmpeg_too", [False, True])
def test_recording_is_at_its_path_and_valid_after_kill_9(tmp_path: Path, kill_ffmpeg_too: bool) -> None:
    record = tmp_path / "rec.mp4"
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", str(media("WolfgangLanger_Pexels.mp4")),
                                "--passthrough", "--record", str(record), "--duration", "60", "-q"], cwd=REPO,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and (not record.exists() or record.stat().st_size < 200_000):
            time.sleep(0.2)  # a few fragments in
        assert record.exists(), "the recording is written at its own path from the start"
        time.sleep(1.5)
        encoders = _children(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        for pid in encoders:
            if kill_ffmpeg_too:
                os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 30  # an orphaned ffmpeg sees its input end and finishes the file
        while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in encoders):
            time.sleep(0.2)
    finally:
        process.kill()
    assert _frames(record) > 24  # more than a second of video, decodable
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]  # no partial beside it


def test_recording_fast_checks(tmp_path: Path) -> None:
    """The in-place recording's contract without a session: fragmented MP4 at the final path, and a
    sink that never wrote a frame leaves the user's file (with --overwrite) and the folder as they were."""
    from pipeline.media.encode import EncodeConfig
    from pipeline.media.liveencode import RecordSink

    existing = tmp_path / "keep.mp4"
    existing.write_bytes(b"the user's file")
    sink = RecordSink(existing, EncodeConfig())
    args = sink.output_args(None)  # type: ignore[arg-type]
    assert args[-1] == str(existing) and "+frag_keyframe+empty_moov+delay_moov+default_base_moof" in args
    sink.close(False)  # never opened: the source failed
    assert existing.read_bytes() == b"the user's file"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


# --- 4: images declaring huge sizes ------------------------------------------------------------------------

@pytest.mark.parametrize("name, data", [("huge.png", png_declaring(60000, 60000)), ("huge.jpg", jpeg_declaring(60000, 60000)),
                                        ("big.png", png_declaring(20000, 20000))])
def test_images_declaring_huge_sizes_are_one_line(tmp_path: Path, name: str, data: bytes) -> None:
    source, output = tmp_path / name, tmp_path / "out.jpg"
    source.write_bytes(data)
    result = run_cli("convert", source, "-o", output, "--passthrough", timeout=60)
    one_line_error(result, str(source), output)


def test_declared_size_reads_png_and_jpeg_headers() -> None:
    from pipeline.media.images import declared_size

    assert declared_size(png_declaring(60000, 123)) == (60000, 123)
    assert declared_size(jpeg_declaring(640, 60000)) == (640, 60000)
    assert declared_size(media(FACE).read_bytes()[:65536]) is not None
    assert declared_size(b"GIF89a") is None


# --- 5 and 8: configuration ---------------------------------------------------------------------------------

def test_non_utf8_toml_is_one_line(tmp_path: Path) -> None:
    config, output = tmp_path / "latin1.toml", tmp_path / "out.jpg"
    config.write_bytes("[detect]\n# d\xe9tection\nthreshold = 0.5\n".encode("latin-1"))
    result = run_cli("convert", media(FACE), "-o", output, "-c", config, timeout=60)
    one_line_error(result, "UTF-8", output)


@pytest.mark.parametrize("setting", ["detect.threshold=nan", "detect.threshold=-nan", "blend.detail_band=nan",
                                     "detect.threshold=inf"])
def test_nan_is_refused_like_inf(tmp_path: Path, setting: str) -> None:
    output = tmp_path / "out.jpg"
    result = run_cli("convert", media(FACE), "-o", output, "--set", setting, timeout=60)
    one_line_error(result, setting.split("=")[0], output)


# --- 6 and 7: side outputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["-o", "--debug"])
def test_extract_into_an_existing_file_is_one_line(tmp_path: Path, option: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    args = ["-o", tmp_path / "faces"] if option == "--debug" else []
    result = run_cli("extract", media(FACE), option, blocker, *args, timeout=120)
    one_line_error(result, str(blocker))
    assert blocker.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_extract_under_an_existing_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    result = run_cli("extract", media(FACE), "-o", blocker / "faces", timeout=120)
    one_line_error(result, "is a file")


def test_convert_stats_in_a_missing_folder_is_refused_before_the_photo(tmp_path: Path) -> None:
    output = tmp_path / "out.jpg"
    result = run_cli("convert", media(FACE), "-o", output, "--passthrough", "--stats", tmp_path / "missing" / "s.json",
                     timeout=60)
    one_line_error(result, "--stats", output)
    assert not (tmp_path / "missing").exists()


def test_convert_stats_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    output = tmp_path / "out.jpg"
    (tmp_path / "stats").mkdir()
    result = run_cli("convert", media(FACE), "-o", output, "--passthrough", "--stats", tmp_path / "stats", timeout=60)
    one_line_error(result, "is a folder", output)


def test_convert_write_masks_into_a_file_is_refused_before_work(tmp_path: Path) -> None:
    output, blocker = tmp_path / "out.jpg", tmp_path / "masks"
    blocker.write_text("mine")
    result = run_cli("convert", media(FACE), "-o", output, "--write-masks", blocker, timeout=60)
    one_line_error(result, "--write-masks", output)


def test_detector_score_json_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "scores").mkdir()
    result = run_cli("detector", "score", media("single_face.mp4"), "--json", tmp_path / "scores", timeout=120)
    one_line_error(result, "is a folder")
    assert list((tmp_path / "scores").iterdir()) == []


# --- 9: doctor runs convert's checks -----------------------------------------------------------------------

def _broken_models(tmp_path: Path) -> dict[str, str]:
    import pickle

    fast = REPO / "models" / "bundled_fast"
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "model.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    (tmp_path / "truncated").mkdir()
    data = (fast / "model.safetensors").read_bytes()
    (tmp_path / "truncated" / "model.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "truncated" / "model.json").write_bytes((fast / "model.json").read_bytes())
    return {"requirements": 'pipeline.stages=["swap"]',
            "pickle": f"swap.model={json.dumps(str(tmp_path / 'pickled'))}",
            "truncated": f"swap.model={json.dumps(str(tmp_path / 'truncated'))}"}


@pytest.mark.parametrize("case, fragment", [("requirements", "needs 'align'"), ("pickle", "pickle"),
                                            ("truncated", "corrupt")])
def test_doctor_refuses_what_convert_refuses(tmp_path: Path, case: str, fragment: str) -> None:
    setting = _broken_models(tmp_path)[case]
    output = tmp_path / "out.jpg"
    convert = run_cli("convert", media(FACE), "-o", output, "--set", setting, timeout=120)
    one_line_error(convert, fragment, output)
    doctor = run_cli("doctor", "-q", "--set", setting, timeout=120)
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr + doctor.stdout
    assert any(line.startswith("facepipe: problem:") and fragment in line for line in doctor.stdout.splitlines()), doctor.stdout
