"""``facepipe live SOURCE``: a camera, a stream or a file through the face stages, in real time, out to a
recording, a stream, a browser, a window and/or a virtual camera.

Frames are dropped, never queued, when compute falls behind: each hop holds at most one frame. Sound
(streams and files) is carried by ``--record`` and ``--stream``, held back by the video latency. The
figures (fps in/out, drops, latency p50/p95, the slowest stage) are shown on a status line twice a
second, served to the browser page, and written with a per-second series by ``--stats``.

Speed comes first: unless ``--full-quality`` is given, ``LIVE_PROFILE`` replaces a few of convert's
defaults with cheaper ones (the user's config file and ``--set`` still win over it).

How a session ends: the source ends (exit 0), Ctrl-C/SIGTERM/q (exit 0), or the stream stalls for
``capture.stall_timeout`` s (exit 1 unless ``--reconnect`` brings it back). In every case the
recording made so far is finalised and valid.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from pipeline.cli.commands.common import add_config_options
from pipeline.cli.livestatus import LatencyMeter, LiveMonitor, status_line, summary
from pipeline.cli.progress import console, warn
from pipeline.cli.settings import add_face_option, face_overrides, load_config, prepare_face_bank
from pipeline.media.atomic import write_json
from pipeline.errors import FacepipeError
from pipeline.io import FanOut, Sink
from pipeline.media.sinkcontext import SinkContext
from pipeline.media.sinks import SINK_OPTIONS, SINKS


# What live trades for speed, measured on 640x360 (README, "Live"). Convert keeps the careful settings;
# live has no time for them. Each line names what it saves.
LIVE_PROFILE: dict[str, dict[str, Any]] = {
    # detect on a 320-px copy: 21 -> 6 ms a frame at 640x360. A webcam face is large; the cost is faces
    # under ~60 px of a 1280x720 frame (~30 px at 640x360), which --full-quality still finds
    "detect": {"detect_size": 320},
    # 128-px aligned crops instead of 256: the crop-sized work of strip, swap and blend (warps, masks,
    # the occlusion segmenter's input) shrinks 4x; the frame's detail finer than the crop is lost (at
    # 640x360: slightly softer skin texture, docs/live-profile.png)
    "align": {"size": 128},
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live", help="real-time: camera, stream URL or file in; recording/stream/browser/window/virtual camera out",
        description="Process a live source in real time. SOURCE is a camera index (0) or name (see --list-cameras), "
                    "a URL (udp://, tcp://, rtsp://, http://...) or a video file (paced at its own frame rate).")
    parser.add_argument("source", nargs="?", help="camera index or name, stream URL, or video file")
    parser.add_argument("--list-cameras", action="store_true", help="list the cameras by index and name, then exit")
    for name, (metavar, text) in SINK_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if metavar is None:
            parser.add_argument(flag, dest=name, action="store_true", help=text)
        else:
            parser.add_argument(flag, dest=name, metavar=metavar, help=text)
    parser.add_argument("--serve-public", action="store_true",
                        help="let --serve bind an address other than loopback (0.0.0.0, a LAN address): anyone who "
                             "reaches the port sees the video, there is no authentication")
    parser.add_argument("--passthrough", action="store_true", help="run no face stages")
    add_face_option(parser)
    parser.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=None,
                        help="pace a file source at its frame rate (default: on; --no-realtime reads as fast as it decodes)")
    parser.add_argument("--full-quality", action="store_true",
                        help="use convert's stage settings instead of live's faster profile (slower, steadier landmarks)")
    parser.add_argument("--reconnect", action="store_true", help="reopen a stream that stalls or ends, with back-off")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    parser.add_argument("--stats", metavar="JSON", help="write the figures, per-stage timings and a per-second series here")
    parser.add_argument("--overwrite", "-y", action="store_true", help="replace the --record file if it exists")
    add_config_options(parser)
    parser.set_defaults(func=main)


def _list_cameras() -> int:
    from pipeline.media.capture import list_cameras

    cameras = list_cameras()
    if not cameras:
        print("no cameras found")
    for camera in cameras:
        print(f"{camera.index}\t{camera.name}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.list_cameras:
        return _list_cameras()
    if not args.source:
        raise FacepipeError("give a SOURCE (camera index or name, stream URL or file), or --list-cameras")
    overrides = list(args.set) + (["pipeline.stages=[]"] if args.passthrough else []) + face_overrides(args.face)
    if args.realtime is not None:
        overrides.append(f"capture.realtime={'true' if args.realtime else 'false'}")
    if args.reconnect:
        overrides.append("capture.reconnect=true")
    if args.duration is not None:
        overrides.append(f"capture.duration={args.duration}")
    profile = {} if args.full_quality else LIVE_PROFILE
    config = load_config(args.config, overrides, profile=profile, profile_name="live profile")
    chosen = [name for name in SINKS if getattr(args, name, None)]
    if not chosen:
        raise FacepipeError("say where the output goes: " + ", ".join("--" + n.replace("_", "-") for n in SINK_OPTIONS))
    if args.serve:  # a bad or non-loopback address is refused before the face bank, the source or any output
        from pipeline.media.mjpeg import is_loopback, parse_address

        host, port = parse_address(args.serve, public=args.serve_public)
        if not is_loopback(host):  # loud even with -q: this exposes a camera
            print(f"facepipe: warning: --serve-public: serving on {host}:{port} with no authentication; anyone "
                  f"who can reach this port sees the video", file=sys.stderr, flush=True)
    elif args.serve_public:
        raise FacepipeError("--serve-public goes with --serve HOST:PORT")
    prepare_face_bank(config, args.quiet)  # before any output or source opens: it can take a while

    from pipeline.compose import build_stages
    from pipeline.media.sources import open_live_source
    from pipeline.runner import Runner
    from stages import STAGES

    source: Any = open_live_source(args.source, config.capture)
    holder: dict[str, LiveMonitor] = {}
    context = SinkContext(config=config, source=source, source_spec=args.source, overwrite=args.overwrite,
                          on_quit=source.stop, stats=lambda: holder["monitor"].snapshot() if "monitor" in holder else {})
    # every output is built (and checked) before the source opens: a bad path, no display or a taken
    # port is an error before a camera or a stream is touched
    sinks: list[Sink] = []
    try:
        for name in chosen:
            extra = {"public": args.serve_public} if name == "serve" else {}
            sinks.append(SINKS.load(name)(getattr(args, name), context, **extra))
    except BaseException:
        _discard(sinks)  # a port bound by an earlier output is released, a recording's name left unused
        raise
    try:
        info = source.open()
    except BaseException:
        _discard(sinks)
        raise
    from pipeline.cli.video_job import reference_embedding_for

    reference = reference_embedding_for(config, list(config.pipeline.stages))
    stages, contexts = build_stages(config, STAGES, list(config.pipeline.stages), info, warn, reference)
    meter = LatencyMeter(FanOut(sinks))
    if not args.quiet:
        sound = "with sound" if getattr(source, "audio", None) is not None else "no sound"
        served = [f"  browser: {sink.url}" for sink in sinks if hasattr(sink, "url")]
        console.print(f"live: {args.source} {info.width}x{info.height} at {info.fps:.2f} fps, {sound}; "
                      f"Ctrl-C stops" + "".join(served))
    # a queued frame is latency: at most capture.max_in_flight frames in the stages; the runner drops at the source
    runner = Runner(source, stages, meter, queue_frames=1, contexts=contexts, max_in_flight=config.capture.max_in_flight,
                    threads=config.capture.stage_threads)
    monitor = LiveMonitor(runner.stats, meter, show=not args.quiet and sys.stderr.isatty())
    holder["monitor"] = monitor
    # Ctrl-C and SIGTERM are the normal ways to end a live session: stop reading, flush, keep the recording
    # (a second signal interrupts at once, should the graceful stop hang)
    signals_seen: list[int] = []

    def on_signal(number: int, _frame: Any) -> None:
        signals_seen.append(number)
        if len(signals_seen) > 1:
            raise KeyboardInterrupt
        source.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with monitor:
            stats = runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    figures = summary(stats, meter, monitor)
    figures["ended_by"] = getattr(source, "ended_by", "") or "end"
    figures["reconnects"] = getattr(source, "reconnects", 0)
    figures["profile"] = profile
    if args.stats:
        write_json(args.stats, {**stats.as_dict(), **figures, "series": monitor.series})
    if not args.quiet:
        if monitor.latest:
            console.print(status_line(monitor.latest))
        console.print(f"live: {figures['frames_out']} frames out, {figures['frames_dropped']} dropped "
                      f"({figures['dropped_pct']}%), {figures['fps']} fps, latency p50 {figures['latency_ms_median']} ms "
                      f"p95 {figures['latency_ms_p95']} ms")
    if figures["ended_by"] == "stall":
        reason = getattr(source, "error", "") or "no data"
        kept = " the recording so far is kept;" if args.record else ""
        console.print(f"facepipe: error: the source stalled ({reason}; nothing for {config.capture.stall_timeout:g} s);"
                      f"{kept} --reconnect retries", soft_wrap=True)
        return 1
    return 0


def _discard(sinks: list[Sink]) -> None:
    """Outputs built but never opened: release what their factories took (a bound port, a temporary name)."""
    for sink in sinks:
        try:
            sink.close(False)
        except Exception:  # noqa: BLE001 - the open error is the one to report
            pass
