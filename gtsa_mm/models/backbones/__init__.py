from .gtsa_vit import GTSAVisionTransformer, dino_resize_pos_embed  # noqa: F401
