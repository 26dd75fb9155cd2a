"""The demo's stages as ``tools/train.py`` subprocesses: a stage is a config and the stages
it waits for; :func:`run_stages` runs them a few at a time and prints their progress.

A stage that exits with 0 leaves :data:`DONE_FILE` in its work dir with its seconds, a
digest of its config and the identity (:func:`file_identity`) of the checkpoint it
started from; :func:`finished_stage` reads it back for a run that continues
(``tools/compare.py --finetune --resume``). :func:`training_digest` tells whether a
finished run trained what a config trains."""
from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO / 'tools' / 'train.py'
#: Written into a stage's work dir when its process exited with 0: its seconds.
DONE_FILE = 'stage_done.json'
#: The config sections that decide the weights a run trains (hooks, logging and probes do
#: not): :func:`training_digest` covers them.
TRAINING_KEYS = ('model', 'train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler',
                 'randomness')


@dataclass
class Stage:
    """One training run: its config (an mmengine Config), the stages it needs first, the
    checkpoint it starts from (``loads``: a fine-tune's pretraining), and after it ran its
    wall-clock and CPU seconds and that checkpoint's :func:`file_identity` at its start."""
    name: str
    title: str
    config: object  # mmengine Config
    needs: tuple[str, ...] = ()
    loads: Path | None = None
    work_dir: Path = field(init=False)
    seconds: float | None = None  # wall-clock
    cpu_seconds: float | None = None  # user + system time of the process and its workers
    loaded: dict | None = None  # file_identity(loads) when the stage started

    def __post_init__(self) -> None:
        self.work_dir = Path(self.config.work_dir)


_LOG_PREFIX = re.compile(r'^\S+ \S+ - mmengine - \w+ - ')
_PROGRESS = re.compile(r'(Epoch|Iter)\((train|val)\)\s*((?:\[\s*[\d/ ]+\])+)')
_KEY_VALUE = re.compile(r'([\w/]+): (\d+ days?, [\d:]+|\d+:\d\d:\d\d|-?[\d.]+(?:e[-+]?\d+)?)')
#: what a progress line shows: the eta, the losses and the metrics of the fine-tunes
_SHOWN_KEYS = ('eta', 'loss', 'loss_region', 'loss_patch', 'loss_rotation',
               'coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'mAcc')


def progress_line(line: str) -> str | None:
    """A short form of an MMEngine log line about training progress, or None."""
    line = _LOG_PREFIX.sub('', line.strip())
    match = _PROGRESS.search(line)
    if not match:
        return None
    values = dict(_KEY_VALUE.findall(line[match.end():]))
    if match.group(2) == 'val' and not any(k in values for k in _SHOWN_KEYS if k != 'eta'):
        return None  # evaluation progress (eta only): only its result is shown
    shown = '  '.join(f'{key.removeprefix("coco/")} {values[key]}' for key in _SHOWN_KEYS
                      if key in values)
    return f'{match.group(1)}({match.group(2)}) {re.sub(r" +", " ", match.group(3))}  {shown}'


class Job:
    """One stage running as a ``tools/train.py`` subprocess with its log in its work dir."""

    def __init__(self, stage: Stage, threads: int) -> None:
        self.stage = stage
        if stage.work_dir.exists():  # a fresh run: no stale checkpoints or metrics
            shutil.rmtree(stage.work_dir)
        stage.work_dir.mkdir(parents=True)
        config_file = stage.work_dir / 'config.py'
        stage.config.dump(str(config_file))
        stage.loaded = file_identity(stage.loads)
        self.log_path = stage.work_dir / 'train.log'
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        self._log = open(self.log_path, 'w')
        self.start = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, str(TRAIN_SCRIPT), str(config_file), '--work-dir',
             str(stage.work_dir)], cwd=REPO, env=env, stdout=self._log,
            stderr=subprocess.STDOUT)
        self._reader = open(self.log_path)
        self._partial = ''

    def new_progress(self) -> list[str]:
        text = self._partial + self._reader.read()
        lines = text.split('\n')
        self._partial = lines.pop()
        return [p for p in map(progress_line, lines) if p]

    def finished(self) -> bool:
        # children's CPU time is added to RUSAGE_CHILDREN when they are reaped, i.e. in
        # this poll(); the only children of the demo are its stage processes
        before = _children_cpu_seconds()
        if self.process.poll() is None:
            return False
        if self.stage.cpu_seconds is None:
            self.stage.cpu_seconds = _children_cpu_seconds() - before
        return True

    def close(self) -> None:
        self._log.close()
        self._reader.close()
        self.stage.seconds = time.perf_counter() - self.start

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.close()


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class StageFailed(RuntimeError):
    pass


