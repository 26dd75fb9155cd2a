from . import transforms  # noqa: F401
from .image_folder import UnlabeledImageFolder, UnreadableImageError  # noqa: F401
from .samplers import SeededIndex, SeededSampler  # noqa: F401
