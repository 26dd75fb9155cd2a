"""Time GTSA's training step against its bare network, and the data pipeline feeding it.

    python tools/benchmark.py --device cpu --batch-size 4
    python tools/benchmark.py --device cuda --batch-size 64 --amp-dtype bfloat16
    python tools/benchmark.py --pipeline-only --step-images-per-s 1088   # workers for a GPU
    torchrun --nproc-per-node 1 tools/benchmark.py --device cuda --ddp --compile layers

Measures, in one run:
  (a) the full GTSA step: data preprocessor -> all losses (incl. the teacher's EMA
      update) -> backward -> clipped optimizer step;
  (b) the same network's plain step: the same student (backbone, projector,
      predictor, rotation head) and teacher modules on the same crops, with the
      loss replaced by the mean of the outputs and no EMA update;
  (c) the config's whole per-image data pipeline on one CPU core (dataset, JPEG
      decode, GTSAMultiCrop, PackInputs, collate) on generated COCO-size JPEGs
      (640 x 480, ~160 kB), in CPU time per image (``pipeline_ms_per_img``), and the
      DataLoader workers per GPU that feed the measured (or ``--step-images-per-s``)
      step (``workers_per_gpu_needed``);
With ``--ddp`` the GTSA step is the Runner's: ``MMDistributedDataParallel.train_step``
(preprocessor, DDP forward, loss, backward with the gradient all-reduce, clipped step), in
a process group of the launcher's world size (1 without torchrun); the network step is
then not timed.
  (d) the model FLOPs of one GTSA step per image (torch.utils.flop_counter: matmuls,
      convolutions, attention; forward and backward), the achieved TFLOP/s and, on a
      tabulated GPU, the fraction of its dense peak for the autocast dtype.
Both steps use the paper's optimiser as configured in
configs/_base_/schedules/gtsa_adamw-coslr-100e.py (fused AdamW, no decay on biases
and norms, each parameter's gradient norm clipped to 3.0) and, on CUDA,
cudnn.benchmark as the paper's configs set it. Warm-up iterations are excluded;
medians are reported. One more, untimed GTSA step counts the operators that make the
host wait for the device (``host_syncs_per_step``, see gtsa_mm/host_sync.py). The last
line of output is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from pathlib import Path

import torch

import gtsa_mm  # noqa: F401

from .flops import matmul_dtype, peak_tflops
from .pipeline import time_pipeline, workers_needed, write_synthetic_jpegs
from .train_step import (
    ARCHS,
    REPO,
    build_model,
    build_optim_wrapper,
    count_host_syncs,
    make_batches,
    network_loss,
    step_flops,
    time_steps,
    time_train_steps,
    wrap_ddp,
)

PAPER_CONFIG = REPO / 'configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'

#: Significant digits of the measured figures in the JSON line. Figures are rounded to
#: significant digits, not decimals, so a small value (a tiny model on a loaded CPU does a
#: few GFLOP/s) keeps its meaning instead of rounding to 0.0.
SIGNIFICANT_DIGITS = 4


def significant(value: float | None, digits: int = SIGNIFICANT_DIGITS) -> float | None:
    """``value`` rounded to ``digits`` significant digits (None and 0 pass through).

    A non-zero value never becomes 0: ``significant(0.000012345) == 1.234e-05``.
    """
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--iters', type=int, default=10, help='timed iterations')
    parser.add_argument('--warmup', type=int, default=3, help='untimed iterations first')
    parser.add_argument('--arch', choices=sorted(ARCHS), default='vit-small')
    parser.add_argument('--num-local', type=int, default=8, help='local crops per image')
    parser.add_argument('--amp-dtype', choices=['none', 'float16', 'bfloat16'], default=None,
                        help='autocast dtype (default: bfloat16 on cuda, none on cpu)')
    parser.add_argument('--config', default=str(PAPER_CONFIG),
                        help="config whose train_dataloader (dataset, pipeline, batch size "
                        "for the collate) is timed; default: the paper's COCO config")
    parser.add_argument('--pipeline-images', '--data-images', type=int, default=32,
                        help='generated 640 x 480 JPEGs run through the pipeline per pass')
    parser.add_argument('--pipeline-repeats', type=int, default=3,
                        help='passes over them (new crops each); the median pass is reported')
    parser.add_argument('--step-images-per-s', type=float, default=None,
                        help="the step rate the workers must feed (default: this run's "
                        'measured GTSA step)')
    parser.add_argument('--pipeline-only', action='store_true',
                        help='time the data pipeline only (no model step)')
    parser.add_argument('--ddp', action='store_true',
                        help="time the GTSA step inside MMEngine's DDP wrapper, as the Runner "
                        'runs it (use torchrun; a 1-process group is made without it)')
    parser.add_argument('--ddp-static-graph', action='store_true',
                        help='DistributedDataParallel(static_graph=True) (with --ddp)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--compile', choices=['none', 'layers'], default='none',
                        help='layers: GTSA(compile_layers=True), torch.compile of each '
                        "transformer layer of the student's and teacher's ViT (both timed "
                        'steps use it; compile time is in the warm-up)')
    parser.add_argument('--cuda-graphs', action='store_true',
                        help='GTSA(cuda_graphs=True): replay the student and teacher passes '
                        'from CUDA graphs (both timed steps use them)')
    parser.add_argument('--optimizer', choices=['fused', 'foreach'], default='fused',
                        help="the paper schedule's AdamW as configured (fused) or with "
                        'multi-tensor kernels instead (foreach, for comparison)')
    parser.add_argument('--no-cudnn-benchmark', dest='cudnn_benchmark', action='store_false',
                        help='leave cudnn.benchmark off (the paper configs turn it on)')
    parser.add_argument('--drop-path-rate', type=float, default=0.1,
                        help="the student ViT's stochastic depth (the paper's 0.1); 0 shows "
                        'what drop path costs')
    parser.add_argument('--profile', metavar='FILE', default=None,
                        help='write a torch.profiler table of 3 GTSA steps to FILE')
    return parser.parse_args(argv)


def measure_pipeline(args) -> dict:
    """The config's train pipeline on generated COCO-size JPEGs, one core."""
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    loader = cfg.train_dataloader
    with tempfile.TemporaryDirectory(prefix='gtsa_benchmark_') as folder:
        write_synthetic_jpegs(folder, args.pipeline_images)
        timing = time_pipeline(loader.dataset.to_dict(), folder, loader.batch_size,
                               repeats=args.pipeline_repeats)
    return dict(pipeline_ms_per_img=significant(timing.ms_per_img),
                pipeline_wall_ms_per_img=significant(timing.wall_ms_per_img),
                pipeline_stage_ms=timing.stage_ms, pipeline_jpeg_kb=timing.jpeg_kb,
                data_ms_per_img=timing.stage_ms.get('GTSAMultiCrop'),
                config_workers_per_gpu=loader.num_workers)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('tools/benchmark.py: --device cuda but no CUDA device is available')
    if not Path(args.config).is_file():
        raise SystemExit(f'tools/benchmark.py: --config not found: {args.config}')
    if args.pipeline_only:
        pipeline = measure_pipeline(args)
        rate = args.step_images_per_s
        result = dict(config=args.config, step_images_per_s=rate, **pipeline,
                      workers_per_gpu_needed=(None if rate is None else workers_needed(
                          rate, pipeline['pipeline_ms_per_img'])))
        print(f"data pipeline {pipeline['pipeline_ms_per_img']:.2f} ms/img/core "
              f"({pipeline['pipeline_stage_ms']})")
        print(json.dumps(result))
        return result
    amp = args.amp_dtype or ('bfloat16' if args.device == 'cuda' else 'none')
    spec = ARCHS[args.arch]
    if args.ddp and args.device == 'cuda':
        import os
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    from mmengine.logging import MessageHub
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10 ** 6)

    model = build_model(spec, args.num_local, args.device, args.cuda_graphs,
                        args.drop_path_rate, compile_layers=args.compile == 'layers')
    if args.device == 'cuda':
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
    wrapper = build_optim_wrapper(model, amp, args.optimizer)
    batches = make_batches(spec, args.batch_size, args.num_local)
    if args.device == 'cuda':  # as the Runner's DataLoader(pin_memory=True) delivers them
        batches = [dict(b, inputs=[v.pin_memory() for v in b['inputs']]) for b in batches]

    def gtsa_step(data):
        losses = model.loss(data['inputs'], data['data_samples'])
        return sum(v for k, v in losses.items() if k.startswith('loss'))

    def network_step(data):
        return network_loss(model, data['inputs'])

    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    gtsa_times, net_times = [], []
    if args.ddp:
        ddp_model = wrap_ddp(model, args.device, args.ddp_static_graph)
        gtsa_times = time_train_steps(ddp_model, wrapper, batches, args.iters, args.warmup,
                                      args.device)
    else:  # interleave the two so drift (clocks, caches) affects both alike
        for _ in range(2):
            net_times += time_steps(model, wrapper, batches, network_step,
                                    args.iters // 2 or 1, args.warmup, args.device)
            gtsa_times += time_steps(model, wrapper, batches, gtsa_step, args.iters // 2 or 1,
                                     args.warmup, args.device)
    peak = (torch.cuda.max_memory_allocated() / 2**30 if args.device == 'cuda' else None)
    host_syncs = count_host_syncs(model, wrapper, batches[0], gtsa_step, args.device)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                               if args.device == 'cuda' else [])
        with profile(activities=activities) as prof:
            time_steps(model, wrapper, batches, gtsa_step, 3, 0, args.device)
        sort = 'cuda_time_total' if args.device == 'cuda' else 'cpu_time_total'
        with open(args.profile, 'w') as f:
            f.write(prof.key_averages().table(sort_by=sort, row_limit=40))
            f.write('\n\n')
            f.write(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=30))
    # FLOPs are counted eagerly: graph replays and compiled code hide their operators
    # from the counter, and the arithmetic is the same.
    if args.cuda_graphs or args.compile != 'none':
        del wrapper
        model = build_model(spec, args.num_local, args.device, False, args.drop_path_rate)
    flops = step_flops(model, batches[0], amp, args.device) / args.batch_size
    pipeline = measure_pipeline(args)
    gtsa_s = statistics.median(gtsa_times)
    net_s = statistics.median(net_times) if net_times else None
    device = torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'
    tflops = flops * args.batch_size / gtsa_s / 1e12
    peak_dtype = matmul_dtype(amp) if args.device == 'cuda' else None
    peak_tf = peak_tflops(device, peak_dtype) if peak_dtype else None
    images_per_s = args.batch_size / gtsa_s
    feed_rate = args.step_images_per_s or images_per_s
    result = dict(
        device=device,
        arch=args.arch, batch_size=args.batch_size, num_local=args.num_local, amp=amp,
        compile=args.compile, cuda_graphs=args.cuda_graphs, optimizer=args.optimizer,
        drop_path_rate=args.drop_path_rate,
        cudnn_benchmark=(args.cudnn_benchmark if args.device == 'cuda' else None),
        torch_threads=torch.get_num_threads(), iters=len(gtsa_times),
        ddp=(None if not args.ddp else dict(world_size=torch.distributed.get_world_size(),
                                            static_graph=args.ddp_static_graph)),
        gtsa_step_s=significant(gtsa_s), network_step_s=net_s and significant(net_s),
        gtsa_over_network=net_s and significant(gtsa_s / net_s),
        images_per_s=significant(images_per_s),
        network_images_per_s=net_s and significant(args.batch_size / net_s),
        peak_mem_gib=None if peak is None else significant(peak),
        host_syncs_per_step=host_syncs,
        gflops_per_img=significant(flops / 1e9), achieved_tflops=significant(tflops),
        achieved_gflops=significant(tflops * 1e3),
        peak_dtype=peak_dtype, peak_tflops=peak_tf,
        peak_fraction=None if not peak_tf else significant(tflops / peak_tf),
        config=args.config, **pipeline, step_images_per_s=significant(feed_rate),
        workers_per_gpu_needed=workers_needed(feed_rate, pipeline['pipeline_ms_per_img']))
    network = ('DDP train_step' if args.ddp else
               f'network step {net_s * 1000:.1f} ms | ratio {gtsa_s / net_s:.3f}')
    print(f'GTSA step {gtsa_s * 1000:.1f} ms | {network} | '
          f'{flops / 1e9:.4g} GFLOP/img, {tflops:.3g} TFLOP/s'
          + (f' ({100 * tflops / peak_tf:.1f} % of {peak_dtype} peak)' if peak_tf else '')
          + f" | data pipeline {pipeline['pipeline_ms_per_img']:.2f} ms/img/core, "
          f"{result['workers_per_gpu_needed']} workers per GPU | host syncs per step "
          f'{host_syncs}')
    print(json.dumps(result))
    return result
