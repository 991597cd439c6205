"""``facepipe live SOURCE``: a camera or stream through the face stages, out to a window, a stream,
a virtual camera and/or a recording, in real time (frames are dropped, never queued, when behind)."""

from __future__ import annotations

import argparse
import signal
import statistics

from pipeline.cli.commands.common import add_config_options, write_json_atomic
from pipeline.compose import build_stages
from stages import STAGES
from pipeline.cli.settings import load_config
from pipeline.errors import FacepipeError
from pipeline.io import FanOut, LatencyMeter, Sink
from pipeline.cli.progress import console, warn
from pipeline.runner import Runner
from pipeline.media.capture import LiveSource
from pipeline.media.display import StreamSink, VirtualCameraSink, WindowSink
from pipeline.media.encode import FileSink, check_output_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("live", help="real-time: camera index or stream URL in; window/stream/virtual camera out",
                                   description="Process a live source in real time. SOURCE is a camera index (0) or a "
                                               "URL (udp://, tcp://, rtsp://, http://...).")
    parser.add_argument("source", help="camera index or stream URL")
    parser.add_argument("--window", action="store_true", help="show the output in a window (q or Esc quits)")
    parser.add_argument("--stream", metavar="URL", help="send the output as a live stream (udp://, tcp://, rtmp://, rtsp://)")
    parser.add_argument("--virtual-camera", action="store_true", help="send the output to a virtual webcam (pyvirtualcam)")
    parser.add_argument("--record", metavar="FILE", help="also record the output to a video file")
    parser.add_argument("--passthrough", action="store_true", help="run no face stages")
    parser.add_argument("--stats", metavar="JSON", help="write timings, dropped frames and latency to this file")
    parser.add_argument("--overwrite", "-y", action="store_true", help="replace the --record file if it exists")
    add_config_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, list(args.set) + (["pipeline.stages=[]"] if args.passthrough else []))
    source = LiveSource(args.source, config.capture)
    sinks: list[Sink] = []
    if args.record:
        sinks.append(FileSink(check_output_path(args.record, [args.source], args.overwrite), config.encode))
    if args.window:
        sinks.append(WindowSink(on_quit=source.stop))
    if args.stream:
        sinks.append(StreamSink(args.stream))
    if args.virtual_camera:
        sinks.append(VirtualCameraSink())
    if not sinks:
        raise FacepipeError("say where the output goes: --window, --stream URL, --virtual-camera and/or --record FILE")
    info = source.open()
    from pipeline.cli.video_job import reference_extras

    extras = reference_extras(config, list(config.pipeline.stages), args.quiet)
    stages, contexts = build_stages(config, STAGES, list(config.pipeline.stages), info, warn, extras)
    sink = LatencyMeter(FanOut(sinks))
    if not args.quiet:
        console.print(f"live: {args.source} {info.width}x{info.height} at {info.fps:.0f} fps; Ctrl-C stops")
    # one frame per hop: a queued frame is latency; the runner drops at the source instead
    runner = Runner(source, stages, sink, queue_frames=1, contexts=contexts)
    # Ctrl-C is the normal way to end a live session: stop reading, flush what is queued, keep the recording
    previous = signal.signal(signal.SIGINT, lambda *_: source.stop())
    try:
        stats = runner.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    latency = sorted(sink.latencies)
    summary = {"frames_in": stats.frames_in, "frames_out": stats.frames_out, "frames_dropped": stats.frames_dropped,
               "fps": round(stats.fps, 2),
               "latency_ms_median": round(1000 * statistics.median(latency), 1) if latency else None,
               "latency_ms_p95": round(1000 * latency[int(0.95 * (len(latency) - 1))], 1) if latency else None}
    if args.stats:
        write_json_atomic(args.stats, {**stats.as_dict(), **summary})
    if not args.quiet:
        console.print(f"live: {summary['frames_out']} frames shown, {summary['frames_dropped']} dropped, "
                      f"{summary['fps']} fps, median latency {summary['latency_ms_median']} ms")
    return 0
