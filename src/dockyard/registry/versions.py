"""Versions and stages as git tags, through GTO: read the registry, register, assign.

Tag formats (GTO's): `NAME@vX.Y.Z` registers a version on a commit; `NAME#STAGE#N`
assigns a stage (N counts every counted tag of NAME). Which version holds a stage is
the one whose assignment is the most recent, as `gto show` says; the registry, the
gate and `resolve_model` all read it from the same `ArtifactInfo`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.errors import DockyardError

SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
LATEST = "latest"
# Longest wait for a fresh second before tagging; a newer tag time means a skewed clock.
MAX_WAIT_S = 2.0


class RegistryError(DockyardError):
    """A name, version or stage the registry does not hold, or a tag it cannot make."""

    kind = "registry"


@dataclass(frozen=True)
class Event:
    """One registry tag: who did what to which version, and when (the tag's time)."""

    kind: str  # registration, deregistration, assignment, unassignment, deprecation
    when: datetime
    version: str | None
    stage: str | None
    tag: str | None
    commit: str
    author: str
    email: str
    message: str

    @property
    def order(self) -> tuple[float, int]:
        """Tags have 1-second times; GTO's counter (NAME#STAGE#N) breaks ties."""
        counter = re.search(r"#(\d+)$", self.tag or "")
        return self.when.timestamp(), int(counter.group(1)) if counter else 0


@dataclass
class VersionInfo:
    version: str
    commit: str
    tag: str | None
    registered_at: datetime
    author: str
    email: str
    message: str
    stages: list[str] = field(default_factory=list)  # the stages it holds now


@dataclass
class ArtifactInfo:
    name: str
    versions: list[VersionInfo]  # active versions, greatest SemVer first
    stages: dict[str, str]  # stage -> version holding it now (as `gto show`)
    events: list[Event]  # newest first
    latest: str | None  # the greatest registered version (`gto show`'s "version")
    active: bool  # False once deprecated

    def find(self, version: str) -> VersionInfo | None:
        return next((v for v in self.versions if v.version == version), None)


def _gto() -> Any:
    """Import GTO lazily: its import reconfigures logging (dictConfig), so it happens only
    in registry commands, and the stdout handler it installs is removed."""
    import logging

    import gto.api

    logging.getLogger("gto").handlers.clear()
    return gto


def read_registry(root: str | Path) -> dict[str, ArtifactInfo]:
    """Every artifact with registry tags, read once (one GTO state)."""
    _gto()
    from gto.constants import VersionSort
    from gto.registry import GitRegistry

    with GitRegistry.from_url(str(root)) as reg:
        state = reg.get_state()
    artifacts = {}
    for name, art in sorted(state.get_artifacts().items()):
        # `gto show`'s defaults: the most recent assignment wins (a rollback works)
        held = art.get_vstages(
            registered_only=False,
            assignments_per_version=-1,
            versions_per_stage=1,
            sort=VersionSort.Timestamp,
        )
        stages = {stage: found[0].version for stage, found in held.items() if found}
        versions = []
        for v in art.get_versions(include_non_explicit=False, include_discovered=True):
            registration = v.registrations[-1] if v.registrations else None
            versions.append(
                VersionInfo(
                    version=v.version,
                    commit=v.commit_hexsha,
                    tag=registration.tag if registration else None,
                    registered_at=v.created_at,
                    author=v.author,
                    email=v.author_email,
                    message=v.message,
                    stages=sorted(s for s, held_by in stages.items() if held_by == v.version),
                )
            )
        events = [
            Event(
                kind=e.event,
                when=e.created_at,
                version=getattr(e, "version", None),
                stage=getattr(e, "stage", None),
                tag=getattr(e, "tag", None),
                commit=e.commit_hexsha,
                author=e.author,
                email=e.author_email,
                message=e.message,
            )
            for e in art.get_events()
            if e.event != "commit"
        ]
        events.sort(key=lambda e: e.order, reverse=True)
        latest = art.get_latest_version(registered_only=True)
        artifacts[name] = ArtifactInfo(
            name=name,
            versions=versions,
            stages=stages,
            events=events,
            latest=latest.version if latest else None,
            active=art.is_active,
        )
    return artifacts


# ----------------------------------------------------------------------------- specs


def parse_spec(spec: str) -> tuple[str, str]:
    """NAME@vX.Y.Z, NAME@STAGE, NAME@latest (or GTO's NAME#STAGE) -> (NAME, REF)."""
    name, sep, ref = spec.partition("#") if "#" in spec else spec.partition("@")
    if not sep or not name or not ref:
        raise RegistryError(
            f"Expected a model as NAME@VERSION (model@v1.2.0), NAME@STAGE (model@prod) or "
            f"NAME@latest, found {spec!r}.",
            kind="bad-spec",
        )
    return name, ref


def find_artifact(artifacts: dict[str, ArtifactInfo], name: str) -> ArtifactInfo:
    art = artifacts.get(name)
    if art is None:
        known = ", ".join(sorted(artifacts)) or "none yet"
        raise RegistryError(
            f"No model named {name!r} is registered (registered: {known}). Register a version "
            f"with `dockyard register {name}` on a commit whose pipeline is reproduced, or "
            "fetch the registry's tags (`git fetch --tags`).",
            kind="unknown-model",
        )
    return art


def resolve_version(artifacts: dict[str, ArtifactInfo], name: str, ref: str) -> VersionInfo:
    """The version a reference names: a version, a stage (its current holder) or latest."""
    art = find_artifact(artifacts, name)
    versions = ", ".join(v.version for v in art.versions) or "none"
    if ref == LATEST:
        found = art.find(art.latest) if art.latest else None
        if found is None:
            raise RegistryError(
                f"{name} has no registered version (versions: {versions}).", kind="unknown-version"
            )
        return found
    if ref.startswith("v") and ref[1:2].isdigit():
        found = art.find(ref)
        if found is None:
            gone = any(e.version == ref and e.kind == "deregistration" for e in art.events)
            why = "was deregistered" if gone else "is not registered"
            raise RegistryError(
                f"{name}@{ref} {why}. Registered versions of {name}: {versions}. "
                "Run `dockyard registry` to see them all.",
                kind="unknown-version",
            )
        return found
    holder = art.stages.get(ref)
    if holder is None:
        held = ", ".join(f"{s} -> {v}" for s, v in sorted(art.stages.items())) or "none"
        raise RegistryError(
            f"No version of {name} is in stage {ref!r} (stages now: {held}). Promote one with "
            f"`dockyard promote {name} VERSION --stage {ref}`, or name a version "
            f"({name}@vX.Y.Z).",
            kind="empty-stage",
        )
    found = art.find(holder)
    if found is None:
        raise RegistryError(
            f"{name}@{ref} points to {holder}, which is no longer registered.",
            kind="unknown-version",
        )
    return found


# ----------------------------------------------------------------------------- versions


def parse_version(text: str) -> tuple[int, int, int]:
    found = SEMVER.match(text)
    if not found:
        raise RegistryError(
            f"Expected a semantic version such as v1.2.0 (with the leading v), found {text!r}.",
            kind="bad-version",
        )
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def next_version(art: ArtifactInfo | None, bump: str) -> str:
    """The greatest registered version bumped (from v0.0.0 for the first one)."""
    current = parse_version(art.latest) if art and art.latest else (0, 0, 0)
    major, minor, patch = current
    if bump == "major":
        return f"v{major + 1}.0.0"
    if bump == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"


# ----------------------------------------------------------------------------- stages


def stage_holder(events: list[Event], stage: str, before: Event | None = None) -> str | None:
    """Which version held `stage` just before the tag `before` (now, when None): GTO's
    rule (the version whose active assignment is the most recent), replayed over the
    tags older than `before`. Used to judge a tag that is already pushed."""
    cutoff = before.order if before else None
    ordered = sorted(
        (e for e in events if cutoff is None or e.order < cutoff), key=lambda e: e.order
    )
    registration: dict[str | None, str] = {}  # version -> its latest direct event
    last: dict[str, tuple[str, tuple[float, int]]] = {}
    for e in ordered:
        if e.kind in ("registration", "deregistration"):
            registration[e.version] = e.kind
        elif e.stage == stage and e.version is not None:
            last[e.version] = (e.kind, e.order)
    active = [
        (order, version)
        for version, (kind, order) in last.items()
        if kind == "assignment" and registration.get(version, "registration") == "registration"
    ]
    return max(active)[1] if active else None


def ever_held(events: list[Event], version: str, stage: str, before: Event | None = None) -> bool:
    """Whether `version` was assigned `stage` (and not unassigned since) before `before`."""
    cutoff = before.order if before else None
    kinds = [
        e.kind
        for e in sorted(events, key=lambda e: e.order)
        if e.version == version and e.stage == stage and (cutoff is None or e.order < cutoff)
    ]
    return bool(kinds) and kinds[-1] == "assignment"


def wait_for_fresh_second(art: ArtifactInfo | None) -> None:
    """Tag times have 1-second resolution: two assignments in one second would leave GTO
    (and everyone reading the tags) unable to say which came last. Wait until the clock
    has passed the newest tag's second (at most MAX_WAIT_S, for skewed clocks)."""
    if art is None or not art.events:
        return
    newest = max(e.when.timestamp() for e in art.events)
    wait = newest + 1.0 - time.time()
    if wait > 0:
        time.sleep(min(wait, MAX_WAIT_S))


def register(root: str | Path, name: str, commit: str, version: str, message: str) -> Any:
    gto = _gto()
    from gto.exceptions import GTOException

    try:
        return gto.api.register(str(root), name, ref=commit, version=version, message=message)
    except GTOException as error:
        raise RegistryError(
            f"GTO refused to register {name}@{version} on {commit[:12]}: {_gto_message(error)}. "
            "Run `dockyard registry` to see the versions and the commits they point to.",
            kind="gto-refused",
        ) from None


def assign(
    root: str | Path, name: str, version: str, stage: str, message: str, push: bool = False
) -> Any:
    """Tag the assignment. `force=True` because GTO counts a version that held the stage
    before as still in it (a rollback); dockyard checks "already there" itself."""
    gto = _gto()
    from gto.exceptions import GTOException

    try:
        return gto.api.assign(
            str(root), name, stage, version=version, message=message, force=True, push=push
        )
    except GTOException as error:
        raise RegistryError(
            f"GTO could not assign {stage} to {name}@{version}: {_gto_message(error)}. Fetch the "
            "registry's tags (`git fetch --tags`) and try again.",
            kind="gto-refused",
        ) from None


def _gto_message(error: Exception) -> str:
    text = getattr(error, "msg", None) or str(error)
    return text.strip().rstrip(".")
