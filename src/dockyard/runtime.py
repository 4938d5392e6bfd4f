"""What every stage process needs around its work: arguments, one writer per output, and
dying with the `dvc` that started it.

A `kill -9` of `dvc` leaves its children running: DVC starts each stage through a shell,
and nothing tells that shell or the stage that their parent is gone. A stage left
running like that would keep writing its outputs while a new `dvc repro` starts a second
copy of it. Two guards prevent the mix:

- `watch_parent` exits the stage (without moving any output into place) as soon as the
  `dvc` process above it, or its own parent, is gone;
- `output_lock` holds an exclusive lock per output while a stage writes it: a second
  writer waits briefly (the first one may be exiting) and then refuses to start.

Outputs themselves are written to a temporary place and moved in at the end
(`dockyard.io.staged_dir`, `atomic_path`), so a stage killed mid-way leaves nothing half
written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard.errors import DockyardError, exit_on_user_error

LOCK_WAIT_SECONDS = 15.0
_POLL_SECONDS = 0.5


class OutputBusy(DockyardError):
    """Another process is writing the same output."""

    kind = "busy"


def seed_argument(description: str, argv: list[str] | None = None) -> int | None:
    """`--seed N` of the per-seed stages (train@N, evaluate@N); None when not given (the
    caller then takes `dockyard.config.default_seed`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, help="training seed (default: the first of `seeds`)")
    return parser.parse_args(argv).seed


def first_process() -> bool:
    """Whether this is the process that writes outputs: DDP starts one process per device
    (each with LOCAL_RANK set) and per node (NODE_RANK); only the first writes."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def _lock_dir() -> Path:
    """Locks live where no stage reads: DVC's own scratch folder, else the system's."""
    if Path(".dvc").is_dir():
        return Path(".dvc/tmp/dockyard-locks")
    digest = hashlib.sha256(str(Path.cwd()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"dockyard-locks-{digest}"


@contextmanager
def output_lock(*outputs: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock per output for the block (released when the process dies)."""
    import fcntl

    folder = _lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handles = []
    try:
        for output in sorted(outputs):
            path = folder / (output.strip("/").replace("/", "__") + ".lock")
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the block
            handles.append(handle)
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        handle.seek(0)
                        holder = handle.read().strip() or "another process"
                        raise OutputBusy(
                            f"{output} is being written by {holder}, which still runs. Two "
                            "runs must not write the same output: wait for it to finish, or "
                            f"stop it (kill {holder.split()[-1]}) and run `dvc repro` again.",
                            path=output,
                        ) from None
                    time.sleep(0.2)
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
        yield
    finally:
        for handle in handles:
            handle.close()


def _dvc_ancestor() -> tuple[int, float] | None:
    """(pid, start time) of the closest `dvc` process above this one, if any."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        for parent in psutil.Process().parents():
            words = " ".join(parent.cmdline()[:3])
            if "dvc" in Path(words.split(" ")[0]).name or " -m dvc" in words or "/dvc " in words:
                return parent.pid, parent.create_time()
    except psutil.Error:
        return None
    return None


# psutil derives a start time from the kernel's boot time, which moves when the clock is
# adjusted: the same process can read a second apart between two calls. A new process
# with a reused pid would have started long after the one it replaces.
_START_TOLERANCE_SECONDS = 2.0


def same_process(pid: int, started: float) -> bool:
    """Whether `pid` is still the process that started at `started` (psutil's time)."""
    import psutil

    try:
        return abs(psutil.Process(pid).create_time() - started) <= _START_TOLERANCE_SECONDS
    except psutil.Error:
        return False


def watch_parent(on_orphaned: Callable[[], None] | None = None) -> threading.Thread | None:
    """Exit this process when its parent, or the `dvc` process above it, is gone.

    Only when run by another process (a stage under DVC, a test's subprocess); a stage
    run by hand from a terminal exits with the terminal as usual."""
    parent = os.getppid()
    if parent <= 1:
        return None
    ancestor = _dvc_ancestor()

    def watch() -> None:
        while True:
            time.sleep(_POLL_SECONDS)
            orphaned = os.getppid() != parent or (
                ancestor is not None and not same_process(*ancestor)
            )
            if orphaned:
                print(
                    "dockyard: the process that started this stage is gone; stopping without "
                    "writing outputs.",
                    file=sys.stderr,
                    flush=True,
                )
                if on_orphaned is not None:
                    on_orphaned()
                os._exit(3)

    thread = threading.Thread(target=watch, name="dockyard-watch-parent", daemon=True)
    thread.start()
    return thread


def stage_main(main: Callable[[], None]) -> Callable[[], None]:
    """A stage's entry point: user errors as one paragraph (exit 2), and the stage dies
    with the `dvc` that started it."""
    wrapped = exit_on_user_error(main)

    def run() -> None:
        watch_parent()
        wrapped()

    run.__doc__, run.__name__ = main.__doc__, main.__name__
    return run
