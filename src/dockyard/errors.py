"""The few exception types dockyard raises for user mistakes.

Each carries a message written for a person: what was expected, what was found, where,
and how to fix it. Entry points turn them into one paragraph on stderr and exit code 2
(`dockyard.errors.exit_on_user_error`), never a traceback.

Each also carries typed attributes for programs: `kind` (a short slug such as
`unknown-key`, stable across rewordings of the message), and where they apply the
`column`, the config `key` and the file `path` it is about. With `DOCKYARD_ERROR_FILE` set,
every error a dockyard process exits on is appended to that file as one JSON line
(`DockyardError.record`), so a wrapper (a CI step, a test) reads what went wrong without
parsing prose; stderr shows the same paragraph either way.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

USER_ERROR_EXIT = 2
# values quoted in a message are cut to about this many characters: a 5 MB cell is named,
# never echoed whole
QUOTE_LIMIT = 80
# a JSON-lines file every exiting error is appended to (see the module docstring)
ERROR_FILE_ENV = "DOCKYARD_ERROR_FILE"


class DockyardError(Exception):
    """A problem the user can fix; the message says how.

    `kind` defaults to the class's own (`config`, `data`, ...); a raise site names a finer
    one (`unknown-key`) where a program or a test may want to tell it apart."""

    exit_code = USER_ERROR_EXIT
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        column: str | None = None,
        key: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.column = None if column is None else str(column)
        self.key = key
        self.path = None if path is None else os.fspath(path)

    def record(self) -> dict[str, Any]:
        """What went wrong, for programs: kind, column, key, path, message, exit code."""
        return {
            "kind": self.kind,
            "column": self.column,
            "key": self.key,
            "path": self.path,
            "message": str(self),
            "exit_code": self.exit_code,
            "type": type(self).__name__,
        }


class ConfigError(DockyardError):
    """conf/, an override or params.yaml does not match the structured config."""

    kind = "config"


class DataError(DockyardError):
    """A data file is missing, unreadable or of the wrong shape."""

    kind = "data"


class ValidationFailed(DataError):
    """A table broke its declared schema; the message holds the failure report."""

    kind = "validation"


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` cut to about `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text):,} characters)"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as a message shows it (repr), cut to about `limit` characters."""
    return shorten(repr(value), limit)


def write_record(error: DockyardError) -> None:
    """Append the error's record to $DOCKYARD_ERROR_FILE when it is set (never raises:
    the paragraph on stderr is what must get out)."""
    target = os.environ.get(ERROR_FILE_ENV)
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as file:
            file.write(json.dumps(error.record()) + "\n")
    except OSError:
        pass


def fail(error: DockyardError) -> NoReturn:
    write_record(error)
    print(f"dockyard: error: {error}", file=sys.stderr)
    raise SystemExit(error.exit_code)


def exit_on_user_error(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap an entry point so a DockyardError prints one paragraph and exits 2."""

    def wrapped() -> None:
        try:
            main()
        except DockyardError as error:
            fail(error)

    wrapped.__doc__ = main.__doc__
    wrapped.__name__ = main.__name__
    return wrapped
