"""Gather the gate's facts from git and the tags, judge, and tag when the gate passes.

The same judgement runs before tagging (`dockyard promote`) and after a tag was pushed
(`dockyard promote --check-tag TAG`, CI): for a pushed tag, the version "in the stage"
and the earlier stages are those from just before that tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockyard.registry import git, versions
from dockyard.registry.gate import Candidate, Placement, Verdict, judge
from dockyard.registry.policy import Policy
from dockyard.registry.snapshot import load_snapshot
from dockyard.registry.versions import ArtifactInfo, Event, RegistryError, VersionInfo


def candidate(root: str | Path, info: VersionInfo) -> Candidate:
    snap = load_snapshot(root, info.commit)
    return Candidate(
        version=info.version,
        commit=info.commit,
        values=snap.values(),
        task=snap.task,
        validation=snap.validation,
    )


def placement(
    root: str | Path,
    policy: Policy,
    art: ArtifactInfo,
    info: VersionInfo,
    stage: str,
    before: Event | None = None,
) -> Placement:
    previous = policy.previous_stage(stage) if stage in policy.stages else None
    held = previous is None or versions.ever_held(art.events, info.version, previous, before)
    refs = tuple(git.branch_refs(root, policy.branch))
    reachable = any(git.is_ancestor(root, info.commit, ref) for ref in refs) if refs else None
    return Placement(stage=stage, held_previous=held, reachable=reachable, refs=refs)


def _version_info(art: ArtifactInfo, version: str) -> VersionInfo | None:
    """A version's facts, also when it was deregistered after the tag being judged."""
    found = art.find(version)
    if found is not None:
        return found
    event = next((e for e in art.events if e.version == version), None)
    if event is None:
        return None
    return VersionInfo(
        version, event.commit, event.tag, event.when, event.author, event.email, event.message
    )


def evaluate(
    root: str | Path,
    policy: Policy,
    art: ArtifactInfo,
    info: VersionInfo,
    stage: str,
    before: Event | None = None,
) -> Verdict:
    """The gate's verdict on `info` entering `stage`: now, or just before the tag `before`."""
    holder = (
        art.stages.get(stage)
        if before is None
        else versions.stage_holder(art.events, stage, before)
    )
    incumbent_info = _version_info(art, holder) if holder else None
    incumbent = candidate(root, incumbent_info) if incumbent_info else None
    return judge(
        policy,
        art.name,
        candidate(root, info),
        placement(root, policy, art, info, stage, before),
        incumbent,
    )


@dataclass
class Promotion:
    verdict: Verdict
    tag: str | None  # the assignment tag made (None: dry run, refused or already there)
    already: bool = False


def promote(
    root: str | Path,
    policy: Policy,
    name: str,
    version: str,
    stage: str,
    *,
    dry_run: bool = False,
    push: bool = False,
) -> Promotion:
    if stage not in policy.stages:
        raise RegistryError(
            f"{stage!r} is not a stage of the promotion policy (stages: "
            f"{', '.join(policy.stages)}; params.yaml, from conf/promotion/).",
            kind="unknown-stage",
            key="promotion.stages",
        )
    artifacts = versions.read_registry(root)
    info = versions.resolve_version(artifacts, name, version)  # vX.Y.Z, or a stage's holder
    art = artifacts[name]
    verdict = evaluate(root, policy, art, info, stage)
    if art.stages.get(stage) == info.version:
        return Promotion(verdict, None, already=True)
    if dry_run or not verdict.passed:
        return Promotion(verdict, None)
    versions.wait_for_fresh_second(art)
    summary = "; ".join(r.message for r in verdict.rules if r.rule.startswith("not worse"))
    message = f"dockyard promote: gate passed for {name}@{info.version} -> {stage}. {summary}"
    assignment = versions.assign(root, name, info.version, stage, message, push=push)
    return Promotion(verdict, assignment.tag)


@dataclass
class TagCheck:
    tag: str
    event: Event | None
    verdict: Verdict | None  # None: not an assignment, nothing to gate
    note: str


def check_tag(root: str | Path, policy: Policy, tag: str) -> TagCheck:
    """Judge the assignment a pushed tag made, as of just before it."""
    tag = tag.removeprefix("refs/tags/")
    artifacts = versions.read_registry(root)
    for art in artifacts.values():
        event = next((e for e in art.events if e.tag == tag), None)
        if event is None:
            continue
        if event.kind != "assignment":
            return TagCheck(tag, event, None, f"{tag} is a {event.kind} tag: no gate applies.")
        info = art.find(event.version or "")
        if info is None:
            raise RegistryError(
                f"{tag} assigns {event.stage} to {art.name}@{event.version}, which is not (or no "
                "longer) registered. Register it, or delete the tag.",
                kind="unknown-version",
            )
        verdict = evaluate(root, policy, art, info, event.stage or "", before=event)
        who = f"{event.author} <{event.email}>"
        return TagCheck(tag, event, verdict, f"{tag} by {who} at {event.when.isoformat()}")
    if git.resolve_commit(root, tag) is None:
        raise RegistryError(
            f"There is no tag {tag!r} in this repository. Fetch the tags (`git fetch --tags`), "
            "or check the name (stage tags look like model#prod#3).",
            kind="unknown-tag",
        )
    return TagCheck(tag, None, None, f"{tag} is not a registry tag (GTO): no gate applies.")
