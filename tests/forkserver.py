"""A fork server for the tests' `dvc` and `dockyard` commands: the same commands, in their
own processes, without paying the interpreter's imports on every one.

About half of the suite's CPU went to starting Python and importing DVC, pandas, torch and
Lightning again for each of ~700 commands. This server imports them once (per pytest
worker) and forks a process for each command that `helpers.run` hands it. The forked
process takes the command's working directory, environment, arguments and standard
streams (files the caller reads back), runs the same entry point the console script runs
(`dvc.cli.main`, `python -m dockyard...` through runpy), and exits the way the interpreter
would: non-daemon threads joined, atexit handlers run, streams flushed, the exit status
of SystemExit or 1 with a traceback. The caller gets the status as `subprocess.run` gives
it (negative for a signal).

Stages too: `python` on the tests' PATH is a shim (SHIM) that sends `python -m
dockyard.stages.NAME`, the command of every stage in dvc.yaml, to the server with the
shim's own streams, passes signals on and exits with the stage's status; the server kills
the stage if the shim dies first. Anything else the shim hands to the interpreter.

What it does not exercise, and where that is tested instead: the interpreter's start and
the imports themselves (tests/test_lightning_import.py and the benchmarks start real
processes); process identity and process groups (the fault tests and the killed sweep
worker start their commands with subprocess and the plain environment). One of
test_pipeline's two runs from scratch runs as real processes and must give the same
bytes. A command whose environment changes what an interpreter reads at start (PYTHON*
variables, thread counts) runs as a real process, and `DOCKYARD_TESTS_REAL_PROCESSES=1`
runs every command as one.

Server:  python tests/forkserver.py SOCKET    (started by `Client`, one per test process)
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path

# what an interpreter (or a library at import) reads from the environment when it starts:
# a command whose values differ from the server's runs as a real process
STARTUP_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONWARNINGS",
    "PYTHONHASHSEED",
    "PYTHONUNBUFFERED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONDEVMODE",
    "PYTHONSAFEPATH",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONFAULTHANDLER",
    "PYTHONTRACEMALLOC",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONOPTIMIZE",
    "PYTHONNOUSERSITE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
)
# imported once in the server; each is optional (a missing extra is imported by no command)
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "omegaconf",
    "hydra",
    "dvc.cli",
    "dvc.cli.parser",
    "dvc.repo",
    "dvc.repo.reproduce",
    "dvc.repo.experiments",
    "dvc.repo.experiments.show",
    "dvc.repo.plots",
    "dvc.repo.metrics.show",
    "dvc.repo.params.show",
    "dvc.commands.experiments",
    "dvc.commands.repro",
    "dockyard.cli.main",
    "dockyard.data.readers",
    "dockyard.data.validation",
    "dockyard.report",
    "dockyard.registry",
    "gto.api",
    "torch",
    "dockyard.models.artifact",
    "dockyard.models.lightning_import",
    "optuna",
    "httpx",
    # what commands import on their way (found by diffing sys.modules around them)
    "networkx",
    "pygit2",
    "scmrepo.git",
    "dulwich.porcelain",
    "dvc.repo.index",
    "dvc.stage.cache",
    "dvc.repo.experiments.queue.celery",
    "celery",
    "kombu",
    "requests",
    "dvclive",
    "dvclive.lightning",
    "dvclive.fabric",
    "dvc_studio_client.post_live_metrics",
    "wcwidth",
    "tabulate",
    "platformdirs",
    "configobj",
    "pyarrow.dataset",
    "xml.etree.ElementTree",
    # the S3 remote's client (dvc-s3, in the dev extra)
    "dvc_s3",
    "s3fs",
)
_DEFAULT_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP)
_STARTUP: dict[str, str | None] = {}
_LOG = ""  # the argv of each command the server ran, one JSON list a line
SOCKET_ENV = "DOCKYARD_TESTS_FORKSERVER"
# `python` on the tests' PATH: `python -m dockyard.stages.NAME` (the command of every stage
# in dvc.yaml) asks the fork server for its process, anything else runs the interpreter.
# Both ends of the stage's streams are the shim's own (passed with SCM_RIGHTS); a signal
# the shim gets is passed on, and the shim exits with the stage's status (or signal).
SHIM = """#!{python} -IS
import json, os, signal, socket, sys
real, args, path = {python!r}, sys.argv[1:], os.environ.get({socket_env!r})
if not path or len(args) < 2 or args[0] != "-m" or not args[1].startswith("dockyard.stages."):
    os.execv(real, [real, *args])
request = dict(kind="module", module=args[1], args=args[2:], argv=[real, *args],
               cwd=os.getcwd(), env=dict(os.environ), fds=True)
connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    connection.connect(path)
    socket.send_fds(connection, [json.dumps(request).encode() + b"\\n"], [0, 1, 2])
    reader = connection.makefile("rb")
    answer = json.loads(reader.readline())
except OSError:
    os.execv(real, [real, *args])
