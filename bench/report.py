"""Benchmark figures written into a markdown page by the script that measures them.

A page (docs/benchmarks.md) holds one block per benchmark between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``. A bench script run with ``--markdown PATH`` replaces its own block and leaves
every other byte of the page alone, so the page only ever holds figures a script printed, each headed
by when, where and from which commit it was measured. Nobody pastes figures by hand.

    from bench.report import add_options, begin_run, publish, table

    parser = argparse.ArgumentParser(); add_options(parser, "convert")
    args = parser.parse_args(); run = begin_run(args)       # load average at the start of the measurement
    ...
    publish(args, run, table(["clip", "fps"], rows))      # no-op without --markdown
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class RunInfo:
    """Where and when a measurement ran; taken before the work starts, so the load is the load it met."""

    date: str
    machine: str
    load: float | None
    commit: str
    command: str

    def header(self) -> str:
        load = "unknown" if self.load is None else f"{self.load:.2f}"
        return (f"_Measured {self.date} on {self.machine}, load average {load} at the start, "
                f"commit `{self.commit}`, by `{self.command}`._")


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo; elsewhere what platform reports)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return " ".join(line.split(":", 1)[1].split())
    return platform.processor() or platform.machine() or "unknown CPU"


def git_commit(repo: Path = REPO, ignore: Iterable[Path] = ()) -> str:
    """Short hash of HEAD, plus ``+dirty`` when the tree has changes other than the ``ignore`` files
    (the page being written must not mark the next section dirty); ``unknown`` outside a git clone."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        top = Path(git("rev-parse", "--show-toplevel").strip()).resolve()
        status = git("status", "--porcelain", "-z")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    skip = {p.resolve() for p in ignore}
    entries = [e for e in status.split("\0") if e]
    changed, i = [], 0
    while i < len(entries):
        code, path = entries[i][:2], entries[i][3:]
        changed.append(top / path)
        i += 2 if code[0] in "RC" else 1  # a rename's entry is followed by its old path
    dirty = any(path.resolve() not in skip for path in changed)
    return commit + ("+dirty" if dirty else "")


def snapshot(ignore: Iterable[Path | str] = ()) -> RunInfo:
    """Date, machine, load average and commit now: call it before measuring."""
    try:
        load: float | None = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = None
    machine = f"{cpu_model()} ({os.cpu_count() or '?'} cores)"
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return RunInfo(date, machine, load, git_commit(ignore=[Path(p) for p in ignore]), _command_line())


def _command_line() -> str:
    """This run's command line without the --markdown/--section options, as a reader would re-run it."""
    argv, out, skip = sys.argv[1:], [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--markdown", "--section"):
            skip = True
            continue
        if arg.startswith(("--markdown=", "--section=")):
            continue
        out.append(arg)
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(REPO)
    return "python " + " ".join(shlex.quote(a) for a in [str(script), *out])


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def render_section(name: str, body_markdown: str, run: RunInfo) -> str:
    """The whole block, markers included, ending in a newline."""
    start, end = _markers(name)
    return f"{start}\n{run.header()}\n\n{body_markdown.strip()}\n{end}\n"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise writers of one folder, so two bench runs finishing together lose neither section."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the rename still keeps the file whole
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def check_section_name(value: str) -> str:
    """A section name that cannot break its markers (also an argparse ``type``)."""
    if not _NAME.match(value):
        raise ValueError(f"bad section name {value!r}: use letters, digits, '.', '_' or '-'")
    return value


def write_section(markdown_path: str | Path, section_name: str, body_markdown: str, run: RunInfo | None = None) -> None:
    """Replace the block of ``section_name`` in ``markdown_path`` (append it, under a heading, when the page
    has none), heading it with ``run`` (default: taken now). Other bytes stay as they are; the page is
    written to a temporary file beside it and renamed, so a reader never sees half a page."""
    check_section_name(section_name)
    path = Path(markdown_path)
    if run is None:
        run = snapshot(ignore=[path])
    block = render_section(section_name, body_markdown, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        start, end = _markers(section_name)
        first = text.find(start)
        if first >= 0:
            last = text.find(end, first)
            if last < 0:
                raise ValueError(f"{path}: {start} has no closing {end}")
            if text.find(start, first + len(start)) >= 0:
                raise ValueError(f"{path}: section {section_name!r} appears twice")
            stop = last + len(end)
            if text[stop:stop + 1] == "\n":
                stop += 1
            new = text[:first] + block + text[stop:]
        else:
            sep = "" if not text else "\n" if text.endswith("\n") else "\n\n"
            new = f"{text}{sep}## {section_name}\n\n{block}"
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(new)
                handle.flush()
                os.fsync(handle.fileno())
            if path.exists():
                os.chmod(temp, path.stat().st_mode & 0o7777)
            else:
                os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table; cells are written as given (format numbers before)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def add_options(parser: argparse.ArgumentParser, section: str) -> None:
    """``--markdown PATH --section NAME``: where the script writes its table(s)."""
    group = parser.add_argument_group("report")
    group.add_argument("--markdown", metavar="PATH", help="also write the table(s) into this markdown page, "
                       "replacing this script's section (e.g. docs/benchmarks.md)")
    group.add_argument("--section", metavar="NAME", default=section, type=_section_arg,
                       help=f"section name in that page (default {section})")


def _section_arg(value: str) -> str:
    try:
        return check_section_name(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def begin_run(args: argparse.Namespace) -> RunInfo:
    """The run's header facts, taken now (before measuring; the target page does not count as a change).
    A --markdown path that cannot be written is refused here, before minutes of measuring."""
    target = getattr(args, "markdown", None)
    if target:
        path = Path(target)
        if path.is_dir():
            raise SystemExit(f"--markdown {target}: is a folder, not a markdown file")
        if path.parent.exists() and not os.access(path.parent, os.W_OK):
            raise SystemExit(f"--markdown {target}: cannot write into {path.parent}")
    return snapshot(ignore=[target] if target else [])


def publish(args: argparse.Namespace, run: RunInfo, body_markdown: str) -> None:
    """Write ``body_markdown`` into ``args.markdown`` (nothing without ``--markdown``)."""
    if getattr(args, "markdown", None):
        write_section(args.markdown, args.section, body_markdown, run)
        print(f"wrote section {args.section!r} of {args.markdown}", file=sys.stderr)
