from .data_preprocessor import MultiViewDataPreprocessor
from .ema import ForeachCosineEMA
from .roi_align import roi_align, roi_align_grouped, rot90_batched, rot90_table
from .vit import vit_patch_size

__all__ = [
    'MultiViewDataPreprocessor', 'ForeachCosineEMA', 'roi_align', 'roi_align_grouped',
    'rot90_batched', 'rot90_table', 'vit_patch_size'
]
