from .dino_head import DINOProjectionHead
from .rotation_head import RotationHead

__all__ = ['RotationHead', 'DINOProjectionHead']
