"""MMPretrain's tools/visualization/browse_dataset.py on the pretraining configs.

The browser (not in MMPretrain's wheel) builds the ``train_dataloader`` dataset, puts an
``InspectCompose`` in place of its pipeline that records the image after every transform,
builds ``UniversalVisualizer(**cfg.visualizer minus type)``, and for ``-m transformed``,
``concat`` and ``pipeline`` trims a matplotlib grid with ``_tight_bbox.adjust_bbox(figure,
bbox)``. These tests take the same steps: the config's visualizer dict must be accepted
as keyword arguments, the dataset must call the substituted pipeline, and the two-argument
``adjust_bbox`` call must work on the pinned matplotlib.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from gtsa_test_utils import TOOL_TIMEOUT_S
from mmengine.config import Config
from mmengine.dataset import Compose
from pretrain_helpers import write_images

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'
PAPER = REPO / 'configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'
PRETRAIN_CONFIGS = sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').glob('*/*.py')
                          if p.parent.name in ('gtsa', 'dino'))


class RecordingCompose(Compose):
    """A pipeline that keeps ``(transform name, image)`` after each transform, as the
    browser's ``InspectCompose`` does."""

    def __init__(self, transforms, record: list) -> None:
        super().__init__(transforms)
        self.record = record

    def __call__(self, data: dict) -> dict | None:
        for transform in self.transforms:
            data = transform(data)
            if data is None:
                return None
            if 'img' in data:
                image = data['img']
                self.record.append((type(transform).__name__,
                                    list(image) if isinstance(image, list) else image.copy()))
        return data


def browser_visualizer(cfg: Config):
    """The visualizer as the browser builds it: the config's dict without ``type``."""
    from mmpretrain.visualization import UniversalVisualizer

    kwargs = dict(cfg.visualizer)
    kwargs.pop('type')
    return UniversalVisualizer(**kwargs, fig_show_cfg=dict(figsize=(4, 3)),
                               fig_save_cfg=dict(figsize=(4, 3)))


def grid_picture(images: list, names: list[str]) -> np.ndarray:
    """The browser's grid of images: one column per entry, a list as a column of rows,
    trimmed with the two-argument ``adjust_bbox`` call; returns the canvas as RGB."""
    from matplotlib import _tight_bbox, transforms
    from mmengine.visualization.utils import img_from_canvas
    from mmpretrain.visualization import create_figure

    figure = create_figure(dpi=50, figsize=(8, 5))
    rows = max(len(img) if isinstance(img, list) else 1 for img in images)
    grid = figure.add_gridspec(rows, len(images))
    for col, (img, name) in enumerate(zip(images, names)):
        column = img if isinstance(img, list) else [img]
        for row, part in enumerate(column):
            ax = figure.add_subplot(grid[row, col] if isinstance(img, list) else grid[:, col])
            ax.axis(False)
            ax.imshow(part)
            ax.set_title(f'{name}{row if isinstance(img, list) else ""}', fontsize=6)
    figure.tight_layout()
    points = figure.get_tightbbox().get_points() + [[0, 0], [0, 0.5]]
    _tight_bbox.adjust_bbox(figure, transforms.Bbox(points))
    return img_from_canvas(figure.canvas)


@pytest.mark.parametrize('config', PRETRAIN_CONFIGS)
def test_the_visualizer_builds_from_keyword_arguments(config):
    import gtsa_mm  # noqa: F401

    cfg = Config.fromfile(str(REPO / config))
    assert '_scope_' not in cfg.visualizer
    visualizer = browser_visualizer(cfg)
    assert type(visualizer).__name__ == 'UniversalVisualizer'


@pytest.fixture(scope='module')
def images(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp('browse') / 'images', 2)


@pytest.mark.parametrize('config, options', [
    (DEMO, {}),
    # the paper's views leave as 3 x S x S tensors, which matplotlib cannot show
    (PAPER, {'train_dataloader.dataset.pipeline.1.channels_first': False}),
])
def test_original_and_pipeline_modes(config, options, images, tmp_path):
    from mmengine.registry import init_default_scope
    from mmpretrain.datasets.builder import build_dataset

    import gtsa_mm  # noqa: F401

    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(images), **options})
    init_default_scope('mmpretrain')
    dataset = build_dataset(cfg.train_dataloader.dataset)
    record = []
    dataset.pipeline = RecordingCompose(dataset.pipeline.transforms, record)
    visualizer = browser_visualizer(cfg)
    multi_crop = cfg.train_dataloader.dataset.pipeline[1]
    num_views = multi_crop.num_global + multi_crop.num_local
    for index, item in zip(range(2), dataset):
        names = [name for name, _ in record]
        assert names == ['LoadImageFromFile', 'GTSAMultiCrop']
        original = record[0][1]
        path = dataset.get_data_info(index)['img_path']
        np.testing.assert_array_equal(original, cv2.imread(path))
        views = record[-1][1]
        assert len(views) == num_views and all(v.shape[-1] == 3 for v in views)
        pictures = {
            'original': original,
            'pipeline': grid_picture([img for _, img in record], names),
        }
        record.clear()
        for mode, picture in pictures.items():
            assert picture.ndim == 3 and picture.shape[-1] == 3 and picture.std() > 5
            out_file = tmp_path / mode / Path(item['data_samples'].img_path).name
            visualizer.visualize_cls(picture[..., ::-1], item['data_samples'].numpy(),
                                     show=False, out_file=str(out_file))
            assert cv2.imread(str(out_file)) is not None


def test_adjust_bbox_without_a_renderer():
    import matplotlib
    from matplotlib import _tight_bbox, transforms

    import gtsa_mm  # noqa: F401

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.imshow(np.zeros((4, 4)))
    restore = _tight_bbox.adjust_bbox(fig, transforms.Bbox([[0.5, 0.5], [2.5, 1.5]]))
    assert tuple(fig.bbox_inches.size) == (2.0, 1.0)
    restore()
    assert tuple(fig.bbox_inches.size) == (3.0, 2.0)
    fig.savefig(Path('/dev/null'), format='png', bbox_inches='tight')  # matplotlib's own call
    plt.close(fig)


def test_adjust_bbox_imported_by_name_before_gtsa_mm():
    """MMPretrain 1.2.0's browser imports the function before the config imports gtsa_mm."""
    script = textwrap.dedent('''
        import matplotlib
        matplotlib.use('Agg')
        from matplotlib._tight_bbox import adjust_bbox
        from matplotlib import transforms
        import matplotlib.pyplot as plt
        import gtsa_mm
        fig = plt.figure(figsize=(3, 2))
        fig.add_subplot().plot([0, 1])
        adjust_bbox(fig, transforms.Bbox([[0, 0], [2, 1]]))
        print(tuple(float(v) for v in fig.bbox_inches.size))
    ''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         cwd=REPO, timeout=TOOL_TIMEOUT_S)
    assert out.returncode == 0 and out.stdout.split('\n')[-2] == '(2.0, 1.0)', out.stderr[-2000:]
