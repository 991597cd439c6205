"""``--serve HOST:PORT``: the output as an MJPEG stream and a small page with the live figures.

The natural monitor on a headless box or a remote GPU machine: any browser shows it, no plug-in.
The standard library's threading HTTP server is enough (one thread per viewer). Routes:

- ``/``: the page (the video and the figures, refreshed twice a second from ``/stats.json``);
- ``/stream.mjpg``: ``multipart/x-mixed-replace`` JPEGs, one part per output frame;
- ``/frame.jpg``: the latest frame; ``/stats.json``: the live figures.

A frame is JPEG-encoded once, in the output thread, and only while someone watches. There is no
authentication, so the server binds to loopback (``--serve PORT`` = 127.0.0.1:PORT); any other address
needs ``public=True`` (``--serve-public``). Whatever the address, a request whose ``Host`` header is not
the address it came in on or ``localhost`` (with the port) gets 403: a web page cannot reach the camera
through a name it rebinds to 127.0.0.1 (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.sinkcontext import SinkContext
from pipeline.videoinfo import VideoInfo

BOUNDARY = "facepipeframe"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>facepipe live</title>
<style>
 body { background:#111; color:#eee; font:15px/1.4 system-ui, sans-serif; margin:12px; }
 #video { max-width:100%; border:1px solid #333; display:block; }
 #figures { margin-top:8px; font-family:ui-monospace, monospace; font-size:16px; }
 #figures span { margin-right:18px; } b { color:#8cf; }
</style></head>
<body>
<img id="video" src="/stream.mjpg" alt="live output">
<div id="figures">waiting for figures…</div>
<script>
const show = (s) => {
  const f = (v, d) => (v === null || v === undefined) ? "–" : Number(v).toFixed(d);
  document.getElementById("figures").innerHTML =
    `<span>in <b id="fps_in">${f(s.fps_in, 1)}</b> fps</span>` +
    `<span>out <b id="fps_out">${f(s.fps_out, 1)}</b> fps</span>` +
    `<span>dropped <b id="dropped">${f(s.dropped_pct, 1)}</b> %</span>` +
    `<span>latency p50 <b id="p50">${f(s.latency_ms_p50, 0)}</b> / p95 <b id="p95">${f(s.latency_ms_p95, 0)}</b> ms</span>` +
    `<span>slowest <b id="slowest">${s.slowest_stage || "–"}</b></span>`;
};
const first = __FIRST_FIGURES__;  // the figures when the page was served: shown from the first paint
if (first && first.fps_out !== undefined) show(first);
const poll = () => fetch("/stats.json", {cache: "no-store"}).then(r => r.json()).then(show).catch(() => {});
poll(); setInterval(poll, 500);
</script>
</body></html>
"""


LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: the addresses only this machine reaches."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(address: str, public: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (= 127.0.0.1:PORT) as (host, port); refuses a bad port and, unless
    ``public``, a host other than loopback (the server has no authentication)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or ("" if _ else "127.0.0.1")
    if not host or not port.isdigit():
        raise FacepipeError(f"--serve {address}: give HOST:PORT or PORT, e.g. 127.0.0.1:8080")
    number = int(port)
    if not 1 <= number <= 65535:
        raise FacepipeError(f"--serve {address}: port {number} is out of range; use 1 to 65535")
    if not public and not is_loopback(host):
        raise FacepipeError(f"--serve {address}: {host} is not loopback, and the view has no authentication; "
                            "add --serve-public to serve it to the network anyway, or use 127.0.0.1")
    return host, number


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sink: "ServeSink"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the status line is the log
        pass

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _host_allowed(self) -> bool:
        """The ``Host`` header names this server by the address it was reached on, or localhost; with the port."""
        sink = self.server.sink
        given = (self.headers.get("Host") or "").strip().lower()
        local = self.connection.getsockname()[0]
        names = {sink.host.lower(), local.lower(), "localhost"}
        if is_loopback(local):
            names.add("127.0.0.1")
        allowed = {f"{n}:{sink.port}" if ":" not in n else f"[{n}]:{sink.port}" for n in names}
        if sink.port == 80:  # a browser leaves the default port out
            allowed |= {n if ":" not in n else f"[{n}]" for n in names}
        return given in allowed

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        sink = self.server.sink
        if not self._host_allowed():
            self.send_error(403, "Host not allowed")
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            figures = json.dumps(sink.stats()).replace("</", "<\\/")  # never ends the <script> early
            self._send(PAGE.replace("__FIRST_FIGURES__", figures).encode(), "text/html; charset=utf-8")
        elif path == "/stats.json":
            self._send(json.dumps(sink.stats()).encode(), "application/json")
        elif path == "/frame.jpg":
            jpeg = sink.wait_frame(0, timeout=5.0)[1]
            if jpeg is None:
                self.send_error(503, "no frame yet")
            else:
                self._send(jpeg, "image/jpeg")
        elif path == "/stream.mjpg":
            self._stream(sink)
        else:
            self.send_error(404)

    def _stream(self, sink: "ServeSink") -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen = 0
        with sink.viewer():
            try:
                while not sink.closed:
                    seen, jpeg = sink.wait_frame(seen, timeout=1.0)
                    if jpeg is None:
                        continue
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode())
                    self.wfile.write(jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer left


class ServeSink:
    """Serves the output frames over HTTP as MJPEG, with a page showing them and the live figures."""

    def __init__(self, address: str, stats: Callable[[], dict] | None = None, quality: int = 80,
                 public: bool = False) -> None:
        self.host, self.port = parse_address(address, public)
        self.public = not is_loopback(self.host)
        self.stats = stats or (lambda: {})
        self.quality = quality
        self.closed = False
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._number = 0
        self._viewers = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        try:  # bind now, so a taken port is an error before the source opens
            self._server = _Server((self.host, self.port), _Handler)
        except (OSError, OverflowError) as exc:
            raise FacepipeError(f"--serve {address}: {getattr(exc, 'strerror', None) or exc}") from None
        self._server.sink = self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def open(self, info: VideoInfo) -> None:
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="serve", daemon=True)
        self._thread.start()

    def viewer(self) -> "_Viewer":
        return _Viewer(self)

    def wait_frame(self, seen: int, timeout: float) -> tuple[int, bytes | None]:
        """The next frame after number ``seen`` (or the latest, for ``seen=0``), waiting up to ``timeout``."""
        with self._cond:
            if self._number <= seen or self._jpeg is None:
                self._cond.wait(timeout)
            if self._number <= seen:
                return seen, None
            return self._number, self._jpeg

    def write(self, frame: Frame) -> None:
        if self._viewers == 0 and self._jpeg is not None:
            return  # nobody watches: skip the JPEG work (the first frame is kept for /frame.jpg)
        import cv2

        ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            with self._cond:
                self._jpeg = data.tobytes()
                self._number += 1
                self._cond.notify_all()

    def close(self, ok: bool) -> None:
        self.closed = True
        with self._cond:
            self._cond.notify_all()
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
            server.server_close()


class _Viewer:
    def __init__(self, sink: ServeSink) -> None:
        self.sink = sink

    def __enter__(self) -> None:
        with self.sink._cond:
            self.sink._viewers += 1

    def __exit__(self, *exc: object) -> None:
        with self.sink._cond:
            self.sink._viewers -= 1


def serve_sink(value: str, context: SinkContext, public: bool = False) -> ServeSink:
    """``public``: ``--serve-public`` was given, so a non-loopback address is allowed."""
    return ServeSink(value, stats=context.stats, public=public)
