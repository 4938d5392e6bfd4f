"""Faults a real run meets: a `dvc` killed mid-training, a second writer of the same output."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from .helpers import clone_reproduced, compose, error_of, project_env, run

pytestmark = pytest.mark.slow


def _stage_processes(project: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            if "dockyard.stages" in cmdline and process.info["cwd"] == str(project):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def test_killed_dvc_leaves_no_trainer_and_no_mixed_outputs(
    tmp_path: Path, reproduced: Path
) -> None:
    """kill -9 of `dvc repro` mid-training: the stage it started dies with it, the next
    `dvc repro` runs one trainer, and the curves have one row per epoch. (From a reproduced
    project: only the training settings change, and DVC removes train's earlier outputs
    before it runs the stage.)"""
    project = clone_reproduced(reproduced, tmp_path / "project")
    compose(
        project,
        "train.epochs=40",
        "train.early_stopping.patience=40",
        "train.steps_per_call=1",
        "trainer.enable_progress_bar=false",
    )
    run(["git", "commit", "-qam", "long training"], project)
    dvc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=project,
        env=project_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # the trainer has started writing: its staged curve folder exists
        _wait_for(
            lambda: any((project / "eval/seeds/0").glob(".train.tmp-*/plots/metrics/*/*.tsv")),
            240,
            "the train stage to log its first epoch",
        )
        dvc.kill()
        dvc.wait(timeout=30)
        _wait_for(lambda: not _stage_processes(project), 10, "the orphaned trainer to exit")
    finally:
        for process in _stage_processes(project):
            process.kill()
        if dvc.poll() is None:
            dvc.kill()
    assert not (project / "models/seed-0/model.pt").exists()  # nothing half written

    result = run([sys.executable, "-m", "dvc", "repro"], project)
    assert result.stdout.count("Running stage 'train@0'") == 1
    card = (project / "models/seed-0/model.json").read_text()
    epochs = __import__("json").loads(card)["training"]["epochs_run"]
    curve = (project / "eval/seeds/0/train/plots/metrics/val/loss.tsv").read_text().splitlines()
    assert curve[0] == "step\tloss" and len(curve) == 1 + epochs
    steps = [int(line.split("\t")[0]) for line in curve[1:]]
    assert steps == sorted(set(steps))
    assert not list((project / "eval/seeds/0").glob(".train.*"))  # no stray staging folder
    assert not _stage_processes(project)


def test_a_second_writer_of_the_same_output_is_refused(tmp_path: Path, monkeypatch) -> None:
    """While one process writes an output, another refuses to start (after a short wait)
    instead of interleaving its files with the first one's."""
    from dockyard.runtime import OutputBusy, output_lock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from dockyard.runtime import output_lock\n"
            "with output_lock('models/seed-0'):\n    print('held', flush=True); time.sleep(30)",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    monkeypatch.chdir(tmp_path)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputBusy) as caught, output_lock("models/seed-0", wait=0.5):
            pass
        assert (caught.value.kind, caught.value.path) == ("busy", "models/seed-0")
        # the one wording check for kind 'busy'
        assert str(caught.value).startswith(
            f"models/seed-0 is being written by pid {holder.pid}, which still runs"
        )
        with output_lock("models/seed-1", wait=0.5):  # another output: no wait
            pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock("models/seed-0", wait=0.5):  # released when its holder died
        pass


def test_a_stage_failing_after_ingest_leaves_the_lock_as_documented(
    reproduced: Path, tmp_path: Path
) -> None:
    """docs/pipeline.md, "When something fails": a failed stage keeps its previous dvc.lock
    entry, DVC has removed its previous outputs from the workspace, and `dvc checkout`
    brings them back; the user sees one paragraph, no traceback."""
    import yaml

    project = clone_reproduced(reproduced, tmp_path / "p")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "the last good run"], project)
    lock_before = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    weights = (project / "models/seed-0/model.pt").read_bytes()
    # compose accepts it (torch is installed), the train stage cannot build it
    compose(project, "model.net._target_=torch.nn.Linear")
    result = run([sys.executable, "-m", "dvc", "repro"], project, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    record = error_of(result)  # the train stage's, through DVC's environment
    assert (record["kind"], record["key"]) == ("build-failed", "model.net")
    assert "(torch.nn.Linear)" in record["message"]  # the target it tried
    assert record["message"].splitlines()[0] in output  # what DVC showed the user
    lock_after = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert lock_after == lock_before  # nothing else had to re-run; train@0 kept its entry
    assert not (project / "models/seed-0").exists()  # DVC removed it before running train
    # the committed outputs (cache: false) come back from git, the cached ones from DVC
    run(["git", "checkout", "--", "params.yaml", "eval"], project)
    run([sys.executable, "-m", "dvc", "checkout"], project)
    assert (project / "models/seed-0/model.pt").read_bytes() == weights
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], project).stdout


def test_a_start_time_read_a_second_apart_is_the_same_process(monkeypatch) -> None:
    """psutil's start time moves with the boot time when the clock is adjusted: the stage's
    watchdog must not take its living dvc for gone (it once stopped a training that way)."""
    import os

    import psutil

    from dockyard.runtime import same_process

    me = psutil.Process(os.getpid())
    started = me.create_time()
    assert same_process(os.getpid(), started)
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: started + 1.0)
    assert same_process(os.getpid(), started)  # the same process, read after an adjustment
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: started + 60.0)
    assert not same_process(os.getpid(), started)  # a reused pid: a later process
    assert not same_process(2**22 + 7, started)  # no such process