if answer.get("fallback"):
    os.execv(real, [real, *args])
pid = answer["pid"]
for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(number, lambda number, frame: os.kill(pid, number))
line = reader.readline()
code = json.loads(line)["returncode"] if line else 1
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
os._exit(code)
"""


# ---------------------------------------------------------------- the server


def serve(path: str) -> None:
    parent = os.getppid()
    global _STARTUP, _LOG
    _STARTUP = {name: os.environ.get(name) for name in STARTUP_VARIABLES}
    _LOG = str(Path(path).with_name("commands.log"))
    for name in PRELOAD:
        # an optional extra, or a module that cannot preload: its commands import it
        with contextlib.suppress(Exception):
            __import__(name)
    # torch unregisters each of its ~170 operator libraries at exit (30 ms, no effect outside
    # the process): not in the forks of commands that imported no torch of their own
    for finalizer, info in list(weakref.finalize._registry.items()):  # type: ignore[attr-defined]
        if getattr(info.func, "__name__", "") == "_del_library":
            finalizer.atexit = False
    # what the server imported stays shared with every fork: the collector of a fork
    # never walks (and so never copies) it
    gc.collect()
    gc.freeze()
    if threading.active_count() != 1:  # forking a threaded process is unsafe
        raise SystemExit(
            f"forkserver: a preloaded module started a thread: {threading.enumerate()}"
        )
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # the caller waits for the name: ready when it exists
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    while os.getppid() == parent:  # the test process is gone: so are we
        for key, _ in selector.select(timeout=1.0):
            if key.data is None:
                connection, _ = listener.accept()
                try:
                    _start(connection, selector)
                except (OSError, ValueError):
                    connection.close()
            else:
                key.data(key.fileobj)


def _start(connection: socket.socket, selector: selectors.BaseSelector) -> None:
    """Read a request, fork its command, and watch both: the command's exit (its status
    goes back to the caller) and the caller (gone first: the command is killed, as a
    stage is stopped when its `dvc` is)."""
    connection.setblocking(True)
    line, fds = _read_request(connection)
    request = json.loads(line)
    if request.get("fds") and any(
        request["env"].get(name) != value for name, value in _STARTUP.items()
    ):
        for fd in fds:
            os.close(fd)
        connection.sendall(b'{"fallback": true}\n')  # the shim runs the interpreter
        connection.close()
        return
    request["fds"] = fds
    with open(_LOG, "a") as log:
        log.write(json.dumps(request["argv"]) + "\n")
    pid = os.fork()
    if pid == 0:
        for key in list(selector.get_map().values()):
            with contextlib.suppress(OSError):
                os.close(key.fd)
        selector.close()
        connection.close()
        _command(request)
    for fd in fds:
        os.close(fd)
    if request.get("fds"):
        connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    exited = os.pidfd_open(pid)  # readable once the command has exited

    def on_exit(_: object) -> None:
        selector.unregister(exited)
        os.close(exited)
        with contextlib.suppress(KeyError):
            selector.unregister(connection)
        _, status = os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            answer = {"returncode": os.waitstatus_to_exitcode(status)}
            connection.sendall(json.dumps(answer).encode() + b"\n")
        connection.close()

    def on_caller(_: object) -> None:
        if not connection.recv(1, socket.MSG_PEEK):  # the caller is gone
            selector.unregister(connection)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    selector.register(exited, selectors.EVENT_READ, on_exit)
    selector.register(connection, selectors.EVENT_READ, on_caller)


def _read_request(connection: socket.socket) -> tuple[bytes, list[int]]:
    """One JSON line, and the file descriptors sent with it (a stage's streams)."""
    data, fds = b"", []
    while not data.endswith(b"\n"):
        chunk, received, _, _ = socket.recv_fds(connection, 1 << 20, 3)
        if not chunk:
            break
        data += chunk
        fds.extend(received)
    return data, fds


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _command(request: dict) -> None:
    """In the command's own process: become it, run it, exit as the interpreter would."""
    code = 1
    try:
        for number in _DEFAULT_SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        fds = request.get("fds") or _streams(request["stdout"], request["stderr"])
        _take_streams(fds)
        _reseed()
        code = _exit_code(_entry_point, request)
    finally:
        _finish(code)


def _streams(stdout: str, stderr: str) -> list[int]:
    """Descriptors for stdin (/dev/null), stdout and stderr (files the caller reads)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    return [os.open(os.devnull, os.O_RDONLY), *(os.open(n, flags, 0o600) for n in (stdout, stderr))]


def _take_streams(fds: list[int]) -> None:
    """Make `fds` this process's descriptors 0, 1 and 2, and sys's streams over them."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = sys.__stdin__ = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
        2, "w", buffering=1, errors="backslashreplace", closefd=False
    )


