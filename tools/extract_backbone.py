"""Extract the student or teacher ViT of a GTSA Runner checkpoint.

Examples::

    # student backbone, MMPretrain layout -> work_dirs/run/epoch_100_student_backbone.pth
    python tools/extract_backbone.py work_dirs/run/epoch_100.pth

    # EMA teacher in timm's layout (loads into timm's vit_small_patch16_224)
    python tools/extract_backbone.py work_dirs/run/epoch_100.pth --teacher --format timm \
        --out gtsa_vit_small_teacher_timm.pth

The file layouts: ``gtsa_mm.downstream.backbone_extraction``, the library code of this
command line.
"""
import sys

from gtsa_mm.downstream.backbone_extraction import main

if __name__ == '__main__':
    sys.exit(main())
