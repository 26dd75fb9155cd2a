from .multi_crop import GTSA_GEOMETRY_KEYS, GTSAMultiCrop

__all__ = ['GTSAMultiCrop', 'GTSA_GEOMETRY_KEYS']
