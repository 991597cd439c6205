"""The ``facepipe`` entry point: parses arguments, runs a subcommand, turns errors into one line.

Every user-fixable problem is a :class:`FacepipeError`: printed as ``facepipe: error: ...`` with a
non-zero exit and no traceback. Ctrl-C, SIGTERM (``kill``, ``timeout``) and SIGHUP (a closed
terminal) all unwind the same way: the command cleans up, nothing half-written stays at any
path, and the exit status is 130 (Ctrl-C) or 128 + the signal number.

Subcommand modules are imported only for the command that runs (``--help`` lists them from a
table of one-line descriptions), so ``facepipe --help`` and ``facepipe config`` start without
torch or OpenCV.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from pipeline import __version__
from pipeline.cli.commands import COMMANDS
from pipeline.errors import FacepipeError, Stopped


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (the others are listed from ``COMMANDS``)."""
    parser = argparse.ArgumentParser(prog="facepipe", description="Video face pipeline: " + ", ".join(COMMANDS) + ".")
    parser.add_argument("--version", action="version", version=f"facepipe {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if name != command:
            subparsers.add_parser(name, help=summary, add_help=False)
            continue
        importlib.import_module(f"pipeline.cli.commands.{name}").register(subparsers)
    for sub in subparsers.choices.values():
        sub.set_defaults(parser=sub)  # so that a stray argument is reported with that command's usage
    return parser


def error(message: str) -> None:
    print(f"facepipe: error: {message}", file=sys.stderr)


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP take the Ctrl-C path (the main thread unwinds, writers clean up)."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_stopped)


def _first_command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def quiet_thread_pools() -> None:
    """OpenMP workers (torch, the YuNet detector) sleep when idle instead of spinning.

    Every stage runs in a thread of its own, so an idle, spinning OpenMP worker takes the core another
    stage needs; on a busy 2-core machine the default convert ran at 3.7 fps spinning against 7.6 fps
    sleeping, and training 3-4x slower. Set before any library starts its pool; ``OMP_WAIT_POLICY``
    in the environment still wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_thread_pools()
    install_signal_handlers()
    from pipeline.media.atomic import remove_open_temporaries

    try:
        parser = build_parser(_first_command(argv))
        args, extra = parser.parse_known_args(argv)
        if extra:
            owner = getattr(args, "parser", None) or parser
            hint = getattr(args, "extra_hint", "")
            owner.error(f"unrecognized arguments: {' '.join(extra)}" + (f" ({hint})" if hint else ""))
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except FacepipeError as exc:
        error(str(exc))
        return exc.exit_code
    except Stopped as exc:
        error(f"stopped by {signal.Signals(exc.signum).name}; partial output removed")
        return 128 + exc.signum
    except KeyboardInterrupt:
        error("interrupted; partial output removed")
        return 130
    except BrokenPipeError:
        return 1
    finally:
        remove_open_temporaries()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
