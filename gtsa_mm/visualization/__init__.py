"""Pictures of features and logging backends."""
from .vis_backend import OptionalTensorboardVisBackend, tensorboard_available

__all__ = ['OptionalTensorboardVisBackend', 'tensorboard_available']
