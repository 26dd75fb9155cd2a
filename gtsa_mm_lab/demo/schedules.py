"""The demo pretraining schedule for another epoch count than the demo configs' 24.

``configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py`` and
``configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py`` write it out for 24 epochs;
``tools/demo.py`` and ``tools/compare.py`` (shorter or longer runs) take it from here.
"""
from __future__ import annotations


def pretrain_schedule(epochs: int, warmup_epochs: int, lr: float) -> list[dict]:
    """``param_scheduler`` of a demo pretraining run of ``epochs`` epochs.

    Args:
        epochs (int): Training epochs.
        warmup_epochs (int): Epochs of linear lr warm-up from ``lr / 1000``; 0: none.
        lr (float): The optimiser's lr; the cosine decay ends at ``lr / 100``.

    Returns:
        list[dict]: The lr warm-up (when ``warmup_epochs``), the cosine lr decay after it,
        and the cosine weight-decay rise to 0.4 over all epochs, iteration-based.
    """
    schedule = [
        dict(type='CosineAnnealingLR', T_max=epochs - warmup_epochs, eta_min=lr / 100,
             by_epoch=True, begin=warmup_epochs, end=epochs, convert_to_iter_based=True),
        dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=epochs, by_epoch=True,
             begin=0, end=epochs, convert_to_iter_based=True),
    ]
    if warmup_epochs:
        schedule.insert(0, dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
                                end=warmup_epochs, convert_to_iter_based=True))
    return schedule


def patch_loss_warmup_epochs(epochs: int, warmup_epochs: int) -> int:
    """GTSA's ``model.head.patch_loss.warmup_epochs``: the authors' boundary, the patch loss off
    through the last lr warm-up epoch, and on for at least the last epoch."""
    return min(warmup_epochs + 1, epochs - 1) if warmup_epochs else 0


def dino_schedule(epochs: int) -> dict[str, int]:
    """DINO's epoch-counted settings: teacher temperature warm-up over 30% of the epochs
    (the paper's 30 of 100), the last layer frozen for the first epoch of runs over 2."""
    return dict(teacher_temp_warmup_epochs=max(1, round(0.3 * epochs)),
                freeze_last_layer_epochs=1 if epochs > 2 else 0)


def set_pretrain_epochs(cfg, epochs: int, warmup_epochs: int) -> None:
    """Give a demo pretraining config (an mmengine ``Config`` of GTSA or DINO) ``epochs``
    epochs: :func:`pretrain_schedule` at its optimiser's lr, the model's epoch-counted
    settings, one checkpoint at the end; its ``max_epochs`` and ``warmup_epochs``
    variables say so."""
    cfg.param_scheduler = pretrain_schedule(epochs, warmup_epochs,
                                            cfg.optim_wrapper.optimizer.lr)
    set_epoch_counted_settings(cfg, epochs, warmup_epochs)
    cfg.default_hooks.checkpoint.interval = epochs


def set_epoch_counted_settings(cfg, epochs: int, warmup_epochs: int) -> None:
    """The model's and config's epoch-counted settings for ``epochs`` epochs: DINO's
    :func:`dino_schedule` or GTSA's patch-loss warm-up, ``train_cfg.max_epochs`` and the
    ``max_epochs`` / ``warmup_epochs`` variables."""
    if cfg.model.type == 'DINO':
        cfg.model.update(dino_schedule(epochs))
    else:
        cfg.model.head.patch_loss.warmup_epochs = patch_loss_warmup_epochs(epochs,
                                                                           warmup_epochs)
    cfg.train_cfg.max_epochs = cfg.max_epochs = epochs
    cfg.warmup_epochs = warmup_epochs
