
from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend  # noqa: F401
from .dense_probe_hook import DenseProbeHook  # noqa: F401
from .exact_resume_hook import ExactResumeHook  # noqa: F401
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook  # noqa: F401
