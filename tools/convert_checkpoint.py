"""Convert checkpoints of other codebases into gtsa_mm's layouts.

Examples::

    # the GTSA authors' pretraining checkpoint -> a Runner checkpoint of our GTSA
    python tools/convert_checkpoint.py checkpoint-99.pth work_dirs/gtsa_authors_coco.pth
    python tools/train.py configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py \
        --cfg-options load_from=work_dirs/gtsa_authors_coco.pth

    # one backbone, MMPretrain or timm layout (any known layout: the authors', DINO's, timm's)
    python tools/convert_checkpoint.py checkpoint-99.pth teacher.pth --backbone --teacher
    python tools/convert_checkpoint.py dino_deitsmall16_pretrain.pth dino_vits16_mm.pth
    python tools/convert_checkpoint.py checkpoint-99.pth student_timm.pth --backbone \
        --format timm

Downstream configs need no conversion: ``model.backbone.init_cfg.checkpoint=FILE`` reads
every layout. The library code: ``gtsa_mm.downstream.convert``.
"""
import sys

from gtsa_mm.downstream.convert import main

if __name__ == '__main__':
    sys.exit(main())
