from .ema import ForeachCosineEMA
from .roi_align import roi_align, roi_align_grouped, rot90_batched, rot90_table

__all__ = ['ForeachCosineEMA', 'roi_align', 'roi_align_grouped', 'rot90_batched', 'rot90_table']
