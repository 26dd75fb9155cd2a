"""What only downstream (MMDetection, MMSegmentation, fine-tuning) configs need."""
from .backbone_checkpoint import (
    STUDENT_PREFIX,
    TEACHER_PREFIX,
    BackboneCheckpointError,
    backbone_prefix,
    match_backbone_state_dict,
    read_state_dict,
    strip_prefix,
)
from .pretrained_init import GTSAPretrainedInit
from .timm_keys import mmpretrain_vit_to_timm, timm_key

__all__ = [
    'STUDENT_PREFIX', 'TEACHER_PREFIX', 'BackboneCheckpointError', 'GTSAPretrainedInit',
    'backbone_prefix', 'match_backbone_state_dict', 'mmpretrain_vit_to_timm', 'read_state_dict',
    'strip_prefix', 'timm_key'
]
