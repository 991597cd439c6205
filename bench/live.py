"""Live figures: a real clip served over loopback TCP in real time, through ``facepipe live``.

Usage: python bench/live.py [--modes passthrough,swap] [--sizes 640x360,1280x720] [--seconds 20]
                            [--clip FILE] [--set KEY=VALUE ...] [--soak-minutes 0] [--full-quality]
                            [--markdown docs/benchmarks.md [--section live]]

For each mode and size: makes a clip from a real face clip (looped to --seconds) with a white flash and
a beep at the same instants every 2 s, serves it with ``ffmpeg -re ... -f mpegts tcp://127.0.0.1:P?listen=1``
(sound included), runs ``facepipe live tcp://... --record out.mp4 --stats s.json`` (the default swap,
or --passthrough), and prints fps out, the drop rate, latency p50/p95/p99 (capture to every output
having taken the frame), the audio drift (beep minus flash in the recording) and the peak RSS.
``--soak-minutes 10`` runs one long session instead and prints the RSS at 1 minute and at the end.
Only 127.0.0.1 is used. With --markdown the same figures go into that page's section as a table
(bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import add_options, begin_run, publish, table  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from pipeline.media.syncprobe import drift_ms, make_sync_clip  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "media" / "WolfgangLanger_Pexels.mp4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f":{port:04X} 00000000:0000 0A" in Path("/proc/net/tcp").read_text():
            return
        time.sleep(0.05)
    raise SystemExit(f"the server did not listen on {port}")


def run_one(clip: Path, mode: str, seconds: float, work: Path, extra: list[str]) -> dict:
    port = free_port()
    server = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-re", "-stream_loop", "-1", "-i", str(clip), "-t", str(seconds),
                               "-map", "0", "-c", "copy", "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        record, stats = work / f"{mode}.mp4", work / f"{mode}.json"
        command = [sys.executable, "-m", "pipeline.cli.main", "live", f"tcp://127.0.0.1:{port}", "--record", str(record),
                   "--stats", str(stats), "-q", "-y"] + (["--passthrough"] if mode == "passthrough" else []) + extra
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=seconds * 3 + 120)
    finally:
        server.kill()
        server.wait()
    if result.returncode != 0:
        raise SystemExit(f"facepipe live failed: {result.stderr.strip()}")
    report = json.loads(stats.read_text())
    report["drift_ms"] = drift_ms(record)
    return report


def stage_summary(report: dict) -> str:
    steps = report.get("steps", {})
    return ", ".join(f"{name} {step['ms_per_frame']:.0f}" for name, step in steps.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="passthrough,swap")
    parser.add_argument("--sizes", default="640x360,1280x720")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--set", action="append", default=[], help="passed to facepipe live --set")
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument("--full-quality", action="store_true", help="passed to facepipe live (convert's stage settings)")
    add_options(parser, "live")
    args = parser.parse_args()
    if not args.clip.is_file():
        raise SystemExit(f"bench/live.py: clip not found: {args.clip}")
    if args.soak_minutes and not any(a == "--section" or a.startswith("--section=") for a in sys.argv[1:]):
        args.section = "live-soak"  # a soak keeps the speed table beside it
    run = begin_run(args)
    settings = " ".join([f"`--set {v}`" for v in args.set] + ["`--full-quality`"] * args.full_quality) or "none"
    extra = [arg for value in args.set for arg in ("--set", value)] + (["--full-quality"] if args.full_quality else [])
    with tempfile.TemporaryDirectory(prefix="facepipe-bench-live-") as folder:
        work = Path(folder)
        if args.soak_minutes:
            seconds = 60 * args.soak_minutes
            clip = work / "soak.mp4"
            make_sync_clip(args.clip, clip, 60.0, size=args.sizes.split(",")[0])
            report = run_one(clip, args.modes.split(",")[-1], seconds, work, extra)
            series = report["series"]
            at_1 = max((row["rss_mb"] for row in series if row["t"] <= 60), default=None)
            peak = max(row["rss_mb"] for row in series)
            end = report["rss_mb_end"] if "rss_mb_end" in report else series[-1]["rss_mb"]
            mode, size = args.modes.split(",")[-1], args.sizes.split(",")[0]
            print(f"soak {args.soak_minutes:g} min, {mode} {size}: "
                  f"peak RSS {at_1} MB in the first minute, {peak} MB overall, "
                  f"{end} MB at the end; "
                  f"fps {report['fps']}, dropped {report['dropped_pct']}%, p95 {report['latency_ms_p95']} ms")
            publish(args, run, f"Memory soak: one `facepipe live` session of {args.soak_minutes:g} min on `{args.clip.name}` "
                    f"(looped, served over loopback TCP in real time, `--record` on); extra settings: {settings}.\n\n"
                    + table(["mode", "size", "peak RSS MB, first minute", "peak RSS MB, overall", "RSS MB at the end",
                             "fps out", "dropped", "p95 latency ms"],
                            [(mode, size, at_1, peak, end, report["fps"], f"{report['dropped_pct']}%", report["latency_ms_p95"])]))
            return
        print(f"{'mode':<12}{'size':<11}{'fps out':>8}{'dropped':>9}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
              f"{'drift ms (max |d|)':>20}{'RSS MB':>8}  busy ms/frame per step")
        rows: list[tuple[str, ...]] = []
        for size in args.sizes.split(","):
            clip = work / f"clip_{size}.mp4"
            make_sync_clip(args.clip, clip, min(args.seconds, 30.0), size=size)
            for mode in args.modes.split(","):
                report = run_one(clip, mode, args.seconds, work, extra)
                drifts = report["drift_ms"]
                drift = f"{max(abs(d) for d in drifts):.0f} (n={len(drifts)})" if drifts else "none found"
                print(f"{mode:<12}{size:<11}{report['fps']:>8.1f}{report['dropped_pct']:>8.1f}%"
                      f"{report['latency_ms_median']:>8.0f}{report['latency_ms_p95']:>8.0f}{report['latency_ms_p99']:>8.0f}"
                      f"{drift:>20}{report['peak_rss_mb']:>8.0f}  {stage_summary(report)}", flush=True)
                rows.append((mode, size, f"{report['fps']:.1f}", f"{report['dropped_pct']:.1f}%",
                             f"{report['latency_ms_median']:.0f} / {report['latency_ms_p95']:.0f} / {report['latency_ms_p99']:.0f}",
                             drift, f"{report['peak_rss_mb']:.0f}", stage_summary(report) or "-"))
    publish(args, run, f"`{args.clip.name}` with a flash and a beep every 2 s, served over loopback TCP in real time for "
            f"{args.seconds:g} s, through `facepipe live --record`; extra settings: {settings}. Latency = capture to every "
            "output having taken the frame; drift = beep minus flash in the recording; busy = each step's own time per frame.\n\n"
            + table(["mode", "size", "fps out", "dropped", "latency p50 / p95 / p99 ms", "audio drift ms (max, pairs)",
                     "peak RSS MB", "busy ms/frame per step"], rows))


if __name__ == "__main__":
    main()
