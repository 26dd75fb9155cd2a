"""Pictures of GTSA's views: what ``GTSAMultiCrop`` cuts from an image and what the model sees.

For one sample of a config's training set, :func:`plot_views` draws the source image
with every crop box, and every view as the network receives it (cropped, resized,
colour-augmented and turned), with the region it shares with each view of its
(global, other) pairs outlined in that view's colour, and its quarter turn written
above it. The views and boxes are the pipeline's own: the dataset's transforms run up to
and including ``GTSAMultiCrop``, whose geometry keys (``crop_boxes``,
``rotation_label``, ``global_region_boxes``, ``view_region_boxes``) are drawn as they
are. ``tools/browse_views.py`` is the command line.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gtsa_mm.geometry import quarter_turn

__all__ = ['ViewSample', 'browse_views', 'multi_crop_position', 'plot_views', 'sample_views',
           'view_origins']


@dataclass
class ViewSample:
    """One sample's source image, views and geometry, as ``GTSAMultiCrop`` made them.

    Args:
        name: The image file's name (or the sample index).
        image: ``H x W x 3`` uint8 RGB, the image the crops were cut from.
        views: ``V`` arrays ``S x S x 3`` uint8 RGB, each as the model sees it
            (after its quarter turn); the first ``num_global`` are the global views.
        crop_boxes: ``(V, 4)`` crop boxes in image pixels.
        rotation_labels: ``(V,)`` quarter turns (``np.rot90``, counter-clockwise).
        global_region_boxes: ``(G, V, 4)`` the region global ``g`` shares with view
            ``v``, in ``g``'s turned pixels.
        view_region_boxes: ``(V, G, 4)`` the same regions in ``v``'s turned pixels.
        num_global: Number of global views ``G``.
    """
    name: str
    image: np.ndarray
    views: list[np.ndarray]
    crop_boxes: np.ndarray
    rotation_labels: np.ndarray
    global_region_boxes: np.ndarray
    view_region_boxes: np.ndarray
    num_global: int

    @property
    def view_names(self) -> list[str]:
        """``g0, g1, ...`` for the global views, ``l0, l1, ...`` for the local ones."""
        return ([f'g{i}' for i in range(self.num_global)]
                + [f'l{i}' for i in range(len(self.views) - self.num_global)])


def multi_crop_position(transforms: Sequence) -> int:
    """Index of the ``GTSAMultiCrop`` transform in a pipeline's transforms."""
    from gtsa_mm.datasets.transforms import GTSAMultiCrop

    for position, transform in enumerate(transforms):
        if isinstance(transform, GTSAMultiCrop):
            return position
    raise ValueError('the pipeline has no GTSAMultiCrop transform: '
                     f'{[type(t).__name__ for t in transforms]}')


def _rgb(image) -> np.ndarray:
    """A BGR view or image (``H x W x 3``, ``3 x H x W`` tensor, or gray) as RGB uint8."""
    if isinstance(image, torch.Tensor):
        image = image.numpy()
        if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
            image = image.transpose(1, 2, 0)
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., ::-1])


def sample_views(dataset, index: int, seed: int = 0, epoch: int = 0) -> ViewSample:
    """Run a dataset's pipeline on sample ``index`` up to ``GTSAMultiCrop``, inclusive.

    Args:
        dataset: A built dataset whose ``pipeline`` contains ``GTSAMultiCrop``
            (the pretraining configs' ``train_dataloader.dataset``).
        index: The sample.
        seed: The sampler's seed (the config's ``randomness.seed`` when
            ``diff_rank_seed`` is off, as in the demo configs).
        epoch: The training epoch (0: the first). The crops are drawn from
            ``aug_seed=(seed, epoch, index)``
            (:func:`~gtsa_mm.datasets.samplers.augmentation_seed`), as
            ``SeededSampler`` seeds sample ``index`` in ``epoch``: the picture shows
            that training sample, and can be made again.

    Returns:
        ViewSample: The image, the views and their geometry.
    """
    from gtsa_mm.datasets.samplers import augmentation_seed

    transforms = dataset.pipeline.transforms
    position = multi_crop_position(transforms)
    results = dataset.get_data_info(index)
    results['aug_seed'] = augmentation_seed(seed, epoch, index)
    for transform in transforms[:position]:  # loading, and anything before the crops
        results = transform(results)
    image = _rgb(results['img'])
    multi_crop = transforms[position]
    results = multi_crop(results)
    name = osp.basename(str(results.get('img_path', index)))

    def array(key: str) -> np.ndarray:
        value = results[key]
        return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)

    return ViewSample(
        name=name,
        image=image,
        views=[_rgb(view) for view in results['img']],
        crop_boxes=array('crop_boxes'),
        rotation_labels=array('rotation_label'),
        global_region_boxes=array('global_region_boxes'),
        view_region_boxes=array('view_region_boxes'),
        num_global=multi_crop.num_global)


def view_origins(crop_boxes: np.ndarray, rotation_labels: np.ndarray) -> np.ndarray:
    """The corner of each crop box that becomes its view's top-left corner.

    A view turned ``k`` quarter turns shows at its top-left the box corner that
    :func:`gtsa_mm.geometry.quarter_turn` sends to ``(0, 0)``.

    Args:
        crop_boxes: ``(V, 4)`` crop boxes in image pixels.
        rotation_labels: ``(V,)`` quarter turns.

    Returns:
        ``(V, 2)`` points ``(x, y)`` in image pixels (edge coordinates).
    """
    crop_boxes = np.asarray(crop_boxes, dtype=np.float64)
    # the unit square's corner that k turns bring to the origin: undo the turns there
    corner = quarter_turn(np.zeros((len(crop_boxes), 2)), -np.asarray(rotation_labels), 1.)
    low, high = crop_boxes[:, :2], crop_boxes[:, 2:]
    return low + corner * (high - low)


