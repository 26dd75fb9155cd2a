from .dino_loss import *  # noqa: F401,F403
from .patch_correspondence_loss import *  # noqa: F401,F403
from .region_loss import *  # noqa: F401,F403
