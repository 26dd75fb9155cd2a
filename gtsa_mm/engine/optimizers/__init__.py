
from .vit_layer_decay_constructor import ViTLayerDecayOptimWrapperConstructor  # noqa: F401