def _colours(count: int) -> list:
    import matplotlib

    palette = matplotlib.colormaps['tab10' if count <= 10 else 'tab20']
    return [palette(i % palette.N) for i in range(count)]


def _outline(ax, box, colour, width: float, margin: float = 0.) -> None:
    """Draw a box given in pixel-edge coordinates, ``margin`` pixels outside it."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = (float(v) for v in box)
    # imshow puts pixel centres at integers, so edges at -0.5
    ax.add_patch(Rectangle((x0 - 0.5 - margin, y0 - 0.5 - margin), x1 - x0 + 2 * margin,
                           y1 - y0 + 2 * margin, fill=False, edgecolor=colour,
                           linewidth=width, clip_on=margin == 0))


def plot_views(sample: ViewSample, path: str, dpi: int = 100) -> str:
    """Draw the source image with the crop boxes beside the views; write a PNG.

    Layout: the source image (every crop box in its view's colour, named, with a
    dot at the corner that becomes the view's top-left), then the global views at
    twice the size of the local ones below. On each view, the region it shares
    with each view it is paired with (every other view for a global one, every
    global view for a local one) is outlined in that view's colour; the title
    names the view, its size and its quarter turn (counter-clockwise).

    Args:
        sample: What :func:`sample_views` returns.
        path: The PNG to write.
        dpi: Resolution of the PNG.

    Returns:
        str: ``path``.
    """
    from .figures import _pyplot

    plt = _pyplot()
    num_views, num_global = len(sample.views), sample.num_global
    num_local = num_views - num_global
    cols = 4 + 2 * num_global
    local_rows = -(-num_local // cols)
    rows = 2 + local_rows
    cell = 1.25
    fig = plt.figure(figsize=(cell * cols, cell * rows + 0.5), layout='constrained')
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.06)  # room for the views' frames
    grid = fig.add_gridspec(rows, cols)
    colours = _colours(num_views)
    names = sample.view_names

    ax = fig.add_subplot(grid[:2, :4])
    ax.imshow(sample.image)
    origins = view_origins(sample.crop_boxes, sample.rotation_labels)
    for v in range(num_views):
        is_global = v < num_global
        _outline(ax, sample.crop_boxes[v], colours[v], 2.0 if is_global else 1.0)
        x0, y0 = sample.crop_boxes[v, :2]
        ax.text(x0 + 1, y0 + 1, names[v], color='white', fontsize=6, ha='left', va='top',
                bbox=dict(facecolor=colours[v], edgecolor='none', pad=1.0))
        ax.plot(origins[v, 0] - 0.5, origins[v, 1] - 0.5, 'o', color=colours[v],
                markersize=4 if is_global else 3, markeredgecolor='white', markeredgewidth=0.5)
    height, width = sample.image.shape[:2]
    ax.set_title(f'{sample.name} ({width} x {height}): crop boxes, dot = the corner '
                 "at the view's top left", fontsize=7)
    ax.set_axis_off()

    for v in range(num_views):
        if v < num_global:
            panel = fig.add_subplot(grid[:2, 4 + 2 * v:6 + 2 * v])
            partners = [(u, sample.global_region_boxes[v, u]) for u in range(num_views)
                        if u != v]
        else:
            row, col = divmod(v - num_global, cols)
            panel = fig.add_subplot(grid[2 + row, col])
            partners = [(g, sample.view_region_boxes[v, g]) for g in range(num_global)]
        view = sample.views[v]
        panel.imshow(view, interpolation='nearest')
        for u, box in partners:
            _outline(panel, box, colours[u], 1.2)
        size = view.shape[0]
        # the view's own colour as a frame outside it, clear of the outlines on its edges
        _outline(panel, (0, 0, size, size), colours[v], 2.0, margin=0.03 * size)
        turn = int(sample.rotation_labels[v])
        panel.set_title(f'{names[v]} {size} px, turn {turn} ({90 * turn}°)', fontsize=7,
                        color=colours[v], pad=7)
        panel.set_axis_off()
    fig.suptitle('GTSA views as the model sees them (after their quarter turn); outlined in '
                 "each view: the region it shares with each paired view, in that view's colour",
                 fontsize=8)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def browse_views(config: str, out_dir: str, num_images: int = 4, start: int = 0,
                 seed: int = 0, epoch: int = 0,
                 cfg_options: dict | None = None) -> list[str]:
    """Write ``views_<index>_<image>.png`` for samples of a config's training set.

    Args:
        config: A pretraining config whose ``train_dataloader.dataset.pipeline``
            has ``GTSAMultiCrop``.
        out_dir: Folder of the PNGs (created).
        num_images: How many samples (fewer if the dataset is smaller).
        start: The first sample's index.
        seed: The sampler's seed (see :func:`sample_views`).
        epoch: The training epoch whose crops are drawn (0: the first).
        cfg_options: Settings merged into the config
            (``{'train_dataloader.dataset.data_root': ...}``).

    Returns:
        list[str]: The PNG paths.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    cfg = Config.fromfile(config)  # imports gtsa_mm through custom_imports
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for index in range(start, min(start + num_images, len(dataset))):
        sample = sample_views(dataset, index, seed, epoch)
        stem = osp.splitext(sample.name)[0]
        paths.append(plot_views(sample, osp.join(out_dir, f'views_{index:04d}_{stem}.png')))
    return paths
