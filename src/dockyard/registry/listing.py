"""`dockyard registry`: every version with its stages, date, commit and primary metric,
which version each stage points to, and the history of tags (who, when).

The JSON's `version` and `stage` keys per artifact are `gto show --json`'s, computed the
same way (the greatest registered version; the most recent assignment per stage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard.registry import git
from dockyard.registry.policy import AUTO_PRIMARY, Policy
from dockyard.registry.snapshot import load_snapshot
from dockyard.registry.versions import read_registry


def registry_view(root: str | Path, policy: Policy | None = None) -> dict[str, Any]:
    root = git.repo_root(root)
    view: dict[str, Any] = {}
    for name, art in read_registry(root).items():
        rows = []
        for info in art.versions:
            snap = load_snapshot(root, info.commit, full=False)
            primary = policy.primary_for(snap.task) if policy else AUTO_PRIMARY.get(snap.task or "")
            stats = snap.metrics.get(primary or "") or {}
            rows.append(
                {
                    "version": info.version,
                    "stages": info.stages,
                    "registered_at": info.registered_at.isoformat(),
                    "registered_by": f"{info.author} <{info.email}>",
                    "commit": info.commit,
                    "tag": info.tag,
                    "primary": {
                        "metric": primary,
                        "mean": stats.get("mean"),
                        "std": stats.get("std"),
                        "n": stats.get("n"),
                        "ci95_low": stats.get("ci95_low"),
                        "ci95_high": stats.get("ci95_high"),
                    },
                }
            )
        view[name] = {
            "version": art.latest,
            "stage": dict(sorted(art.stages.items())),
            "active": art.active,
            "versions": rows,
            "history": [
                {
                    "when": e.when.isoformat(),
                    "event": e.kind,
                    "version": e.version,
                    "stage": e.stage,
                    "tag": e.tag,
                    "commit": e.commit,
                    "who": f"{e.author} <{e.email}>",
                    "message": e.message,
                }
                for e in art.events
            ],
        }
    return view


def render_text(view: dict[str, Any], stages: tuple[str, ...] = ()) -> str:
    if not view:
        return (
            "No registered models yet. Register the workspace's model with `dockyard register` "
            "(after `dvc repro` and a commit).\n"
        )
    out = []
    for name, art in view.items():
        order = list(stages) + sorted(s for s in art["stage"] if s not in stages)
        pointers = "   ".join(f"{s} -> {art['stage'].get(s) or '(none)'}" for s in order)
        out.append(f"{name}{'' if art['active'] else ' (deprecated)'}   {pointers}")
        table = [("VERSION", "STAGES", "REGISTERED", "COMMIT", "PRIMARY METRIC")]
        for row in art["versions"]:
            primary = row["primary"]
            value = "–"
            if primary["mean"] is not None:
                spread = f" ± {primary['std']:.4f}" if primary["std"] is not None else ""
                value = f"{primary['metric']} {primary['mean']:.4f}{spread} (n={primary['n']})"
            held = [s for s in order if s in row["stages"]]
            table.append(
                (
                    row["version"],
                    ", ".join(held) or "-",
                    row["registered_at"][:19].replace("T", " "),
                    row["commit"][:12],
                    value,
                )
            )
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        out += [
            "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in table
        ]
        out.append("  history (newest first):")
        for e in art["history"]:
            what = {
                "registration": f"registered {e['version']}",
                "deregistration": f"deregistered {e['version']}",
                "assignment": f"{e['version']} -> {e['stage']}",
                "unassignment": f"{e['version']} left {e['stage']}",
                "deprecation": "deprecated",
            }.get(e["event"], e["event"])
            out.append(
                f"    {e['when'][:19].replace('T', ' ')}  {what:<22} {e['tag'] or '':<18} "
                f"by {e['who']}"
            )
        out.append("")
    return "\n".join(out)
