"""Every way a run can end leaves no orphan process, no stale temporary and no lost rows (issue 24).

Pool workers die with a parent killed by SIGKILL; a re-run removes temporaries whose writer is gone;
two extracts into one faceset are refused; SIGTERM gives 128 + 15 everywhere; train says it saved.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, media, run_cli


def _default_sigint() -> None:
    """Children start with Ctrl-C working, however the suite was launched (a background shell ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sleep_then_write(payload: tuple[str, int]) -> int:
    """A pool job: says it started, works 3 s, then writes its record (as a corpus job would)."""
    folder, number = payload
    Path(folder, f"started-{number}").write_text(str(os.getpid()))
    time.sleep(3)
    Path(folder, f"done-{number}").write_text(str(os.getpid()))
    return number


def _session_members(session: int) -> list[int]:
    """Live (not zombie) processes of a session: the run's whole tree, whoever adopted it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == session:  # state, ppid, pgrp, session
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _wait_for(condition, seconds: float, process: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if process is not None and process.poll() is not None:
            return bool(condition())
        time.sleep(0.05)
    return bool(condition())


def _dead_pid() -> int:
    """The PID of a process that has exited (a temporary's writer killed with -9)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- 1. workers die with their parent ------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_kill_9_of_the_parent_takes_its_pool_workers_along(tmp_path: Path, engine: str) -> None:
    if engine == "dask":
        pytest.importorskip("dask.distributed")
    driver = (
        "import sys\n"
        "from pipeline.jobs.engine import open_engine\n"
        "from tests.test_fuzz_processes import sleep_then_write\n"
        f"engine = open_engine(2, name={engine!r})\n"
        f"engine.map(sleep_then_write, [(str(i), ({str(tmp_path)!r}, i)) for i in range(4)], lambda r: None)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", driver], cwd=REPO, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: len(list(tmp_path.glob("started-*"))) >= 2, 120, process), "workers never started"
        assert process.poll() is None
        assert len(_session_members(process.pid)) >= 3  # the parent, two workers (and helpers)
        process.kill()  # SIGKILL to the parent only: nothing of it runs to clean up
        process.wait()
        killed = time.monotonic()
        assert _wait_for(lambda: not _session_members(process.pid), 5), \
            f"still alive 5 s after kill -9: {_session_members(process.pid)}"
        time.sleep(max(0.0, killed + 4 - time.monotonic()))  # past the 3 s a job takes
        assert not list(tmp_path.glob("done-*")), "a worker went on after its parent died"
    finally:
        for pid in _session_members(process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_corpus_build_leaves_no_process_of_the_run(tmp_path: Path) -> None:
    """The reviewer's case: `corpus build` (default process pool) killed with -9 mid-way."""
    from tests.test_corpus import _inputs

    inputs = _inputs(tmp_path / "real")
    out = tmp_path / "corpus"
    args = [sys.executable, "-m", "pipeline.cli.main", "corpus", "build", str(inputs), "-o", str(out), "--fold-splits",
            "--methods", "warp", "--compressions", "c23", "--max-frames", "8", "-q"]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def pool() -> list[int]:
            return [pid for pid in _session_members(process.pid) if b"multiprocessing" in _cmdline(pid)]

        assert _wait_for(lambda: len(pool()) >= 2, 300, process), "the pool never started"  # workers + tracker
        time.sleep(2)
        assert process.poll() is None, "the build finished before it could be killed"
        process.kill()
        process.wait()
        assert _wait_for(lambda: not _session_members(process.pid), 5), _session_members(process.pid)
    finally:
        for pid in _session_members(process.pid):
            os.kill(pid, signal.SIGKILL)


# --- 2. stale temporaries -------------------------------------------------------------------------

def test_a_write_removes_temporaries_of_dead_writers_only(tmp_path: Path) -> None:
    from pipeline.media.atomic import remove_stale_temporaries, temporary_name, write_text

    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".clip.{dead}.facepipe-partial.mp4"
    live = tmp_path / f".clip.{alive}.facepipe-partial.mp4"  # a concurrent run still writing
    unrelated = tmp_path / ".clip.notes"
    for path in (stale, live, unrelated):
        path.write_bytes(b"x")
    write_text(tmp_path / "other.json", "{}")  # any write into the folder clears it
    assert not stale.exists() and live.exists() and unrelated.exists()
    assert (tmp_path / "other.json").read_text() == "{}"
    assert temporary_name(tmp_path / "a.mp4").name == f".a.{os.getpid()}.facepipe-partial.mp4"
    again = tmp_path / f".x.{dead}.facepipe-partial.png"
    again.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [again] and live.exists()


def test_extract_rerun_removes_what_a_kill_9_left(tmp_path: Path) -> None:
    clip = media("WolfgangLanger_Pexels.mp4")
    out = tmp_path / "faces"
    common = ["--end", "40f", "--every", "2", "-q"]
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "extract", str(clip), "-o", str(out), *common],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: len(list((out / "faces").glob("*.png"))) >= 3, 120, process)
    process.kill()
    process.wait()
    dead = process.pid
    (out / "faces").mkdir(parents=True, exist_ok=True)
    # what a kill -9 mid-write leaves (planted too, as the kill may land between writes)
    planted = [out / f".alignments.{dead}.facepipe-partial.json", out / "faces" / f".Wolf_000004_0.{dead}.facepipe-partial.png"]
    for path in planted:
        path.write_bytes(b"half")
    rerun = run_cli("extract", clip, "-o", out, *common)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(out.rglob("*facepipe-partial*"))
    rows = json.loads((out / "alignments.json").read_text())["faces"]
    assert sorted(Path(r["file"]).name for r in rows) == sorted(p.name for p in (out / "faces").glob("*.png"))
    # a re-run that has nothing left to do still clears them
    planted[0].write_bytes(b"half")
    again = run_cli("extract", clip, "-o", out, *common[:-1])
    assert again.returncode == 0 and "already extracted" in again.stderr
    assert not planted[0].exists()


