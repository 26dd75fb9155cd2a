from .atomic_checkpoint_hook import (  # noqa: F401
                                     AtomicCheckpointHook,
                                     AtomicLocalBackend,
                                     CheckpointWriteError,
                                     save_iteration_checkpoint,
)
from .checkpoint_check import CorruptCheckpointError, check_resume_checkpoint  # noqa: F401
from .dense_probe_hook import DenseProbeHook  # noqa: F401
from .exact_resume_hook import ExactResumeHook  # noqa: F401
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook  # noqa: F401
from .preemption_hook import PreemptionHook, TrainingPreempted  # noqa: F401
