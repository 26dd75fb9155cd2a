"""Feature pictures (gtsa_mm.visualization, tools/visualize_features.py): PCA colours of
planted features, view geometry against pixels, correspondences, attention recomputed
against the block's own output, and readable PNGs for real, random and extracted ViTs."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from gtsa_test_utils import (
    QUICK_TOOL_TIMEOUT_S,
    TOOL_TIMEOUT_S,
    run_tool,
    tiny_dino_model_cfg,
)
from torch import nn

from gtsa_mm.visualization import (
    VIEW_TRANSFORMS,
    LoadedBackbone,
    last_block_attention,
    load_vit,
    nearest_patches,
    patch_features,
    pca_rgb,
    view_pair,
    visualize_checkpoints,
)

PATCH = 8


class PatchColourBackbone(nn.Module):
    """A stand-in ViT whose patch feature is the patch's mean (normalised) colour."""

    out_type = 'featmap'

    def __init__(self):
        super().__init__()
        self.pool = nn.Conv2d(3, 3, PATCH, stride=PATCH, bias=False)
        with torch.no_grad():
            self.pool.weight.zero_()
            for c in range(3):
                self.pool.weight[c, c] = 1. / PATCH ** 2

    def forward(self, x):
        return (self.pool(x), )


def planted(size: int = 64) -> LoadedBackbone:
    return LoadedBackbone('planted', PatchColourBackbone(), size, (0., 0., 0.), (1., 1., 1.))