def test_convert_rerun_removes_what_a_kill_9_left(tmp_path: Path) -> None:
    clip = media("WolfgangLanger_Pexels.mp4")
    output = tmp_path / "out.mp4"
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "convert", str(clip), "-o", str(output),
                                "--passthrough", "-q", "--set", "encode.preset='veryslow'"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partials = lambda: list(tmp_path.glob(".out.*facepipe-partial.mp4"))  # noqa: E731
    assert _wait_for(lambda: bool(partials()), 60, process), "convert never started writing"
    process.kill()
    process.wait()
    assert partials() and not output.exists()  # the reviewer's state: a hidden partial, nothing at the path
    rerun = run_cli("convert", clip, "-o", output, "--passthrough", "-q", timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert output.stat().st_size > 0
    _wait_for(lambda: not partials(), 5)  # the killed run's ffmpeg may hold its file a moment longer
    assert not partials()


# --- 3. one extract per faceset ---------------------------------------------------------------------

def test_folder_lock_refuses_a_second_holder_and_removes_an_empty_folder_it_made(tmp_path: Path) -> None:
    from pipeline.errors import FacepipeError
    from pipeline.media.lock import FolderLock

    folder = tmp_path / "a" / "set"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pipeline.media.lock import FolderLock\n"
                               f"FolderLock({str(folder)!r}, 'extract').acquire(); print('held', flush=True); time.sleep(60)"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FacepipeError, match="another `extract`"):
            FolderLock(folder, "extract").acquire()
    finally:
        holder.kill()
        holder.wait()
    with FolderLock(folder, "extract"):  # the kernel dropped the dead holder's lock
        assert folder.is_dir()
    assert folder.is_dir()  # not made by this lock: kept
    folder.rmdir()
    (tmp_path / "a").rmdir()
    with FolderLock(folder, "extract"):
        pass
    assert not (tmp_path / "a").exists()  # made by this lock and left empty: removed


