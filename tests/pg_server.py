"""A real PostgreSQL server for tests: a private cluster made by `initdb` in a temporary
folder, on 127.0.0.1 and a free port, stopped at the end of the module.

Debian's `postgresql` package provides the binaries (/usr/lib/postgresql/N/bin). `initdb`
refuses to run as root, so under root the cluster belongs to the package's `postgres` user.

    from .pg_server import postgres_url  # noqa: F401

    def test_x(postgres_url): ...   # postgresql://dockyard@127.0.0.1:PORT/sweeps
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER, DATABASE = "dockyard", "sweeps"


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries: Debian keeps them together, off PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("createdb") else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    binaries = pg_bin()
    if binaries is None:
        pytest.skip(
            "PostgreSQL is not installed (apt-get install postgresql); `make test` "
            "installs it where apt-get can"
        )
    folder = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster is the postgres user's
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = folder / "data", folder / "server.log", _free_port()

    def pg(tool: str, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*prefix, str(binaries / tool), *args], capture_output=True, text=True, cwd=folder
        )
        assert result.returncode == 0, f"{tool} failed:\n{result.stdout}\n{result.stderr}"
        return result

    pg("initdb", "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
        yield f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        subprocess.run(
            [*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            cwd=folder,
        )
        shutil.rmtree(folder, ignore_errors=True)