def test_pca_of_planted_features_gives_the_expected_colours():
    # R splits left/right (largest variance), G top/bottom, B alternates by patch column
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32, 0] = 250
    image[:32, :, 1] = 120
    image[:, :, 2] = np.where((np.arange(64) // PATCH) % 2 == 0, 40, 0)[None, :]
    features = patch_features(planted(), [image])
    assert features.shape == (1, 8, 8, 3)
    (rgb, ) = pca_rgb(list(features))
    # largest-loading-positive signs: high R where R is, high G where G is
    np.testing.assert_allclose(rgb[:, :4, 0], 1.)
    np.testing.assert_allclose(rgb[:, 4:, 0], 0.)
    np.testing.assert_allclose(rgb[:4, :, 1], 1.)
    np.testing.assert_allclose(rgb[4:, :, 1], 0.)
    np.testing.assert_allclose(rgb[:, 0::2, 2], 1.)
    np.testing.assert_allclose(rgb[:, 1::2, 2], 0.)


def test_pca_is_fit_jointly_so_colours_compare_across_images():
    red, blue = np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    red[:, ::2, 1] = 10  # a little variance inside each image
    features = patch_features(planted(), [red, blue])
    first, second = pca_rgb(list(features))
    # one image per end of the first component: a per-image PCA could not tell them apart
    assert first[..., 0].min() > 0.9 and second[..., 0].max() < 0.1


@pytest.mark.parametrize('transform', sorted(VIEW_TRANSFORMS))
def test_view_pair_names_the_patch_showing_the_same_pixels(transform):
    image = np.random.default_rng(0).integers(0, 256, (48, 48, 3), np.uint8)
    view_a, view_b, truth = view_pair(image, 48, PATCH, transform)
    side = 48 // PATCH
    op = VIEW_TRANSFORMS[transform]
    for a in range(side * side):
        (ya, xa), (yb, xb) = divmod(a, side), divmod(int(truth[a]), side)
        patch_a = view_a[ya * PATCH:(ya + 1) * PATCH, xa * PATCH:(xa + 1) * PATCH]
        patch_b = view_b[yb * PATCH:(yb + 1) * PATCH, xb * PATCH:(xb + 1) * PATCH]
        np.testing.assert_array_equal(op(patch_a), patch_b)


@pytest.mark.parametrize('transform', ['hflip', 'rot90'])
def test_unique_patch_features_are_all_matched_to_their_place(transform):
    # one random colour per patch: colour-pooling features identify each patch exactly
    colours = np.random.default_rng(1).integers(0, 256, (8, 8, 3), np.uint8)
    image = np.repeat(np.repeat(colours, PATCH, 0), PATCH, 1)
    view_a, view_b, truth = view_pair(image, 64, PATCH, transform)
    features = patch_features(planted(), [view_a, view_b])
    corr = nearest_patches(features[0], features[1], truth)
    assert corr.accuracy == 1.0 and corr.correct.all()
    # matching B against itself unflipped is mostly wrong for a flip/turn
    wrong = nearest_patches(features[0], features[0], truth)
    assert wrong.accuracy < 0.5


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """A one-iteration GTSA Runner checkpoint, its extracted student ViT and its config."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg, write_images

    import gtsa_mm  # noqa: F401

    root = tmp_path_factory.mktemp('pictures')
    images = write_images(root / 'images', 4)
    cfg = tiny_pretrain_cfg(root / 'work', images, max_epochs=1)
    config = root / 'tiny_gtsa.py'
    cfg.dump(str(config))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        Runner.from_cfg(cfg).train()
    runner_ckpt = root / 'work' / 'epoch_1.pth'
    state = torch.load(runner_ckpt, weights_only=True)['state_dict']
    extracted = root / 'student_backbone.pth'
    torch.save(dict(state_dict={k[len('backbone.'):]: v for k, v in state.items()
                                if k.startswith('backbone.')}), extracted)
    return dict(runner=runner_ckpt, extracted=extracted, config=config,
                images=sorted(images.glob('*.jpg'))[:2])


def test_last_block_attention_is_the_blocks_own(checkpoints):
    model = load_vit(str(checkpoints['runner']))
    block = model.backbone.layers[-1].attn
    seen = {}
    handle = block.register_forward_hook(lambda m, args, out: seen.update(x=args[0], out=out))
    image = cv2.imread(str(checkpoints['images'][0]))[..., ::-1]
    try:
        attention = last_block_attention(model, [image])
        patch_features(model, [image])
    finally:
        handle.remove()
    x = seen['x']
    n, tokens, dims = x.shape
    qkv = block.qkv(x).reshape(n, tokens, 3, block.num_heads, block.head_dims)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    weights = ((q @ k.transpose(-2, -1)) / block.head_dims ** 0.5).softmax(-1)
    out = block.proj((weights @ v).transpose(1, 2).reshape(n, tokens, dims))
    torch.testing.assert_close(out, seen['out'], rtol=1e-4, atol=1e-5)  # the same weights
    assert attention.shape == (1, 2, 8, 8)  # 2 heads, 64 px / patch 8
    patches = 64
    cls_to_patches = weights[0, :, 0, 1:].detach().numpy() * patches
    np.testing.assert_allclose(attention[0].reshape(2, -1), cls_to_patches, rtol=1e-5)
    assert (attention[0].reshape(2, -1).sum(1) / patches <= 1 + 1e-6).all()


def test_pictures_of_a_runner_checkpoint_a_random_init_and_an_extracted_backbone(
        checkpoints, tmp_path):
    files = visualize_checkpoints(
        [str(checkpoints['runner']), 'random', str(checkpoints['extracted'])],
        [str(p) for p in checkpoints['images']], str(tmp_path), config=str(checkpoints['config']),
        names=['GTSA', 'random', 'extracted'])
    assert sorted(files) == sorted(['pca'] + [f'{kind}_{name}' for kind in
                                              ('correspondences', 'attention')
                                              for name in ('GTSA', 'random', 'extracted')])
    for path in files.values():
        assert Path(path).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        picture = cv2.imread(path)
        assert picture is not None and picture.shape[0] >= 200 and picture.shape[1] >= 300
        assert picture.std() > 10  # not blank
    # the extracted file holds the Runner checkpoint's student: the same features, and
    # not the EMA teacher's nor a random init's
    images = [cv2.imread(str(p))[..., ::-1] for p in checkpoints['images']]
    student = patch_features(load_vit(str(checkpoints['runner'])), images)
    extracted = patch_features(load_vit(str(checkpoints['extracted']),
                                        config=str(checkpoints['config'])), images)
    teacher = patch_features(load_vit(str(checkpoints['runner']), teacher=True), images)
    random = patch_features(load_vit('random', config=str(checkpoints['config'])), images)
    np.testing.assert_allclose(extracted, student, rtol=0, atol=1e-6)
    assert np.abs(teacher - student).max() > 1e-4 and np.abs(random - student).max() > 1e-2


def test_tool_help_and_a_run_with_a_random_comparison(checkpoints, tmp_path):
    out = run_tool('visualize_features.py', '--help', timeout=QUICK_TOOL_TIMEOUT_S)
    assert out.returncode == 0 and '--compare' in out.stdout and '--out' in out.stdout
    images = [str(p) for p in checkpoints['images']]
    out = run_tool('visualize_features.py', str(checkpoints['runner']), *images, '--out',
                   str(tmp_path / 'pics'), '--compare', 'random', '--view', 'rot90',
                   timeout=TOOL_TIMEOUT_S)
    assert out.returncode == 0, out.stderr[-3000:]
    written = sorted(Path(p).name for p in out.stdout.split())
    assert 'pca.png' in written and len(written) == 5, written
    missing = run_tool('visualize_features.py', str(checkpoints['runner']),
                       str(tmp_path / 'nope.jpg'), '--out', str(tmp_path / 'x'),
                       timeout=TOOL_TIMEOUT_S)
    assert missing.returncode != 0 and 'nope.jpg' in missing.stderr
    assert 'Traceback' not in missing.stderr


def test_a_dino_checkpoint_with_a_class_token_backbone(tmp_path):
    """A DINO Runner-layout checkpoint (its ViT returns the class token) gives patch maps."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401

    model_cfg = tiny_dino_model_cfg()
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    checkpoint = tmp_path / 'dino.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(cfg=Config(dict(model=model_cfg)).pretty_text)), checkpoint)
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)
    loaded = load_vit(str(checkpoint))
    features = patch_features(loaded, [image])
    assert features.shape == (1, 4, 4, 32)
    with torch.no_grad():
        own = model.backbone
        own.eval()
        own.out_type = 'featmap'
        from gtsa_mm.evaluation.dense_evaluator import to_batch
        expected = own(to_batch([image], 32, loaded.mean, loaded.std))[-1]
    np.testing.assert_allclose(features[0], expected[0].permute(1, 2, 0).numpy(), atol=1e-5)
    assert last_block_attention(loaded, [image]).shape == (1, 2, 4, 4)


def _drawn_figure(monkeypatch, draw):
    """The matplotlib figure ``draw()`` saves, drawn, with its renderer."""
    from matplotlib.figure import Figure

    saved = {}
    original = Figure.savefig

    def savefig(fig, *args, **kwargs):
        saved['fig'] = fig
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, 'savefig', savefig)
    draw()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = saved['fig']
    renderer = FigureCanvasAgg(fig).get_renderer()  # pyplot closed the figure's own canvas
    fig.draw(renderer)
    return fig, renderer


