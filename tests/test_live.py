"""The live path on real streams served over loopback (no camera here): real time, sound in sync,
stalls and reconnects, the browser view, the virtual camera, and clear errors before anything opens."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import REPO, media, run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 10) -> None:
    """Wait until something listens on ``port`` without connecting (an ffmpeg listener accepts one client)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f":{port:04X} 00000000:0000 0A" in Path("/proc/net/tcp").read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def serve(ffmpeg: str, clip: Path, port: int, seconds: float) -> subprocess.Popen:
    """Stream ``clip`` in real time (-re) as MPEG-TS, sound included, from a one-client TCP listener."""
    process = subprocess.Popen([ffmpeg, "-v", "error", "-re", "-i", str(clip), "-t", str(seconds), "-map", "0", "-c", "copy",
                                "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_listening(port)
    return process


def streams(path: Path) -> dict[str, tuple[int, float]]:
    """{'video'/'audio': (frames or packets, seconds)} of a file."""
    with av.open(str(path)) as container:
        found = {}
        for stream in container.streams:
            count = sum(1 for _ in container.demux(stream)) - 1  # the flush packet
            container.seek(0)
            found[stream.type] = (count, float(stream.duration * stream.time_base) if stream.duration else 0.0)
        return found


def live(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli("live", *args, timeout=timeout)


@pytest.fixture(scope="module")
def sync_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """A real clip with a white flash and a beep at the same instants (2, 4, 6 s; none in the first
    second, when a stream's start-up burst is being caught up)."""
    from pipeline.media.syncprobe import make_sync_clip

    path = tmp_path_factory.mktemp("sync") / "sync.mp4"
    times = make_sync_clip(media("single_face.mp4"), path, 7.0, first=2.0)
    return path, times


def test_live_stream_to_recording_keeps_real_time_and_sound(tmp_path: Path, ffmpeg_bin: str) -> None:
    port = free_port()
    server = serve(ffmpeg_bin, media("single_face.mp4"), port, 3)
    try:
        record, stats = tmp_path / "live.mp4", tmp_path / "live.json"
        result = live(f"tcp://127.0.0.1:{port}", "--passthrough", "--record", record, "--stats", stats, "-q")
    finally:
        server.kill()
    assert result.returncode == 0, result.stderr
    report = json.loads(stats.read_text())
    assert report["frames_in"] >= 60  # 72 frames served in 2.4 s
    assert report["frames_out"] + report["frames_dropped"] == report["frames_in"]
    assert report["latency_ms_median"] is not None and report["latency_ms_median"] < 500
    assert report["series"] and {"fps_in", "fps_out", "latency_ms_p95", "slowest_stage", "stage_ms"} <= set(report["series"][0])
    found = streams(record)
    # every frame shown is recorded at its source time: drops leave the timeline (2.4 s) intact
    assert abs(found["video"][0] - report["frames_out"]) <= 1
    assert found["video"][1] >= 2.0
    assert "audio" in found, "the stream's sound must be recorded"
    assert abs(found["audio"][1] - found["video"][1]) < 0.2  # sound runs up to AudioCursor.LEAD + one AAC frame past the last picture


def test_sound_stays_in_sync_through_a_stream(tmp_path: Path, ffmpeg_bin: str, sync_clip: tuple[Path, list[float]]) -> None:
    from pipeline.media.syncprobe import drift_ms

    clip, times = sync_clip
    assert drift_ms(clip) and max(abs(d) for d in drift_ms(clip)) < 5  # the input is in sync
    port = free_port()
    server = serve(ffmpeg_bin, clip, port, 7)
    try:
        record = tmp_path / "out.mp4"
        result = live(f"tcp://127.0.0.1:{port}", "--passthrough", "--record", record, "-q")
    finally:
        server.kill()
    assert result.returncode == 0, result.stderr
    drifts = drift_ms(record)
    assert len(drifts) >= len(times) - 1, drifts  # the flashes and beeps made it through
    assert max(abs(d) for d in drifts) <= 40, drifts


def test_a_file_is_paced_at_its_own_frame_rate(tmp_path: Path, sync_clip: tuple[Path, list[float]]) -> None:
    clip, _ = sync_clip
    record, stats = tmp_path / "paced.mp4", tmp_path / "paced.json"
    started = time.monotonic()
    result = live(clip, "--passthrough", "--record", record, "--stats", stats, "-q")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    report = json.loads(stats.read_text())
    assert report["frames_in"] == 210  # 7 s at 30 fps: every frame read, none skipped by the source
    assert report["wall_seconds"] >= 6.5 and elapsed >= 6.5  # not as fast as it decodes
    assert report["frames_dropped"] <= 0.2 * report["frames_in"]
    assert abs(streams(record)["video"][1] - 7.0) < 0.2
    # --no-realtime reads as fast as it decodes
    fast = live(clip, "--passthrough", "--no-realtime", "--record", tmp_path / "fast.mp4", "--stats", stats, "-q")
    assert fast.returncode == 0, fast.stderr
    assert json.loads(stats.read_text())["wall_seconds"] < report["wall_seconds"]


def test_ctrl_c_ends_live_gracefully_and_keeps_recording(tmp_path: Path, ffmpeg_bin: str) -> None:
    port = free_port()
    server = serve(ffmpeg_bin, media("WolfgangLanger_Pexels.mp4"), port, 15)
    record = tmp_path / "live.mp4"
    try:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", f"tcp://127.0.0.1:{port}", "--passthrough",
                                    "--record", str(record), "-q"], cwd=REPO, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even if SIGINT is ignored
        deadline = time.time() + 60  # wait until the recording has started (a loaded machine starts slowly)
        while not list(tmp_path.glob(".live.*")) and time.time() < deadline and process.poll() is None:
            time.sleep(0.1)
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        server.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert streams(record)["video"][0] > 24


def test_a_stalled_stream_ends_with_a_message_and_a_valid_recording(tmp_path: Path, ffmpeg_bin: str) -> None:
    port = free_port()
    server = serve(ffmpeg_bin, media("WolfgangLanger_Pexels.mp4"), port, 15)
    record, stats = tmp_path / "stall.mp4", tmp_path / "stall.json"
    try:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", f"tcp://127.0.0.1:{port}", "--passthrough",
                                    "--record", str(record), "--stats", str(stats), "-q"], cwd=REPO, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        server.send_signal(signal.SIGSTOP)  # the server stops for 3 s
        try:
            _, stderr = process.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            _, stderr = process.communicate(timeout=30)
        server.send_signal(signal.SIGCONT)
    finally:
        server.kill()
    assert process.returncode == 1, stderr
    assert "stalled" in stderr and "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if "error" in line]) == 1
    report = json.loads(stats.read_text())
    assert report["ended_by"] == "stall"
    video, seconds = streams(record)["video"]
    assert video >= 10 and seconds > 0.5


@pytest.mark.slow
def test_reconnect_keeps_the_timeline_across_a_server_restart(tmp_path: Path, ffmpeg_bin: str) -> None:
    port = free_port()
    clip = media("WolfgangLanger_Pexels.mp4")
    record, stats = tmp_path / "re.mp4", tmp_path / "re.json"
    server = serve(ffmpeg_bin, clip, port, 3)
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", f"tcp://127.0.0.1:{port}", "--passthrough",
                                "--reconnect", "--set", "capture.reconnect_for=4", "--record", str(record), "--stats", str(stats),
                                "-q"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        server.wait(timeout=20)  # the first server ends after 3 s
        time.sleep(1.0)
        server = serve(ffmpeg_bin, clip, port, 2)  # and comes back
        _, stderr = process.communicate(timeout=60)
    finally:
        server.kill()
        process.kill()
    assert process.returncode == 0, stderr
    report = json.loads(stats.read_text())
    assert report["reconnects"] >= 1
    # both parts are recorded, with the time the source was away kept (the last picture repeated)
    assert streams(record)["video"][1] >= 5.0


def test_live_needs_an_output_and_a_reachable_source(tmp_path: Path) -> None:
    result = live("0", "--passthrough")
    assert result.returncode != 0 and "--record" in result.stderr and "Traceback" not in result.stderr
    result = live(f"tcp://127.0.0.1:{free_port()}", "--passthrough", "--record", tmp_path / "x.mp4",
                  "--set", "capture.open_timeout=1")
    assert result.returncode != 0 and "cannot open stream" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # no recording, no temporary


@pytest.mark.skipif(any(Path("/dev").glob("video*")), reason="this machine has a camera")
def test_no_camera_is_one_line_and_listing_says_so(tmp_path: Path) -> None:
    result = live("0", "--passthrough", "--record", tmp_path / "x.mp4")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line, no OpenCV noise
    assert "no camera 0" in result.stderr and "--list-cameras" in result.stderr
    listing = live("--list-cameras")
    assert listing.returncode == 0 and "no cameras found" in listing.stdout


def test_cameras_are_found_by_index_or_name(tmp_path: Path) -> None:
    from pipeline.errors import FacepipeError
    from pipeline.media.capture import find_camera, list_cameras

    for index, name in ((0, "Integrated Camera: Integrated C"), (2, "HD Pro Webcam C920")):
        (tmp_path / f"video{index}").mkdir()
        (tmp_path / f"video{index}" / "name").write_text(name + "\n")
    if not sys.platform.startswith("linux"):
        pytest.skip("camera names come from Linux sysfs")
    assert [(c.index, c.name) for c in list_cameras(tmp_path)] == [(0, "Integrated Camera: Integrated C"), (2, "HD Pro Webcam C920")]
    assert find_camera("c920", tmp_path) == 2 and find_camera("2", tmp_path) == 2
    with pytest.raises(FacepipeError, match="no camera 1"):
        find_camera("1", tmp_path)
    with pytest.raises(FacepipeError, match="no camera named 'logitech brio'"):
        find_camera("logitech brio", tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux's DISPLAY/WAYLAND_DISPLAY")
@pytest.mark.parametrize("display", [None, ":987"])
def test_window_without_a_display_is_one_line_before_anything_opens(tmp_path: Path, display: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        env["DISPLAY"] = display  # set, but no X server there: probed in a child, never aborts us
    record = tmp_path / "keep.mp4"
    result = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "live", str(media("single_face.mp4")), "--passthrough",
                             "--window", "--record", str(record)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode not in (0, 134) and result.returncode > 0, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "--window" in result.stderr and "--serve" in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())  # nothing opened: no recording, no partial file


def test_serve_gives_mjpeg_and_figures(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", str(media("WolfgangLanger_Pexels.mp4")),
                                "--passthrough", "--serve", f"127.0.0.1:{port}", "--duration", "6", "-q"], cwd=REPO,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, timeout=30)
        time.sleep(1.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            data = b""
            while data.count(b"\xff\xd9") < 3 and len(data) < 5_000_000:
                data += response.read1(65536)
        import cv2

        start = data.index(b"\xff\xd8")
        image = cv2.imdecode(np.frombuffer(data[start:data.index(b"\xff\xd9", start) + 2], np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (360, 640, 3) and image.std() > 20  # a real picture
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats.json", timeout=10) as response:
            figures = json.load(response)
        assert figures["fps_out"] > 1 and figures["latency_ms_p95"] is not None
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_browser_view_in_headless_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "live", str(media("WolfgangLanger_Pexels.mp4")),
                                "--passthrough", "--serve", f"127.0.0.1:{port}", "--duration", "30", "-q"], cwd=REPO,
                               stderr=subprocess.DEVNULL)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--timeout=4000"]
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_listening(port, timeout=30)
        shot = tmp_path / "page.png"
        dom = ""
        for attempt in range(3):  # a loaded machine may start the browser slower than its 4 s page timeout
            subprocess.run([chromium, *flags, f"--user-data-dir={tmp_path / f'profile{attempt}a'}", "--window-size=700,460",
                            f"--screenshot={shot}", url], capture_output=True, timeout=90)
            dom = subprocess.run([chromium, *flags, f"--user-data-dir={tmp_path / f'profile{attempt}b'}", "--dump-dom", url],
                                 capture_output=True, text=True, timeout=90).stdout
            import cv2

            page = cv2.imread(str(shot)) if shot.exists() else None
            if 'id="fps_out">' in dom and page is not None and page[12:372, 12:652].std() > 25:
                break
    finally:
        process.kill()
        process.wait()
    import cv2

    page = cv2.imread(str(shot))
    assert page is not None, "chromium wrote no screenshot"
    video = page[12:372, 12:652]  # where the 640x360 video sits on the page
    assert video.std() > 25, "the video is not shown"
    assert (page[380:430] > 200).any(), "the figures are not shown"  # light text under the video
    # the figures were filled in by the page's script from /stats.json: numbers, not placeholders
    assert 'id="fps_out">' in dom and "waiting for figures" not in dom, dom[-800:]
    fps_out = float(dom.split('id="fps_out">', 1)[1].split("<", 1)[0])
    assert fps_out > 1


def test_virtual_camera_gets_every_output_frame_through_pyvirtualcam(tmp_path: Path) -> None:
    pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is optional (pip install facepipe[virtualcam])")
    from pipeline.media.avsource import StreamSource
    from pipeline.media.capture import CaptureConfig
    from pipeline.media.display import VirtualCameraSink
    from pipeline.runner import Runner

    received: list[np.ndarray] = []
    formats: list[int] = []

    class FakeBackend:  # what v4l2loopback / OBS would receive
        def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
            formats.append(fourcc)

        def send(self, frame: np.ndarray) -> None:
            received.append(frame.copy())

        def close(self) -> None:
            pass

        def device(self) -> str:
            return "fake0"

        def native_fourcc(self) -> int | None:
            return None

    pyvirtualcam.register_backend("facepipe-test", FakeBackend)
    source = StreamSource(str(media("single_face.mp4")), CaptureConfig(realtime=False))
    sink = VirtualCameraSink(backend="facepipe-test")
    source.open()
    stats = Runner(source, [], sink).run()
    assert stats.frames_out == sink.frames_sent == len(received) > 60
    # the device gets our pictures, as BGR, unaltered
    reference = StreamSource(str(media("single_face.mp4")), CaptureConfig(realtime=False))
    reference.open()
    try:
        first = next(iter(reference.frames())).image
    finally:
        reference.close()
    assert formats == [pyvirtualcam.camera.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)]
    assert np.array_equal(received[0].reshape(first.shape), first)


def test_every_output_option_has_a_table_entry() -> None:
    from pipeline.media.sinks import SINK_OPTIONS, SINKS

    assert set(SINK_OPTIONS) == set(SINKS)
    for name in SINKS:
        assert callable(SINKS.load(name))


@pytest.mark.slow
def test_stream_output_carries_sound(tmp_path: Path, ffmpeg_bin: str, sync_clip: tuple[Path, list[float]]) -> None:
    from pipeline.cli.livestatus import status_line

    clip, _ = sync_clip
    port = free_port()
    received = tmp_path / "received.ts"
    listener = subprocess.Popen([ffmpeg_bin, "-v", "error", "-y", "-i", f"tcp://127.0.0.1:{port}?listen=1", "-c", "copy",
                                 str(received)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        stats = tmp_path / "s.json"
        result = live(clip, "--passthrough", "--stream", f"tcp://127.0.0.1:{port}", "--duration", "4", "--stats", stats, "-q")
        listener.wait(timeout=30)
    finally:
        listener.kill()
    assert result.returncode == 0, result.stderr
    found = streams(received)
    assert found["video"][0] >= 60 and "audio" in found  # 120 frames in 4 s, fewer when a loaded machine drops some
    # the status line shows what the issue asks for, from the run's own figures
    line = status_line(json.loads(stats.read_text())["series"][-1])
    for word in ("in ", "out ", "dropped", "p50", "p95", "slowest"):
        assert word in line


def test_live_swap_with_the_live_profile_changes_the_person(tmp_path: Path) -> None:
    """The default live session (swap stages, ``LIVE_PROFILE``'s cheaper landmarks and detection) on a
    paced file: the recorded face (a woman's) is nearer the bundled woman than the woman it started as."""
    from stages.faces.identity import identity_distance, mean_embedding
    from tests.conftest import read_frames
    from tests.identity_check import frame_embeddings, video_embeddings

    target = "people/lp_d3_woman_hoop_earrings_expressions.mp4"
    record, stats = tmp_path / "live.mp4", tmp_path / "live.json"
    result = live(media(target), "--record", record, "--stats", stats, "-q", "--duration", "2.5")
    assert result.returncode == 0, result.stderr
    report = json.loads(stats.read_text())
    assert report["profile"]["detect"] == {"detect_size": 320}
    frames = read_frames(record)
    assert len(frames) >= 5, f"only {len(frames)} frames recorded"
    out = frame_embeddings({i: frames[i] for i in range(0, len(frames), max(1, len(frames) // 4))})
    assert len(out) >= 3, "no face found in the recording"
    started = mean_embedding(list(video_embeddings(media(target), step=12).values()))
    goal = mean_embedding(list(video_embeddings(media("WolfgangLanger_Pexels.mp4"), step=24).values()))  # the bundled woman
    for index, embedding in out.items():
        assert identity_distance(embedding, goal) < identity_distance(embedding, started), f"frame {index}: not swapped"
