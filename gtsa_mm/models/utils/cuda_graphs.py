"""CUDA graphs of GTSA's fixed-shape network passes (opt-in: ``GTSA(cuda_graphs=True)``).

At the paper's size a GTSA step is bound by the host: a ViT-S/16 forward and
backward is a few thousand small kernel launches, and the GPU waits for Python.
The three network passes of a step have fixed shapes for a fixed batch size:

- student on the global views: backbone -> projector -> predictor (with backward),
- student on the local views: the same modules (with backward),
- teacher on the global views (no grad).

Each is captured once per input shape into a CUDA graph and replayed: one launch
instead of thousands. The modules are *not* replaced or wrapped in the model, so
the state dict, checkpoints and ``mmpretrain.VisionTransformer`` compatibility are
unchanged; the graphs read and write the parameters in place (the optimizer and
the EMA update work in place too).

Constraints, checked or documented:

- CUDA tensors in training mode only; the caller runs anything else eagerly.
- A new input shape (e.g. a smaller last batch) is captured anew, up to
  ``max_shapes`` shape sets; beyond that the replay methods return None (with a
  warning) and the caller runs eagerly.
- The graphs hold the parameters' memory addresses: moving the model to another
  device or replacing parameter tensors after the first step invalidates them
  (``GTSACUDAGraphs.reset()`` drops them). Loading a state dict copies in place
  and is fine.
- Autocast is captured as it is at the first step (dtype included), with the
  autocast weight cache off inside the graphs, as ``torch.cuda`` requires.
- Single process only: under DDP the gradient hooks fire at graph boundaries
  rather than per layer; the option is meant for single-GPU pretraining and
  benchmarking.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn


class StudentPass(nn.Module):
    """Backbone -> projector -> predictor of one view batch: ``(feature map, prediction)``.

    Holds references to the model's own modules (it is never registered as a
    submodule, so it adds nothing to the state dict).
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, predictor: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.predictor = predictor

    def forward(self, views: Tensor) -> tuple[Tensor, Tensor]:
        feat = self.backbone(views)[-1]
        return feat, self.predictor(self.neck(feat))[0]


class _ForwardGraph:
    """A no-grad forward ``fn(x)`` captured in a CUDA graph; outputs are cloned."""

    def __init__(self, fn: Callable[[Tensor], Tensor], sample: Tensor, warmup: int = 3,
                 autocast: dict | None = None) -> None:
        self.static_input = sample.detach().clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(stream), _autocast(autocast):
            for _ in range(warmup):
                fn(self.static_input)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), _autocast(autocast), torch.cuda.graph(self.graph):
            self.static_output = fn(self.static_input)

    def __call__(self, x: Tensor) -> Tensor:
        self.static_input.copy_(x)
        self.graph.replay()
        return self.static_output.clone()


def _autocast_state() -> dict:
    """The CUDA autocast state of the caller, weight cache off (needed in graphs)."""
    return dict(device_type='cuda', enabled=torch.is_autocast_enabled('cuda'),
                dtype=torch.get_autocast_dtype('cuda'), cache_enabled=False)


def _autocast(state: dict | None):
    return torch.autocast(**state) if state else torch.autocast('cuda', enabled=False)


class GTSACUDAGraphs:
    """Captures and replays GTSA's three network passes per input shape.

    Holds references to the model's modules only (it is not a module itself, so it
    adds nothing to the state dict).

    Args:
        backbone, neck, predictor (nn.Module): The student's modules.
        teacher (nn.Module): The EMA teacher (``target_net``); called as
            ``teacher(views)[0]``.
        max_shapes (int): Distinct ``(global, local, autocast)`` keys captured
            before the replay methods return None (eager execution). Defaults to 4.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, predictor: nn.Module,
                 teacher: nn.Module, max_shapes: int = 4) -> None:
        self.student_modules = (backbone, neck, predictor)
        self.teacher = teacher
        self.max_shapes = max_shapes
        self._graphs: dict[tuple, tuple] = {}
        self._warned = False
        self._current: tuple | None = None

    def reset(self) -> None:
        """Drop all captured graphs (after moving the model or replacing parameters)."""
        self._graphs.clear()
        self._current = None

    def _key(self, global_views: Tensor, local_views: Tensor | None) -> tuple:
        state = _autocast_state()
        return (tuple(global_views.shape), global_views.dtype,
                None if local_views is None else tuple(local_views.shape),
                state['enabled'], state['dtype'])

    def _capture(self, global_views: Tensor, local_views: Tensor | None) -> tuple:
        if (torch.distributed.is_available() and torch.distributed.is_initialized()
                and torch.distributed.get_world_size() > 1):
            warnings.warn('GTSA cuda_graphs: captured under distributed training; DDP sees '
                          'the gradients of a graph at once (less overlap of communication '
                          'and backward). The option is tested on single-GPU runs only.',
                          stacklevel=3)
        state = _autocast_state()
        # One StudentPass object per graph: make_graphed_callables patches the
        # forward of the modules it is given.
        views = [v for v in (global_views, local_views) if v is not None]
        students = tuple(StudentPass(*self.student_modules) for _ in views)
        samples = tuple((v.detach().clone(),) for v in views)
        with _autocast(state):
            graphed = torch.cuda.make_graphed_callables(students, samples)
        teacher = _ForwardGraph(lambda x: self.teacher(x)[0], global_views, autocast=state)
        return tuple(graphed), teacher

    def _lookup(self, global_views: Tensor, local_views: Tensor | None) -> tuple | None:
        key = self._key(global_views, local_views)
        if key not in self._graphs:
            if len(self._graphs) >= self.max_shapes:
                if not self._warned:
                    warnings.warn(f'GTSA cuda_graphs: more than {self.max_shapes} input '
                                  'shapes; new shapes run eagerly', stacklevel=3)
                    self._warned = True
                return None
            self._graphs[key] = self._capture(global_views, local_views)
        return self._graphs[key]

    def student_passes(self, global_views: Tensor, local_views: Tensor | None):
        """``(feat_global, pred_global, feat_local, pred_local)`` replayed from the
        graphs (captured on the first call of a shape), or None: run eagerly."""
        self._current = graphs = self._lookup(global_views, local_views)
        if graphs is None:
            return None
        students = graphs[0]
        feat_g, pred_g = students[0](global_views)
        feat_l = pred_l = None
        if local_views is not None:
            feat_l, pred_l = students[1](local_views)
        return feat_g, pred_g, feat_l, pred_l

    def teacher_pass(self, global_views: Tensor) -> Tensor | None:
        """The teacher's projected maps of the global views (no grad), replayed from
        the graph captured with the last :meth:`student_passes` call's shapes, or
        None: run eagerly.
        """
        graphs = self._current
        if graphs is not None and graphs[1].static_input.shape == global_views.shape:
            return graphs[1](global_views)
        return None