def test_pca_row_names_and_title_stay_clear_of_the_images(monkeypatch, tmp_path):
    from gtsa_mm.visualization import plot_pca

    images = [np.full((64, 64, 3), 90 + 40 * i, np.uint8) for i in range(3)]
    maps = {name: [np.random.default_rng(i).random((8, 8, 3)) for i in range(3)]
            for name in ('GTSA', 'random')}
    names = ['a_rather_long_image_name_0.jpg', 'image_1.jpg', 'image_2.jpg']
    fig, renderer = _drawn_figure(
        monkeypatch, lambda: plot_pca(images, names, maps, str(tmp_path / 'pca.png')))
    axes = np.array(fig.axes).reshape(3, 3)
    image_boxes = [ax.get_window_extent(renderer) for ax in axes.flat]
    texts = [t for ax in axes[:, 0] for t in ax.texts]
    assert [t.get_text() for t in texts] == names
    for text in [*texts, fig._suptitle]:
        box = text.get_window_extent(renderer)
        assert not any(box.overlaps(image) for image in image_boxes), text.get_text()


def test_attention_maps_have_a_scale_each(tmp_path):
    from gtsa_mm.visualization.figures import plot_attention

    # a nearly uniform map (0.99 .. 1.01): with a shared 0..max scale it is one flat colour
    ramp = np.linspace(0.99, 1.01, 64, dtype=np.float32).reshape(1, 1, 8, 8)
    path = plot_attention([np.full((64, 64, 3), 128, np.uint8)], ramp, 'uniform',
                          str(tmp_path / 'attention.png'))
    picture = cv2.imread(path)
    dark = (picture.max(-1) < 30).sum()  # inferno's low end, not the grey image
    bright = ((picture[..., 2] > 240) & (picture[..., 1] > 220) & (picture[..., 0] < 190)).sum()
    assert dark > 1500 and bright > 1500  # both ends of the scale in each map
