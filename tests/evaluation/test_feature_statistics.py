"""The pretraining configs' single-image test pipeline: mmpretrain.apis.get_model and
FeatureExtractor(config, pretrained=<Runner checkpoint>), and the test loop that reports
the collapse statistics of a folder's features."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pretrain_helpers import tiny_pretrain_cfg, write_images

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIGS = {
    'gtsa': REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py',
    'dino': REPO / 'configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py',
}
PAPER = REPO / 'configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'


@pytest.fixture(scope='module')
def images(tmp_path_factory) -> list[str]:
    folder = write_images(tmp_path_factory.mktemp('features') / 'images', 3, size=(96, 128))
    return [str(p) for p in sorted(folder.glob('*.jpg'))]


def save_runner_checkpoint(model, config: Path, path: Path) -> None:
    """A checkpoint laid out as MMEngine's Runner saves one: meta with the config, the
    state dict, the message hub (HistoryBuffers, an empty one too) and the optimizer."""
    from mmengine.config import Config
    from mmengine.logging import MessageHub

    hub = MessageHub.get_instance(f'checkpoint_{path.stem}')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/lr', 1e-3)
    hub.log_scalars['train/empty'] = type(hub.log_scalars['train/loss'])()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    meta = dict(epoch=1, iter=4, seed=0, cfg=Config.fromfile(str(config)).pretty_text)
    torch.save(dict(meta=meta, state_dict=model.state_dict(), message_hub=hub.state_dict(),
                    optimizer=optimizer.state_dict()), path)


@pytest.mark.parametrize('method', sorted(DEMO_CONFIGS))
def test_feature_extractor_reads_a_runner_checkpoint(method, images, tmp_path):
    from mmpretrain.apis import FeatureExtractor, get_model

    import gtsa_mm  # noqa: F401

    config = DEMO_CONFIGS[method]
    torch.manual_seed(0)
    trained = get_model(str(config))
    checkpoint = tmp_path / 'epoch_1.pth'
    save_runner_checkpoint(trained, config, checkpoint)

    torch.manual_seed(1)
    extractor = FeatureExtractor(str(config), pretrained=str(checkpoint), device='cpu')
    features = extractor(images, batch_size=2)
    expected = FeatureExtractor(trained, device='cpu')(images, batch_size=2)
    torch.manual_seed(1)
    untrained = FeatureExtractor(str(config), device='cpu')(images[:1])
    assert len(features) == len(images)
    (first, ) = features[0]  # the backbone's one output
    # the demo ViT (128 dims, patch 8) on the 64 px centre crop of the test pipeline
    assert tuple(first.shape) == ((128, 8, 8) if method == 'gtsa' else (128, ))
    for got, want in zip(features, expected):
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
    assert (untrained[0][0] - first).abs().max() > 1e-3  # the checkpoint's weights were used


def test_paper_config_features_of_single_images(images):
    from mmpretrain.apis import FeatureExtractor, get_model

    import gtsa_mm  # noqa: F401

    model = get_model(str(PAPER))
    assert type(model).__name__ == 'GTSA'
    (features, ), = FeatureExtractor(model, device='cpu')(images[:1])
    assert tuple(features.shape) == (384, 14, 14)  # ViT-S/16 on the 224 px centre crop


def test_the_test_loop_reports_feature_statistics(images, tmp_path):
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from gtsa_mm.evaluation import collapse_statistics

    cfg = tiny_pretrain_cfg(tmp_path / 'work', Path(images[0]).parent)
    loader = cfg.test_dataloader
    loader.update(batch_size=2, num_workers=0)
    loader.dataset.data_root = str(Path(images[0]).parent)
    loader.dataset.pipeline[1].scale = 73  # the tiny ViT's 64 px input
    loader.dataset.pipeline[2].crop_size = 64
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    assert metrics['features/num_images'] == len(images)
    model = runner.model
    with torch.no_grad():
        batch = next(iter(runner.test_dataloader))
        maps = model.extract_feat(model.data_preprocessor(batch, False)['inputs'])[-1]
    assert len(batch['inputs']) == 2 and tuple(maps.shape[-2:]) == (8, 8)
    # the same statistics from the features computed here, image by image
    features = []
    for data in runner.test_dataloader:
        with torch.no_grad():
            inputs = model.data_preprocessor(data, False)['inputs']
            features += [m.mean((1, 2)) for m in model.extract_feat(inputs)[-1]]
    expected = collapse_statistics(torch.stack(features))
    for key, value in expected.items():
        np.testing.assert_allclose(metrics[f'features/{key}'], value, rtol=1e-5)
    assert 0 < metrics['features/std_ratio'] <= 1
