from .gtsa_neck import GTSAPredictor, GTSAProjector

__all__ = ['GTSAProjector', 'GTSAPredictor']
