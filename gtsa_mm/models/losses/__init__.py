from .dino_loss import DINOLoss, dino_cross_entropy
from .patch_correspondence_loss import (
                                        PatchCorrespondenceLoss,
                                        matched_similarity,
                                        patch_correspondence_loss,
                                        token_similarity,
)
from .region_loss import RegionLoss, negative_cosine_similarity, region_loss

__all__ = [
    'RegionLoss', 'region_loss', 'negative_cosine_similarity', 'PatchCorrespondenceLoss',
    'patch_correspondence_loss', 'matched_similarity', 'token_similarity', 'DINOLoss',
    'dino_cross_entropy'
]
