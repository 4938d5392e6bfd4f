"""The few exception types dockyard raises for user mistakes.

Each carries a message written for a person: what was expected, what was found, where,
and how to fix it. Entry points turn them into one paragraph on stderr and exit code 2
(`dockyard.errors.exit_on_user_error`), never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

USER_ERROR_EXIT = 2
# values quoted in a message are cut to about this many characters: a 5 MB cell is named,
# never echoed whole
QUOTE_LIMIT = 80


class DockyardError(Exception):
    """A problem the user can fix; the message says how."""

    exit_code = USER_ERROR_EXIT


class ConfigError(DockyardError):
    """conf/, an override or params.yaml does not match the structured config."""


class DataError(DockyardError):
    """A data file is missing, unreadable or of the wrong shape."""


class ValidationFailed(DataError):
    """A table broke its declared schema; the message holds the failure report."""


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` cut to about `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text):,} characters)"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as a message shows it (repr), cut to about `limit` characters."""
    return shorten(repr(value), limit)


def fail(error: DockyardError) -> NoReturn:
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
