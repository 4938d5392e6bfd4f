"""Lineage as text (the terminal) and as MODEL_CARD.md (a person who never ran the pipeline).

The markdown holds nothing that changes after registration (no current stages, no
generation time), so the same version always renders the same card.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.metrics import higher_is_better

SCHEMA_KEY = "data.schema"


def _num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


def _short(md5: str | None) -> str:
    return (md5 or "?")[:12] + (".dir" if (md5 or "").endswith(".dir") else "")


def _label(lineage: dict[str, Any]) -> str:
    model = lineage["model"]
    if model["version"]:
        return f"{model['name']}@{model['version']}"
    return f"{model['name'] or 'model'} (unregistered, commit {lineage['commit']['sha'][:12]})"


def _param_lines(values: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in sorted(values.items()):
        if key == SCHEMA_KEY and isinstance(value, dict):
            columns = value.get("columns") or {}
            rows.append((key, f"{len(columns)} column rule(s), strict={value.get('strict')}"))
            continue
        if isinstance(value, dict):
            for sub, leaf in _flatten(value, key + ".").items():
                rows.append((sub, json.dumps(leaf, default=str)))
            continue
        rows.append((key, json.dumps(value, default=str)))
    return rows


def _flatten(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _pull_text(lineage: dict[str, Any]) -> str:
    pull = lineage["pull_request"]
    if not pull:
        return (
            "none found (no merge or squash commit naming a pull request on the way to the branch)"
        )
    where = pull["url"] or f"pull request #{pull['number']}"
    return f"#{pull['number']} {where} (merged by {pull['merge_commit'][:12]})"


def _metric_row(name: str, summary: dict[str, Any]) -> tuple[str, ...]:
    low, high = summary.get("ci95_low"), summary.get("ci95_high")
    interval = f"[{_num(low)}, {_num(high)}]" if low is not None else "– (one seed)"
    direction = {True: "higher", False: "lower", None: "?"}[higher_is_better(name)]
    return (
        name,
        _num(summary.get("mean")),
        _num(summary.get("std")),
        interval,
        str(summary.get("n", "?")),
        direction,
    )


def render_text(lineage: dict[str, Any]) -> str:
    model, commit = lineage["model"], lineage["commit"]
    out = [_label(lineage)]
    if model["version"]:
        held = ", ".join(model["stages"]) or "none"
        out.append(
            f"  registered   {model['registered_at']} by {model['registered_by']} "
            f"(tag {model['tag']}); stages now: {held}"
        )
    seeds = model.get("seeds")
    out.append(
        f"  folder       {model['path']}  md5 {model['md5']}  (written by {model['stage']}"
        + (f"; the first of seeds {seeds}" if isinstance(seeds, list) and len(seeds) > 1 else "")
        + ")"
    )
    out.append(f"commit         {commit['sha']}  {commit['subject']!r}")
    out.append(f"               by {commit['author']}, {commit['date']}")
    out.append(f"pull request   {_pull_text(lineage)}")
    params = lineage["params"]
    out.append(f"params         {params['hash']}  (dvc.lock: {', '.join(params['stages'])})")
    out += [f"  {key} = {value}" for key, value in _param_lines(params["values"])]
    out.append("data")
    report = lineage["data"]["validation"]
    if isinstance(report, dict):
        missing = sum((report.get("missing_values") or {}).values())
        out.append(
            f"  validation   {report.get('dataset')}: {report.get('status')}, "
            f"{report.get('rows', 0):,} rows x {report.get('columns')} columns, "
            f"{missing:,} missing value(s)"
        )
    else:
        out.append("  validation   no data/validation.json at this commit")
    for step in lineage["data"]["stages"]:
        inputs = ", ".join(f"{i['path']} {_short(i.get('md5'))}" for i in step["inputs"])
        outs = ", ".join(_describe_out(o) for o in step["outs"])
        out.append(f"  {step['stage']:<12} {('from ' + inputs + ' ') if inputs else ''}-> {outs}")
    reads = ", ".join(_describe_out(d) for d in lineage["data"]["train_inputs"])
    out.append(f"  {model['stage']} reads {reads}")
    out.append(f"code           ({model['stage']}'s code deps in dvc.lock)")
    out += [f"  {c['path']}  {c['md5']}" for c in lineage["code"]]
    out.append("environment    (from the model's card)")
    env = lineage["environment"]
    if "unavailable" in env:
        out.append(f"  unavailable: {env['unavailable']}")
    else:
        out.append("  " + ", ".join(f"{k} {v}" for k, v in env["libraries"].items()))
        out.append("  device " + ", ".join(f"{k}={v}" for k, v in env["device"].items()))
    out.append("metrics        (eval/metrics.json: test split, mean over seeds)")
    for name, summary in sorted(lineage["metrics"].items()):
        row = _metric_row(name, summary)
        spread = f" ± {row[2]}" if summary.get("std") is not None else ""
        out.append(
            f"  {row[0]:<16} {row[1]}{spread}  95% CI {row[3]}  n={row[4]}  ({row[5]} is better)"
        )
    for seed, metrics in lineage["per_seed"].items():
        shown = ", ".join(f"{k} {_num(v)}" for k, v in sorted(metrics.items()))
        out.append(f"  seed {seed}: {shown}")
    return "\n".join(out) + "\n"


def _describe_out(out: dict[str, Any]) -> str:
    extra = f", {out['nfiles']} files" if out.get("nfiles") else ""
    size = f"{out['size']:,} bytes" if isinstance(out.get("size"), int) else "size ?"
    return f"{out['path']} {_short(out.get('md5'))} ({size}{extra})"


def render_markdown(lineage: dict[str, Any]) -> str:
    """MODEL_CARD.md: what the model is, how it was made and checked, how to use it."""
    model, commit, card = lineage["model"], lineage["commit"], lineage["card"] or {}
    label = _label(lineage)
    report = (
        lineage["data"]["validation"] if isinstance(lineage["data"]["validation"], dict) else {}
    )
    classes = card.get("classes")
    task = card.get("task") or lineage["params"]["values"].get("data.task", "?")
    target = card.get("target") or lineage["params"]["values"].get("data.target", "?")
    if task == "classification":
        what = f"classifier predicting `{target}`" + (
            f" ({len(classes)} classes)" if classes else ""
        )
    else:
        what = f"{task} model predicting `{target}`"
    net = card.get("net") or lineage["params"]["values"].get("model", {}).get("net", {})
    lines = [
        f"# Model card: {label}",
        "",
        f"A {what}, trained by dockyard's pipeline (DVC stages, PyTorch Lightning) on the "
        f"`{card.get('dataset') or report.get('dataset', '?')}` dataset. Every fact below was "
        "read from the git commit that produced it and from `dvc.lock` there.",
        "",
        "| | |",
        "|---|---|",
        f"| Version | `{label}`"
        + (
            f", registered {model['registered_at']} by {model['registered_by']}"
            if model["version"]
            else ""
        )
        + " |",
        f"| Commit | `{commit['sha']}` ({commit['subject']}) |",
        f"| Reviewed in | {_pull_markdown(lineage)} |",
        f"| Network | `{net.get('_target_', '?')}` "
        f"{json.dumps({k: v for k, v in net.items() if k != '_target_'})}, "
        f"{card.get('parameters', '?')} parameters |",
        f"| Inputs | {card.get('features', '?')} features, made from the raw columns by the "
        "model's own `transform.json` |",
        f"| Classes | {', '.join(map(str, classes)) if classes else '–'} |",
        f"| Model folder | `{model['path']}` (DVC hash `{model['md5']}`): `model.pt`, "
        "`model.json`, `transform.json` |",
        f"| Params hash | `{lineage['params']['hash']}` |",
        "",
        "## How to use it",
        "",
        "```bash",
        f"dockyard predict new_rows.csv --model {label if model['version'] else model['path']} "
        "--output predictions.parquet",
        f"dockyard lineage {label if model['version'] else model['path']}   # this card's facts",
        "```",
        "",
        "Rows are checked against the schema the model was trained under (the target aside) "
        "and rejected when they break it.",
        "",
        "## Evaluation",
        "",
        _seed_sentence(model.get("seeds")),
        "",
        "| Metric | Mean | Std | 95% interval | Seeds | Better |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        "| " + " | ".join(_metric_row(n, s)) + " |" for n, s in sorted(lineage["metrics"].items())
    ]
    if lineage["per_seed"]:
        names = sorted({k for m in lineage["per_seed"].values() for k in m})
        lines += ["", "| Seed | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for seed, metrics in lineage["per_seed"].items():
            lines.append(f"| {seed} | " + " | ".join(_num(metrics.get(n)) for n in names) + " |")
    lines += ["", "## Training data", ""]
    if report:
        missing = sum((report.get("missing_values") or {}).values())
        lines.append(
            f"`{report.get('dataset')}`: {report.get('rows', 0):,} rows, {report.get('columns')} "
            f"columns, {missing:,} missing value(s); schema validation **{report.get('status')}**."
        )
        if report.get("target_counts"):
            counts = ", ".join(f"{k}: {v}" for k, v in report["target_counts"].items())
            lines.append(f"Target counts: {counts}.")
    lines += ["", "| Stage | Input | Output | DVC hash |", "|---|---|---|---|"]
    for step in lineage["data"]["stages"]:
        inputs = ", ".join(f"`{i['path']}`" for i in step["inputs"]) or "–"
        for out in step["outs"]:
            lines.append(f"| {step['stage']} | {inputs} | `{out['path']}` | `{out.get('md5')}` |")
    lines += ["", "## Training procedure", "", "| Param | Value |", "|---|---|"]
    lines += [f"| `{k}` | `{v}` |" for k, v in _param_lines(lineage["params"]["values"])]
    training = card.get("training") or {}
    if training:
        lines += [
            "",
            f"The artifact's run stopped after {training.get('epochs_run')} epoch(s); the best "
            f"{training.get('monitor')} was {_num(training.get('best_score'))} at epoch "
            f"{training.get('best_epoch')}.",
        ]
    lines += ["", "## Environment", ""]
    env = lineage["environment"]
    if "unavailable" in env:
        lines.append(f"Unavailable: {env['unavailable']}")
    else:
        lines.append(
            "Libraries: " + ", ".join(f"{k} {v}" for k, v in env["libraries"].items()) + "."
        )
        lines.append("")
        lines.append("Device: " + ", ".join(f"{k} {v}" for k, v in env["device"].items()) + ".")
    lines += [
        "",
        "## Code",
        "",
        f"The `{model['stage']}` stage ran these files (md5 from dvc.lock):",
        "",
    ]
    lines += [f"- `{c['path']}` `{c['md5']}`" for c in lineage["code"]]
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        f"git checkout {commit['sha']}",
        "dvc pull      # data and models from the team's DVC remote",
        "dvc repro     # rebuilds whatever is missing; with everything pulled, nothing runs",
        "```",
        "",
        "## Limitations",
        "",
        "- Measured on the held-out test split of the same dataset only; data from another "
        "source or period may behave differently (watch it with `dockyard monitor`).",
    ]
    if isinstance(model.get("seeds"), list) and len(model["seeds"]) > 1:
        lines.append(
            f"- The artifact is the model of the first seed ({model['seeds'][0]}); the metrics "
            "above summarise all seeds."
        )
    return "\n".join(lines) + "\n"


def _seed_sentence(seeds: Any) -> str:
    if isinstance(seeds, list) and len(seeds) > 1:
        return (
            f"Test-split metrics over {len(seeds)} training seeds {seeds}: mean, sample standard "
            "deviation and a t-based 95% interval for the mean (`eval/metrics.json`)."
        )
    return (
        "Test-split metrics from one training seed (`eval/metrics.json`): no noise estimate; "
        "train with several seeds for intervals."
    )


def _pull_markdown(lineage: dict[str, Any]) -> str:
    pull = lineage["pull_request"]
    if not pull:
        return "no pull request found in the commit history"
    if pull["url"]:
        return f"[#{pull['number']}]({pull['url']})"
    return f"pull request #{pull['number']}"
