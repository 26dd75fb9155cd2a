"""The GPU study (``bash tools/study_gpu.sh``, ``tools/compare.py --preset gpu-vit-s16``):
GTSA vs. DINO with the paper's ViT-S/16 and crops, pretrained for equal wall-clock time on
one GPU, then probed frozen.

1. Data: :func:`ensure_study_data` draws the demo's scenes (:mod:`gtsa_mm_lab.demo_data`) at
   320 px, 10,000 unlabelled ones for pretraining (in parallel, byte-identical to
   ``tools/make_demo_data.py`` with the same flags) and 256 + 64 labelled ones for the
   probes.
2. Pretraining: :data:`STUDY_CONFIGS` (the paper's configs at batch 128 and bfloat16 on
   one GPU). Each method first trains ``timing_iters`` iterations; their seconds per
   iteration (the first logged window left out) give the epochs that fit the budget
   (:func:`budget_epochs`), and the run trains that many with the paper's schedule scaled
   to them (:func:`set_budget_epochs`), so both methods get the same wall-clock time
   and each finishes its own lr and teacher schedules.
3. The dense probes of :mod:`gtsa_mm.evaluation` score both last checkpoints and a random
   init; one table goes to the screen and ``study.{json,md}``.

``--quick`` runs the same path on a CPU in seconds (tiny scenes, a 2-block ViT, seconds of
budget): tests/tools/test_compare.py.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .jobs import REPO, Stage, StageFailed, format_seconds, run_stages, training_digest
from .schedules import set_epoch_counted_settings

__all__ = [
    'PRESET', 'STUDY_CONFIGS', 'StudySettings', 'QUICK_SETTINGS', 'ensure_study_data',
    'study_config', 'set_budget_epochs', 'timing_config', 'seconds_per_iter', 'run_settings',
    'finished_study_run', 'budget_epochs',
    'run_gpu_study'
]

#: The value of ``tools/compare.py --preset`` that runs this study.
PRESET = 'gpu-vit-s16'
STUDY_CONFIGS = {
    'gtsa': REPO / 'configs/gtsa/gtsa_vit-small-p16_1xb128-bf16-coslr-100e_demo-scenes-320.py',
    'dino': REPO / 'configs/dino/dino_vit-small-p16_1xb128-bf16-coslr-100e_demo-scenes-320.py',
}
#: ``--quick``'s backbone: a 2-block, 32-dim ViT/8 on 64 px global and 32 px local views
#: (the demo's 8 x 8 and 4 x 4 token maps and GTSA region sizes).
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@dataclass
class StudySettings:
    """What the study draws, trains and probes.

    Args:
        minutes: Pretraining wall-clock budget of each method (process start-up and the
            timing run not counted).
        num_pretrain: Unlabelled scenes generated for pretraining.
        image_size: Side of the generated scenes.
        num_train / num_val: Labelled scenes of the probes.
        batch_size / num_workers: None: the study configs' (128, 12).
        timing_iters: Iterations of the timing run of each method.
        log_interval: Logger interval (the timing run's windows).
        tiny: The :data:`TINY_ARCH` backbone and 64 / 32 px crops instead of ViT-S/16.
        seed: Seed of the pretrainings and of the probes' random init.
    """
    minutes: float = 30.
    num_pretrain: int = 10_000
    image_size: int = 320
    num_train: int = 256
    num_val: int = 64
    batch_size: int | None = None
    num_workers: int | None = None
    timing_iters: int = 40
    log_interval: int = 10
    tiny: bool = False
    seed: int = 0


QUICK_SETTINGS = StudySettings(minutes=0.1, num_pretrain=16, image_size=96, num_train=8,
                               num_val=4, batch_size=4, num_workers=0, timing_iters=3,
                               log_interval=1, tiny=True)


# -------------------------------------------------------------------------------- data
def _write_pretrain_image(job: tuple) -> None:
    from gtsa_mm_lab.demo_data.dataset import (
        encode_jpeg,
        image_name,
        make_pretrain_image,
        scene_rng,
    )

    folder, index, config = job
    image = make_pretrain_image(scene_rng(config.seed, 'pretrain', index), config.width,
                                config.height, config.min_objects, config.max_objects,
                                class_colours=config.class_colours,
                                object_scale=config.object_scale)
    path = folder / f'{image_name("pretrain", index)}.jpg'
    tmp = path.with_suffix('.jpg.tmp')
    tmp.write_bytes(encode_jpeg(image))
    tmp.replace(path)  # a killed run leaves no truncated image


def ensure_study_data(root: Path, settings: StudySettings, workers: int, say) -> None:
    """The study's scenes under ``root``, as ``tools/make_demo_data.py --image-size S
    --num-pretrain N --num-train T --num-val V`` writes them, the pretraining images drawn
    by ``workers`` processes. Data already there is kept; missing images are added."""
    from multiprocessing import get_context

    from gtsa_mm_lab.demo_data.dataset import (
        META_FILE,
        GeneratorConfig,
        generate,
        image_name,
        is_up_to_date,
        read_meta,
    )

    full = GeneratorConfig(width=settings.image_size, height=settings.image_size,
                           num_pretrain=settings.num_pretrain, num_train=settings.num_train,
                           num_val=settings.num_val)
    if is_up_to_date(root, full):
        say(f'data: using {root} ({settings.num_pretrain} + {settings.num_train} + '
            f'{settings.num_val} scenes of {settings.image_size} px)')
        return
    start = time.perf_counter()
    labelled = replace(full, num_pretrain=0)
    meta = read_meta(root)
    if not (meta and meta.get('complete') and meta.get('config', {}).get('image_size')
            == [full.width, full.height] and meta['config'].get('num_train') == full.num_train
            and meta['config'].get('num_val') == full.num_val
            and meta.get('version') == full.to_json()['version']):
        say(f'data: drawing {full.num_train} + {full.num_val} labelled scenes into {root}')
        generate(root, labelled, quiet=True)  # clears pretrain/ too
        meta = read_meta(root)
    folder = root / 'pretrain'
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f'{image_name("pretrain", i)}.jpg' for i in range(full.num_pretrain)}
    for path in folder.iterdir():  # images of a larger earlier set, half-written ones
        if path.name not in wanted:
            path.unlink()
    missing = [i for i in range(full.num_pretrain)
               if not (folder / f'{image_name("pretrain", i)}.jpg').is_file()]
    say(f'data: drawing {len(missing)} unlabelled scenes of {full.width} px with {workers} '
        'processes')
    jobs = [(folder, i, full) for i in missing]
    if workers > 1:
        with get_context('fork').Pool(workers) as pool:  # numpy and cv2 only
            for _ in pool.imap_unordered(_write_pretrain_image, jobs, chunksize=16):
                pass
    else:
        for job in jobs:
            _write_pretrain_image(job)
    meta.update(config=full.to_json())
    meta['num_images'] = dict(meta['num_images'], pretrain=full.num_pretrain)
    tmp = root / (META_FILE + '.tmp')
    tmp.write_text(json.dumps(meta, indent=2) + '\n')
    tmp.replace(root / META_FILE)
    say(f'data: ready in {format_seconds(time.perf_counter() - start)}')


# ----------------------------------------------------------------------------- configs
def _tiny(cfg, method: str) -> None:
    """ViT/8 of :data:`TINY_ARCH` on 64 / 32 px views, heads sized to it."""
    dims = TINY_ARCH['embed_dims']
    crop = cfg.train_dataloader.dataset.pipeline[1]
    crop.update(global_size=64, local_size=32)
    cfg.model.backbone.update(arch=dict(TINY_ARCH), img_size=64, patch_size=8,
                              drop_path_rate=0.)
    if method == 'dino':
        cfg.model.head.update(in_channels=dims, hidden_channels=64, bottleneck_channels=32,
                              out_channels=256)
        cfg.model.loss.out_channels = 256
    else:
        cfg.model.neck.update(in_channels=dims, out_channels=64)
        head = cfg.model.head
        head.region_sizes = (6, 3)
        head.predictor.update(in_channels=64, hidden_channels=64, out_channels=64)
        head.rotation_head.update(in_channels=dims, hidden_channels=64, bottleneck_channels=16)


def study_config(method: str, settings: StudySettings, data_root: Path, work_dir: Path,
                 device: str):
    """The study config of ``method`` with the data, batch, seed and device set."""
    from mmengine.config import Config

    from gtsa_mm.engine.optimizers import disable_amp

    cfg = Config.fromfile(str(STUDY_CONFIGS[method]))
    loader = cfg.train_dataloader
    loader.dataset.data_root = str(data_root / 'pretrain') + '/'
    if settings.batch_size:
        loader.batch_size = settings.batch_size
    if settings.num_workers is not None:
        loader.num_workers = settings.num_workers
        loader.persistent_workers = settings.num_workers > 0
    if settings.tiny:
        _tiny(cfg, method)
    if device == 'cpu':
        disable_amp(cfg.optim_wrapper)  # MMEngine's AMP wrappers need a GPU
    cfg.randomness.seed = settings.seed
    cfg.default_hooks.logger.interval = settings.log_interval
    cfg.work_dir = str(work_dir)
    return cfg


def set_budget_epochs(cfg, epochs: int) -> None:
    """The paper's schedule shape over ``epochs`` epochs instead of ``cfg.max_epochs``:
    lr warm-up over the same share of the run (at least one epoch when there are two),
    cosine lr decay, cosine weight-decay rise, the method's epoch-counted settings
    (GTSA's patch-loss start, DINO's teacher temperature warm-up), one checkpoint at the
    end."""
    share = cfg.warmup_epochs / cfg.max_epochs
    warmup = min(max(1, round(share * epochs)), epochs - 1)
    schedule = []
    for scheduler in cfg.param_scheduler:
        scheduler = scheduler.copy()
        if scheduler.type == 'LinearLR':
            if not warmup:
                continue
            scheduler.end = warmup
        elif scheduler.type == 'CosineAnnealingLR':
            scheduler.update(begin=warmup, end=epochs, T_max=epochs - warmup)
        else:
            scheduler.update(begin=0, end=epochs, T_max=epochs)
        schedule.append(scheduler)
    cfg.param_scheduler = schedule
    set_epoch_counted_settings(cfg, epochs, warmup)
    cfg.default_hooks.checkpoint.update(interval=epochs, max_keep_ckpts=1, save_last=True)


def timing_config(cfg, iters: int, log_interval: int | None = None):
    """``cfg`` cut to one epoch of ``iters`` iterations, nothing saved; GTSA's patch loss
    on from the start, so the timed steps cost what the steps after its warm-up do.

    The logger writes every ``min(log_interval, iters // 2)`` iterations (at least two
    windows, so the first, start-up, can be left out; ``log_interval`` None: the config's)
    and its logged ``time`` is the mean over exactly those iterations: MMEngine's
    ``LogProcessor`` averages over its ``window_size`` (10 by default), which with a
    shorter interval would carry the slow first iterations into the later windows.
    """
    cfg = copy.deepcopy(cfg)
    if cfg.model.type == 'GTSA' and cfg.model.head.get('patch_loss'):
        cfg.model.head.patch_loss.warmup_epochs = 0
    cfg.train_dataloader.dataset.indices = iters * cfg.train_dataloader.batch_size
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.checkpoint = None
    interval = log_interval or cfg.default_hooks.logger.interval
    interval = max(1, min(interval, iters // 2))
    cfg.default_hooks.logger.interval = interval
    cfg.log_processor = dict(cfg.get('log_processor') or {}, window_size=interval)
    cfg.work_dir = str(Path(cfg.work_dir) / 'timing')
    return cfg


def seconds_per_iter(scalars: list[dict]) -> float:
    """Mean seconds per training iteration of a Runner's logged windows
    (``vis_data/scalars.json`` rows of a :func:`timing_config` run, each the mean of its
    own iterations), the first window (start-up) left out when there is more than one."""
    times = [row['time'] for row in scalars if 'time' in row and 'loss' in row]
    if not times:
        raise ValueError('no training iteration was logged')
    steady = times[1:] or times
    return sum(steady) / len(steady)


def run_settings(method: str, settings: StudySettings, cfg, device: str) -> dict:
    """What a pretraining of the study depends on, recorded in its ``budget.json`` and
    compared by ``--resume``: the budget, the scenes, the batch, the seed, the device and
    the method's config (:func:`~.jobs.training_digest` of ``cfg`` before its epochs are
    set)."""
    return dict(minutes=settings.minutes, scenes=settings.num_pretrain,
                scene_size=settings.image_size, batch_size=cfg.train_dataloader.batch_size,
                seed=settings.seed, tiny=settings.tiny, device=device,
                config=str(STUDY_CONFIGS[method].relative_to(REPO)),
                config_sha256=training_digest(cfg))


def finished_study_run(run_dir: Path, cfg, wanted: dict) -> tuple[Path | None, dict]:
    """The final checkpoint of a finished pretraining of the study in ``run_dir`` and its
    ``budget.json`` record, or ``(None, record)``: None when the record's settings are not
    ``wanted`` (:func:`run_settings`; a record without them is from an older study) or the
    run did not finish ``cfg`` with the record's epochs
    (:func:`~.finetune_comparison.finished_pretraining`)."""
    from .finetune_comparison import finished_pretraining

    record_file = run_dir / 'budget.json'
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    if not record or record.get('settings') != wanted:
        return None, record
    trained = copy.deepcopy(cfg)
    set_budget_epochs(trained, record['epochs'])
    return finished_pretraining(run_dir, record['epochs'], trained), record


def budget_epochs(budget_s: float, iter_s: float, iters_per_epoch: int) -> int:
    """The whole epochs that fit ``budget_s`` seconds at ``iter_s`` seconds per iteration
    (at least one)."""
    return max(1, math.floor(budget_s / (iter_s * iters_per_epoch)))


# ------------------------------------------------------------------------------- run
def check_device(device: str) -> None:
    """Exit with a message when ``device`` is CUDA and torch sees none."""
    if device != 'cuda':
        return
    import torch

    if not torch.cuda.is_available():
        raise SystemExit(
            f'tools/compare.py --preset {PRESET}: no CUDA device visible to torch '
            f'{torch.__version__} (CUDA build: {torch.version.cuda}). The study is sized for '
            'one GPU; --quick runs its smoke test on a CPU, --device cpu the full study on '
            'a CPU (days).')


def run_gpu_study(args: argparse.Namespace, command: str) -> int:
    """Data, timed pretraining of each method, probes, table (``tools/compare.py
    --preset gpu-vit-s16``); ``args`` are the parsed ``tools/compare.py`` arguments."""
    from gtsa_mm.evaluation import (
        COLUMNS,
        DenseProbeSettings,
        evaluate_checkpoints,
        json_safe,
        load_probe_data,
        markdown_table,
    )

    from .finetune_comparison import finished_pretraining
    from .results import read_scalars

    start = time.perf_counter()

    def say(message: str) -> None:
        print(message, flush=True)

    device = args.device or ('cpu' if args.quick else 'cuda')
    check_device(device)
    if device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''  # the training subprocesses too
    settings = replace(QUICK_SETTINGS if args.quick else StudySettings(), seed=args.seed)
    for name in ('minutes', 'num_pretrain', 'image_size'):
        value = getattr(args, f'study_{name}')
        if value is not None:
            setattr(settings, name, value)
    if args.batch_size:
        settings.batch_size = args.batch_size
    methods = [m for m in args.methods if m in STUDY_CONFIGS]
    if methods != list(args.methods):
        raise SystemExit(f'--preset {PRESET} compares {" and ".join(STUDY_CONFIGS)}; got '
                         f'--methods {" ".join(args.methods)}')
    data_root = Path(args.data_root).resolve()
    work_dir = Path(args.work_dir).resolve()
    workers = args.data_workers or len(os.sched_getaffinity(0))
    ensure_study_data(data_root, settings, workers, say)
    timings = {'data': time.perf_counter() - start}

    budget_s = settings.minutes * 60
    rows, checkpoints, runs = [], {}, {}
    for method in methods:
        cfg = study_config(method, settings, data_root, work_dir / method, device)
        run_dir = Path(cfg.work_dir)
        record_file = run_dir / 'budget.json'
        wanted = run_settings(method, settings, cfg, device)
        if args.resume and record_file.is_file():
            done, record = finished_study_run(run_dir, cfg, wanted)
            if done is not None:
                say(f'{method}: reusing {done} ({record["epochs"]} epochs)')
                checkpoints[method], runs[method] = done, record
                continue
            say(f'{method}: {record_file} is of other settings or unfinished; training again')
        batch = cfg.train_dataloader.batch_size
        iters_per_epoch = settings.num_pretrain // batch
        if iters_per_epoch < 2:
            raise SystemExit(f'--scenes {settings.num_pretrain} at batch {batch}: fewer than '
                             'two iterations per epoch; draw more scenes or lower --batch-size')
        timed = min(settings.timing_iters, iters_per_epoch)
        timing_cfg = timing_config(cfg, timed, settings.log_interval)
        timing = Stage(f'{method}_timing', f'{method}: timing {timed} iterations', timing_cfg)
        say(f'{method}: timing {timed} iterations at batch {batch} on {device}')
        try:
            run_stages([timing], 1, args.threads or len(os.sched_getaffinity(0)), say)
            iter_s = seconds_per_iter(read_scalars(timing.work_dir))
            epochs = budget_epochs(budget_s, iter_s, iters_per_epoch)
            set_budget_epochs(cfg, epochs)
            say(f'{method}: {iter_s:.3f} s per iteration ({batch / iter_s:.0f} images/s): '
                f'{epochs} epochs of {iters_per_epoch} iterations fit {settings.minutes} min')
            stage = Stage(f'{method}_pretrain', f'{method}: {epochs} epochs', cfg)
            run_stages([stage], 1, args.threads or len(os.sched_getaffinity(0)), say)
        except StageFailed as error:
            say(str(error))
            return 1
        done = finished_pretraining(run_dir, epochs)
        if done is None:
            raise SystemExit(f'{method}: no epoch_{epochs}.pth in {run_dir}')
        record = dict(method=method, minutes=settings.minutes, epochs=epochs,
                      iterations=epochs * iters_per_epoch, batch_size=batch,
                      timing_seconds_per_iter=iter_s, timing_seconds=timing.seconds,
                      train_seconds=stage.seconds, device=device, settings=wanted)
        record_file.write_text(json.dumps(record, indent=2) + '\n')
        checkpoints[method], runs[method] = done, record
    timings['pretraining'] = time.perf_counter() - start - timings['data']

    probe_start = time.perf_counter()
    from mmengine.logging import MMLogger

    MMLogger.get_instance('gtsa_study_probes', log_level='WARNING')  # no init_weights report
    data = load_probe_data(data_root / 'ade')
    # one backbone config for all (the random init's too): the first method's run
    config_file = work_dir / methods[0] / 'config.py'
    results = evaluate_checkpoints([str(checkpoints[m]) for m in methods] + ['random'], data,
                                   DenseProbeSettings(seed=settings.seed),
                                   config=str(config_file), img_size=args.img_size,
                                   device=device, names=[*methods, 'random'])
    timings['probes'] = time.perf_counter() - probe_start
    for result in results:
        record = runs.get(result['name'], {})
        result.update(epochs=record.get('epochs'), iterations=record.get('iterations'),
                      train_min=None if record.get('train_seconds') is None
                      else record['train_seconds'] / 60,
                      images_per_s=None if not record else
                      record['batch_size'] / record['timing_seconds_per_iter'])
        rows.append(result)
    timings['total'] = time.perf_counter() - start
    columns = (*COLUMNS, ('epochs', 'epochs'), ('train_min', 'train min'),
               ('images_per_s', 'images/s'))
    head = (f'GTSA vs DINO, {"tiny ViT/8 (quick)" if settings.tiny else "ViT-S/16"}, '
            f'{settings.minutes:g} min of pretraining each on {device}, '
            f'{settings.num_pretrain} scenes of {settings.image_size} px; probes: '
            f'{results[0]["num_train"]} train / {results[0]["num_val"]} val images; seed '
            f'{settings.seed}')
    table = head + '\n\n' + markdown_table(rows, columns)
    document = dict(settings=dict(asdict(settings), device=device, methods=methods,
                                  command=command),
                    runs=runs, results=rows, timings_s=timings)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / 'study.json').write_text(json.dumps(json_safe(document), indent=2) + '\n')
    (work_dir / 'study.md').write_text(table + '\n')
    say('\n' + table + '\n')
    say('wall time: ' + ', '.join(f'{k} {format_seconds(v)}' for k, v in timings.items()))
    say(f'wrote {work_dir}/study.{{json,md}}')
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--preset gpu-vit-s16`` options of ``tools/compare.py``."""
    group = parser.add_argument_group(
        f'GPU study (--preset {PRESET})',
        'GTSA vs DINO at ViT-S/16 with the paper crops on generated 320 px scenes, equal '
        'wall-clock pretraining on one GPU, then the frozen probes; writes study.{json,md}')
    group.add_argument('--preset', choices=[PRESET],
                       help='run the GPU study (bash tools/study_gpu.sh)')
    group.add_argument('--minutes', dest='study_minutes', type=float,
                       help='pretraining minutes of each method (default: 30; --quick: 0.1)')
    group.add_argument('--scenes', dest='study_num_pretrain', type=int,
                       help='unlabelled scenes to generate (default: 10000)')
    group.add_argument('--scene-size', dest='study_image_size', type=int,
                       help='side of the generated scenes in px (default: 320)')
    group.add_argument('--data-workers', type=int,
                       help='processes drawing the scenes (default: all CPU cores)')
