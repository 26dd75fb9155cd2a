"""What only downstream (MMDetection, MMSegmentation, fine-tuning) configs need."""
from .backbone_checkpoint import *  # noqa: F401,F403
from .foreign_layouts import *  # noqa: F401,F403
from .pretrained_init import *  # noqa: F401,F403
from .timm_keys import *  # noqa: F401,F403
from .vit_architecture import *  # noqa: F401,F403
