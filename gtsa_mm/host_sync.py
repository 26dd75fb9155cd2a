"""Find the operations of a training step that make the host wait for the GPU.

A host-device sync stalls the CPU until the GPU has drained its queue, so the
GPU then idles while the CPU launches what comes next. They hide in innocent
code (``float(t)``, ``x[mask]``, ``x[:, [2, 1, 0]]``). :class:`HostSyncRecorder`
lists them from the operators PyTorch dispatches, so it works on a CPU-only
machine as well: an operator that would sync on a GPU is recorded on the CPU
too (there it costs nothing, which is why it goes unnoticed)::

    with HostSyncRecorder() as syncs:
        loss = model.loss(inputs, data_samples)
        loss.backward()
    assert not syncs.events, syncs.report()
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# operator -> why the host waits for the device
SYNCING_OPS = {
    'aten._local_scalar_dense.default': 'reads a device scalar (.item(), float(), bool(), if t:)',
    'aten.is_nonzero.default': 'reads a device scalar (bool(t))',
    'aten.equal.default': 'compares on the device and reads the answer',
    'aten.nonzero.default': 'output size depends on device data',
    'aten.masked_select.default': 'output size depends on device data',
    'aten._unique2.default': 'output size depends on device data',
    'aten.unique_dim.default': 'output size depends on device data',
    'aten.unique_consecutive.default': 'output size depends on device data',
    'aten.repeat_interleave.Tensor': 'output size depends on device data (give output_size)',
    'aten.lift_fresh.default': 'a tensor built from Python data (torch.tensor(list), '
                               'x[:, [2, 1, 0]]) is copied to the GPU from pageable memory',
}
_INDEXING_OPS = ('aten.index.Tensor', 'aten.index_put.default', 'aten.index_put_.default',
                 'aten._index_put_impl_.default')


@dataclass
class SyncEvent:
    op: str
    reason: str
    where: str


def _has_bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(t, torch.Tensor) and t.dtype == torch.bool for t in indices or ())


def _tensors(args):
    for arg in args:
        if isinstance(arg, torch.Tensor):
            yield arg
        elif isinstance(arg, (list, tuple)):
            yield from (a for a in arg if isinstance(a, torch.Tensor))


class HostSyncRecorder(TorchDispatchMode):
    """Records dispatched operators that make the host wait for the device.

    Args:
        device (str): ``'cpu'`` records every such operator (what would sync on
            a GPU); ``'cuda'`` skips the ones whose tensors all live on the
            CPU (e.g. the optimizer's step counters), which never sync, and
            also records copies from the GPU to the CPU.
        stack_depth (int): Frames of Python stack kept per event.

    Attributes:
        events (list[SyncEvent]): What was recorded, in order.
    """

    def __init__(self, device: str = 'cpu', stack_depth: int = 6) -> None:
        super().__init__()
        self.device = device
        self.stack_depth = stack_depth
        self.events: list[SyncEvent] = []

    def _record(self, op: str, reason: str) -> None:
        frames = traceback.extract_stack()[:-3]
        frames = [f for f in frames if '/torch/' not in f.filename][-self.stack_depth:]
        where = ' <- '.join(f'{f.filename.rsplit("/", 2)[-1]}:{f.lineno} {f.name}'
                            for f in reversed(frames))
        self.events.append(SyncEvent(op, reason, where))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func)
        on_device = any(t.device.type != 'cpu' for t in _tensors(args))
        check = self.device == 'cpu' or on_device
        if name == 'aten.lift_fresh.default':  # its tensor is on the host by definition
            self._record(name, SYNCING_OPS[name])
        elif name in SYNCING_OPS:
            if check and not (name == 'aten.repeat_interleave.Tensor'
                              and kwargs.get('output_size') is not None):
                self._record(name, SYNCING_OPS[name])
        elif name in _INDEXING_OPS and check and _has_bool_index(args):
            self._record(name, 'boolean-mask indexing: output size depends on device data')
        elif (self.device != 'cpu' and on_device and name in ('aten._to_copy.default',
                                                             'aten.copy_.default')):
            dst = kwargs.get('device') if name == 'aten._to_copy.default' else args[0].device
            if dst is not None and torch.device(dst).type == 'cpu':
                self._record(name, 'copies device memory to the host')
        return func(*args, **kwargs)

    def report(self) -> str:
        """One line per event: operator, why it syncs, and the calling code."""
        if not self.events:
            return 'no host-device syncs'
        return '\n'.join(f'{e.op}: {e.reason}\n    at {e.where}' for e in self.events)
