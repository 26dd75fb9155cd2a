from . import transforms  # noqa: F401
from .image_folder import UnlabeledImageFolder, UnreadableImageError  # noqa: F401
