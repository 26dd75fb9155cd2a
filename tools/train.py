"""Train with an MMEngine Runner: GTSA pretraining and any gtsa_mm config.

    python tools/train.py configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py
    python tools/train.py CONFIG --resume            # continue from work_dir's latest
    bash tools/dist_train.sh CONFIG 8                 # 8 GPUs (torchrun)
    GPUS=16 bash tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR   # Slurm, 2 nodes

The library code is ``gtsa_mm.engine.train_cli``; this file is its command line.
"""
from gtsa_mm.engine.train_cli import main

if __name__ == '__main__':
    main()