def _reseed() -> None:
    """A new process draws new random numbers: `random` reseeds itself after a fork,
    numpy's global generator does not."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _entry_point(request: dict) -> object:
    import importlib
    import runpy

    importlib.invalidate_caches()
    argv = request["argv"]
    if request["kind"] == "dvc":
        sys.argv = [argv[0], *argv[1:]]
        sys.path[0] = str(Path(argv[0]).parent)
        from dvc.cli import main

        return main(argv[1:])
    module = request["module"]  # `python -m MODULE ARGS...`
    sys.argv = ["-m", *request["args"]]
    sys.path[0] = request["cwd"]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


def _exit_code(function, request: dict) -> int:
    """The status an interpreter exits with after running `function` as its main."""
    import traceback

    try:
        result = function(request)
    except SystemExit as exit_:
        result = exit_.code
    except BaseException:  # noqa: BLE001 - what the interpreter prints and exits 1 on
        traceback.print_exc()
        return 1
    if result is None:
        return 0
    if isinstance(result, int):
        return result & 0xFF
    print(result, file=sys.stderr)
    return 1


def _finish(code: int) -> None:
    """What the interpreter does at exit, then exit with `code`."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]  # joins non-daemon threads
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            code = code or 120  # as the interpreter does when the final flush fails
    os._exit(code)


# ---------------------------------------------------------------- the client


class Client:
    """Hands commands to a fork server started on first use (one per test process), or
    says it cannot (`request` is None), for the caller to start a real process."""

    def __init__(self) -> None:
        self._folder: str | None = None
        self._process: subprocess.Popen | None = None
        self._env: dict[str, str] | None = None
        self._broken = os.environ.get("DOCKYARD_TESTS_REAL_PROCESSES") == "1"
        self._venv = Path(sys.executable).parent

    def request(self, args: list[str], env: dict[str, str]) -> dict | None:
        """What the server is asked to run for `args`, or None where a real process must."""
        if self._broken or not args:
            return None
        if args[0] == "dvc":
            found = shutil.which("dvc", path=env.get("PATH"))
            if found is None or Path(found).parent != self._venv:
                return None
            request = {"kind": "dvc", "argv": [found, *args[1:]]}
        elif len(args) >= 3 and args[0] == sys.executable and args[1] == "-m":
            if args[2] != "dockyard" and not args[2].startswith("dockyard."):
                return None
            request = {"kind": "module", "module": args[2], "args": args[3:], "argv": args}
        else:
            return None
        return request  # `run` compares the environment with the server's

    def run(
        self, request: dict, cwd: Path, env: dict[str, str]
    ) -> subprocess.CompletedProcess | None:
        """Run a command through the server; None when the server cannot be had."""
        path = self._server(env)
        if path is None:
            return None
        if any(env.get(name) != self._env.get(name) for name in STARTUP_VARIABLES):
            return None
        with tempfile.TemporaryDirectory(prefix="dockyard-forked-") as folder:
            out, err = Path(folder, "stdout"), Path(folder, "stderr")
            request = {**request, "cwd": str(Path(cwd).resolve()), "env": env}
            request.update(stdout=str(out), stderr=str(err))
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                try:
                    connection.connect(path)
                except OSError:
                    return None  # the server is gone: a real process runs it
                connection.sendall(json.dumps(request).encode() + b"\n")
                answer = _read_line(connection)
            if not answer:
                raise RuntimeError(f"the fork server gave no status for {request['argv']}")
            code = json.loads(answer)["returncode"]
            stdout = out.read_text() if out.exists() else ""
            stderr = err.read_text() if err.exists() else ""
        return subprocess.CompletedProcess(request["argv"], code, stdout, stderr)

    def _server(self, env: dict[str, str]) -> str | None:
        if self._broken:
            return None
        if self._process is not None and self._process.poll() is None:
            return str(Path(self._folder, "socket"))
        self._folder = tempfile.mkdtemp(prefix="dockyard-forkserver-")
        path = str(Path(self._folder, "socket"))
        self._env = dict(env)
        shim = Path(self._folder, "bin", "python")
        shim.parent.mkdir()
        shim.write_text(SHIM.format(python=sys.executable, socket_env=SOCKET_ENV))
        shim.chmod(0o755)
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), path],
            cwd=self._folder,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(self._folder, "server.log"), "w"),  # noqa: SIM115
        )
        atexit.register(self.close)
        deadline = time.monotonic() + 120
        while not os.path.exists(path):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._broken = True  # every command runs as a real process from here
                self.close()
                return None
            time.sleep(0.05)
        return path

    def commands(self) -> list[list[str]]:
        """The argv of every command the server ran so far."""
        if self._folder is None or not Path(self._folder, "commands.log").exists():
            return []
        lines = Path(self._folder, "commands.log").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def stage_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with the `python` shim first on PATH: the stages that a `dvc` command
        run with it starts come from the server too."""
        path = self._server(env)
        if path is None:
            return env
        shim = str(Path(path).parent / "bin")
        return {**env, "PATH": f"{shim}{os.pathsep}{env.get('PATH', '')}", SOCKET_ENV: path}

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


if __name__ == "__main__":
    serve(sys.argv[1])