def run_stages(stages: list[Stage], jobs: int, threads: int, say) -> list[float]:
    """Run ``stages`` as subprocesses, ``jobs`` at a time, each after the ones it needs.

    Returns the 1-minute load average sampled every 30 s (other work on the machine
    slows the stages down; the samples say by how much it was busy).
    """
    pending, running, done = list(stages), [], set()
    started, load, next_sample = 0, [], 0.
    try:
        while pending or running:
            for stage in list(pending):
                if len(running) < jobs and all(n in done for n in stage.needs):
                    pending.remove(stage)
                    running.append(Job(stage, threads))
                    started += 1
                    say(f'[{started}/{len(stages)}] {stage.title}: started ({threads} '
                        f'thread{"s" * (threads > 1)}, log {stage.work_dir / "train.log"})')
            time.sleep(0.5)
            if time.monotonic() >= next_sample:
                load.append(os.getloadavg()[0])
                next_sample = time.monotonic() + 30
            for job in list(running):
                finished = job.finished()  # before reading, so no line is missed
                for line in job.new_progress():
                    say(f'  {job.stage.name:<11} {line}')
                if finished:
                    running.remove(job)
                    job.close()
                    if job.process.returncode != 0:
                        raise StageFailed(_failure_message(job))
                    done.add(job.stage.name)
                    write_done(job.stage)
                    say(f'  {job.stage.name:<11} done in {format_seconds(job.stage.seconds)} '
                        f'({format_seconds(job.stage.cpu_seconds)} CPU)')
    finally:
        for job in running:
            job.stop()
    return load


def _config_digest(stage: Stage) -> str:
    # the config as the stage was given it (the Runner rewrites config.py in its work dir)
    return hashlib.sha256(stage.config.pretty_text.encode()).hexdigest()


def training_digest(config) -> str:
    """A digest of the :data:`TRAINING_KEYS` sections of an mmengine Config, equal for a
    config and the dump its Runner wrote (tuples and lists alike)."""
    sections = {key: config.get(key) for key in TRAINING_KEYS}
    text = json.dumps(sections, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_identity(path: Path | None) -> dict | None:
    """``path``, its size and its modification time in ns; None when there is no file
    (a checkpoint written again, even with the same name, has another identity)."""
    if path is None or not Path(path).is_file():
        return None
    stat = Path(path).stat()
    return dict(path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def write_done(stage: Stage) -> None:
    """Record in ``stage``'s work dir that it finished (:data:`DONE_FILE`): its seconds,
    its config's digest and, for a stage that ``loads`` a checkpoint, that checkpoint's
    :func:`file_identity` as the stage started (``loads``)."""
    record = dict(name=stage.name, seconds=stage.seconds, cpu_seconds=stage.cpu_seconds,
                  config_sha256=_config_digest(stage))
    if stage.loads is not None:
        record['loads'] = stage.loaded
    (stage.work_dir / DONE_FILE).write_text(json.dumps(record) + '\n')


def finished_stage(stage: Stage) -> dict | None:
    """What :data:`DONE_FILE` of an earlier, successful run of ``stage`` recorded
    (``seconds``, ``cpu_seconds``), or None when there is none, that run's config differs
    from ``stage.config``, or it recorded the checkpoint it loaded and
    ``stage.loads`` is now another file (then the stage must run again).

    A record without ``loads`` (written before it was recorded) matches on its config
    alone; the caller must not offer a stage whose checkpoint is being trained again
    (:func:`~.finetune_comparison.finished_finetune`).
    """
    done = stage.work_dir / DONE_FILE
    if not done.is_file():
        return None
    record = json.loads(done.read_text())
    if record.get('config_sha256') != _config_digest(stage):
        return None
    if 'loads' in record and record['loads'] != file_identity(stage.loads):
        return None
    return record


def _failure_message(job: Job) -> str:
    tail = job.log_path.read_text(errors='replace').splitlines()[-30:]
    return (f'stage {job.stage.name} failed (exit code {job.process.returncode}); the end of '
            f'{job.log_path}:\n' + '\n'.join(tail))


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f'{minutes}m{seconds:02d}s'