def test_two_extracts_into_one_faceset_the_second_is_refused(tmp_path: Path) -> None:
    clip = media("WolfgangLanger_Pexels.mp4")
    out = tmp_path / "set"
    args = ["extract", str(clip), "-o", str(out), "--end", "60f", "--every", "2", "-q"]
    # the first runs long enough (240 frames) to still hold the lock while the second starts up, on a busy CPU too
    first_args = [*args[:4], "--end", "240f", *args[6:]]
    first = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", *first_args], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: len(list((out / "faces").glob("*.png"))) >= 1, 120, first)
    assert first.poll() is None, "the first extract finished too soon to overlap"
    second = run_cli(*args)
    assert second.returncode == 2, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "another `extract`" in second.stderr
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    rows = json.loads((out / "alignments.json").read_text())["faces"]
    assert rows and sorted(Path(r["file"]).name for r in rows) == sorted(p.name for p in (out / "faces").glob("*.png"))


# --- 4. SIGTERM gives 143 for extract ------------------------------------------------------------

def test_extract_sigterm_exits_143_and_keeps_the_faces(tmp_path: Path) -> None:
    clip = media("WolfgangLanger_Pexels.mp4")
    out = tmp_path / "set"
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "extract", str(clip), "-o", str(out),
                                "--end", "60f", "-q"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: len(list((out / "faces").glob("*.png"))) >= 3, 120, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert len(stderr.strip().splitlines()) == 1 and "SIGTERM" in stderr and "kept" in stderr
    rows = json.loads((out / "alignments.json").read_text())["faces"]
    assert rows and not list(out.rglob("*facepipe-partial*"))


# --- 5. train on SIGTERM says what it kept ----------------------------------------------------------

def test_train_sigterm_says_the_checkpoint_was_saved_and_resume_continues(tmp_path: Path) -> None:
    from tests.quickset import make_quick_faceset

    a = make_quick_faceset([media("WolfgangLanger_Pexels.mp4")], tmp_path / "a", count=12, size=64)
    b = make_quick_faceset([media("single_face.mp4")], tmp_path / "b", count=12, size=64)
    out = tmp_path / "model"
    settings = ["train.width=8", "train.latent=32", "train.disc_width=8", "train.batch_size=4", "train.preview_every=1",
                "train.gan_warmup=2", "train.threads=1"]
    args = ["train", "--faces-a", str(a), "--faces-b", str(b), "-o", str(out), "-q", *sum((["--set", s] for s in settings), [])]
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", *args, "--iterations", "100000"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: (out / "preview.png").exists(), 180, process), "training never started"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "partial output removed" not in stderr
    assert "checkpoint saved" in stderr and "--resume" in stderr and len(stderr.strip().splitlines()) == 1
    saved = json.loads((out / "model.json").read_text())["iterations"]
    assert saved >= 1
    resumed = run_cli(*args, "--resume", "--iterations", str(saved + 2), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "model.json").read_text())["iterations"] == saved + 2


# --- 6. Ctrl-C does not depend on how the suite was launched ------------------------------------------

def test_ctrl_c_reaches_the_command_even_when_the_launcher_ignores_sigint(tmp_path: Path) -> None:
    """A shell started in the background ignores SIGINT and its children inherit that; the Ctrl-C tests
    restore the default in the child, so they test the command and not the launcher."""
    clip = media("WolfgangLanger_Pexels.mp4")
    output = tmp_path / "c.mp4"
    ignoring = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background shell leaves it
    try:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "convert", str(clip), "-o", str(output),
                                    "--passthrough", "-q", "--set", "encode.preset='veryslow'"], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    finally:
        signal.signal(signal.SIGINT, ignoring)
    assert _wait_for(lambda: bool(list(tmp_path.glob(".c.*facepipe-partial.mp4"))), 60, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert not output.exists() and not list(tmp_path.glob(".c.*facepipe-partial*"))
