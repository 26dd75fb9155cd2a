from .dino import DINO
from .gtsa import GTSA, stack_geometry

__all__ = ['GTSA', 'DINO', 'stack_geometry']
