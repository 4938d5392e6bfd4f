"""Comparing two revisions of a dockyard project for review (`dockyard report`).

`build` reads both sides and renders the comment; `collect` reads revisions (git, DVC),
`compare` and `stages` judge what changed, `curves`, `charts`, `costs`, `markdown` and
`render` write the markdown. It reads files and git, and never loads a model.
"""

from dockyard.report.build import (
    build_report,
    head_name,
    pull_request,
    reproducibility,
    run_url,
    stale,
)

__all__ = [
    "reproducibility",
    "run_url",
    "head_name",
    "pull_request",
    "stale",
    "build_report",
]
