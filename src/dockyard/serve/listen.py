"""Binding the server's socket before anything slow happens, and saying in one paragraph
why it could not be bound (a port in use, an unknown host, no permission)."""

from __future__ import annotations

import errno
import socket

from dockyard.errors import DockyardError


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (as uvicorn binds: SO_REUSEADDR, IPv6 when the host
    has a colon), or a DockyardError saying why the address cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, OverflowError) as error:
        sock.close()
        kind, message = _bind_problem(host, port, error)
        raise DockyardError(message, kind=kind) from None
    return sock


def _bind_problem(host: str, port: int, error: BaseException) -> tuple[str, str]:
    """(kind, message) for an address that cannot be bound."""
    where = f"{host}:{port}"
    if isinstance(error, socket.gaierror):
        return "unknown-host", (
            f"Cannot serve on {where}: the host name {host!r} does not resolve "
            f"({error.strerror}). Use an IP address with --host: 127.0.0.1 (this machine only) "
            "or 0.0.0.0 (every interface)."
        )
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return "port-in-use", (
            f"Cannot serve on {where}: the port is already in use by another process (an "
            f"earlier `dockyard serve`, perhaps). Stop it, or choose another port with --port "
            f"(e.g. --port {port + 1})."
        )
    if isinstance(error, OSError) and error.errno == errno.EACCES:
        return "permission-denied", (
            f"Cannot serve on {where}: permission denied (ports below 1024 need privileges). "
            "Choose a port from 1024 up with --port, e.g. --port 8000."
        )
    if isinstance(error, OSError) and error.errno == errno.EADDRNOTAVAIL:
        return "address-unavailable", (
            f"Cannot serve on {where}: {host} is not an address of this machine. Use "
            "127.0.0.1 (this machine only) or 0.0.0.0 (every interface) with --host."
        )
    reason = getattr(error, "strerror", None) or str(error)
    return "cannot-bind", f"Cannot serve on {where}: {reason}. Check --host and --port."
