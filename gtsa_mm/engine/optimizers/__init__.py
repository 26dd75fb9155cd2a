from .amp import disable_amp, enable_amp
from .per_parameter_clip import (
    PerParameterClipAmpOptimWrapper,
    PerParameterClipOptimWrapper,
    clip_grad_norm_per_parameter_,
)
from .summary_constructor import PerParameterNotices, SummaryOptimWrapperConstructor
from .vit_layer_decay_constructor import ViTLayerDecayOptimWrapperConstructor

__all__ = ['disable_amp', 'enable_amp', 'PerParameterClipOptimWrapper',
           'PerParameterClipAmpOptimWrapper', 'clip_grad_norm_per_parameter_',
           'PerParameterNotices', 'SummaryOptimWrapperConstructor',
           'ViTLayerDecayOptimWrapperConstructor']
