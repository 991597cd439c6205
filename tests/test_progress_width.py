"""Progress bars and log lines fit an 80-column terminal without losing the count or the ETA."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console
from rich.progress import Progress

from pipeline.cli.progress import frame_columns, pack

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOSSES = {key: 0.123456 for key in ("rec_a", "rec_b", "l1_a", "l1_b", "mask", "g_adv", "d_a", "d_b")}


def _terminal(width: int = 80) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width, force_terminal=True, color_system=None), buffer


def _lines(buffer: io.StringIO) -> list[str]:
    text = ANSI.sub("", buffer.getvalue().replace("\r", "\n"))
    return [line for line in text.splitlines() if line.strip()]


def test_frame_bar_keeps_count_and_eta_at_80_columns() -> None:
    console, buffer = _terminal()
    with Progress(*frame_columns(), console=console, auto_refresh=False) as progress:
        task = progress.add_task("convert lp_d6_woman_scrunchie_funnyfaces_first30s.mp4", total=887, fps="")
        for done in (100, 200, 300):
            time.sleep(0.05)
            progress.update(task, completed=done, fps=" 23.5 fps")
            progress.refresh()
    last = _lines(buffer)[-1]
    assert all(len(line) <= 80 for line in _lines(buffer))
    assert "300/887" in last and "23.5 fps" in last and re.search(r"\d:\d\d:\d\d", last), last
    assert "…" in last  # the long label gave way, not the figures


def test_train_bar_keeps_count_eta_and_losses_at_80_columns() -> None:
    from pipeline.cli.commands.train import _Log

    console, buffer = _terminal()
    log = _Log(console, 0, 5000, quiet=False)
    with log:
        for iteration in range(1, 40):
            log.step(iteration, LOSSES, 0.01)
            time.sleep(0.01)
        log.progress.refresh()
    lines = _lines(buffer)
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    bar = [line for line in lines if "/5000" in line][-1]
    assert "39/5000" in bar and "it/s" in bar and re.search(r"\d:\d\d:\d\d", bar), bar
    assert any("d_b 0.1235" in line for line in lines)  # every loss still shown, on its own lines


def test_log_lines_are_packed_from_whole_phrases(capsys) -> None:
    from pipeline.cli.commands.train import _Log, say

    console = Console(file=io.StringIO(), width=80)  # not a terminal: plain log lines
    log = _Log(console, 0, 100, quiet=False)
    log.step(100, LOSSES, 0.4)
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) >= 2 and all(len(line) <= 80 for line in printed)
    phrases = ["iteration 100/100", "2.50 it/s", *(f"{k} 0.1235" for k in LOSSES)]
    joined = " ".join(line.strip() for line in printed)
    assert all(phrase in joined for phrase in phrases)  # no phrase broken across lines
    out = io.StringIO()
    say(Console(file=out, width=80), ["saved /a/long/model/folder/name/that/goes/on", "iteration 5000 (2.42 it/s)",
                                      "A->A L1 0.0412", "B->B L1 0.0398", "discriminator accuracy 0.61",
                                      "on held-out"])
    assert all(len(line) <= 80 for line in out.getvalue().splitlines())
    assert pack(["a" * 50, "b" * 50]) == ["a" * 50 + ",", "  " + "b" * 50]
