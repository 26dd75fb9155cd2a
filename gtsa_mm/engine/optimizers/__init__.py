from .amp import enable_amp  # noqa: F401
from .vit_layer_decay_constructor import ViTLayerDecayOptimWrapperConstructor  # noqa: F401
