from .dino_head import DINOProjectionHead
from .gtsa_head import GTSAHead
from .rotation_head import RotationHead

__all__ = ['RotationHead', 'DINOProjectionHead', 'GTSAHead']
