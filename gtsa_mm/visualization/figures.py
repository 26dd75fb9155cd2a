"""Feature pictures as PNG files: PCA of patch features, patch correspondences between
two views, last-block attention; :func:`visualize_checkpoints` makes all three."""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..models.utils import vit_patch_size
from .features import (
    LoadedBackbone,
    last_block_attention,
    load_vit,
    nearest_patches,
    patch_features,
    pca_rgb,
    read_rgb,
    square,
    view_pair,
)

__all__ = [
    'plot_attention', 'plot_correspondences', 'plot_pca', 'visualize_backbones',
    'visualize_checkpoint', 'visualize_checkpoints'
]


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _upsample(rgb: np.ndarray, size: int) -> np.ndarray:
    """A patch map shown at the image's size, one flat block per patch."""
    return cv2.resize(rgb.astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)


def plot_pca(images: Sequence[np.ndarray], image_names: Sequence[str],
             pca_maps: dict[str, list[np.ndarray]], path: str) -> str:
    """One row per image: the input, then each model's PCA colours.

    The models' names head the columns; each image's name is written sideways to
    the left of its row, where it cannot run into the row above.
    """
    plt = _pyplot()
    cols = 1 + len(pca_maps)
    rows = len(images)
    # 'compressed': the layout places the titles and the row names, and packs the square
    # images without the gaps a taller grid cell leaves
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.3, 2.6 * rows + 0.7),
                             squeeze=False, layout='compressed')
    for row, (image, image_name) in enumerate(zip(images, image_names)):
        axes[row, 0].imshow(image)
        axes[row, 0].text(-0.04, 0.5, image_name, transform=axes[row, 0].transAxes,
                          rotation=90, ha='right', va='center', fontsize=8)
        for col, maps in enumerate(pca_maps.values(), start=1):
            axes[row, col].imshow(_upsample(maps[row], image.shape[0]), interpolation='nearest')
    axes[0, 0].set_title('image', fontsize=8)
    for col, name in enumerate(pca_maps, start=1):
        axes[0, col].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle('Patch features, first 3 principal components as RGB\n'
                 '(one PCA per model over all its images; each component scaled between '
                 'its 1st and 99th percentile)', fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_correspondences(view_a: np.ndarray, view_b: np.ndarray, corr, patch_size: int,
                         title: str, path: str, max_lines: int = 48) -> str:
    """View A beside view B, each sampled A patch joined to its nearest B patch: green
    where that is the patch showing the same pixels, red where not."""
    plt = _pyplot()
    size = view_a.shape[1]
    gap = max(8, size // 16)
    canvas = np.full((size, 2 * size + gap, 3), 255, np.uint8)
    canvas[:, :size], canvas[:, size + gap:] = view_a, view_b
    h, w = corr.grid
    order = np.argsort(-corr.similarity)  # the most confident matches first
    step = max(1, len(order) // max_lines)
    shown = np.sort(order[::step][:max_lines])
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.imshow(canvas)
    for a in shown:
        b = corr.match[a]
        ya, xa = (np.array(divmod(a, w)) + 0.5) * patch_size
        yb, xb = (np.array(divmod(b, w)) + 0.5) * patch_size
        ax.plot([xa, xb + size + gap], [ya, yb], '-', lw=0.8,
                color='tab:green' if corr.correct[a] else 'tab:red')
    ax.set_axis_off()
    ax.set_title(f'{title}\nnearest patch in the second view: {corr.correct.sum()}/{h * w} '
                 f'right ({100 * corr.accuracy:.0f}%), {len(shown)} drawn', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_attention(images: Sequence[np.ndarray], attention: np.ndarray, title: str,
                   path: str) -> str:
    """One row per image: the input, the heads' mean and each head (``(N, H, h, w)``).

    Every map has a colour scale of its own, from its minimum (black) to its
    maximum (yellow), written under it in units of uniform attention: a shared
    scale turns a nearly uniform map into one flat colour and hides its pattern.
    """
    plt = _pyplot()
    heads = attention.shape[1]
    cols = 2 + heads
    rows = len(images)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.2 * rows + 0.6),
                             squeeze=False, layout='compressed')
    for row, image in enumerate(images):
        axes[row, 0].imshow(image)
        panels = [('mean of heads', attention[row].mean(0))]
        panels += [(f'head {i}', attention[row, i]) for i in range(heads)]
        for col, (label, amap) in enumerate(panels, start=1):
            low, high = float(amap.min()), float(amap.max())
            axes[row, col].imshow(amap, cmap='inferno', vmin=low, vmax=max(high, low + 1e-12),
                                  interpolation='nearest')
            axes[row, col].text(0.5, -0.03, f'{low:.2f} .. {high:.2f}', ha='center',
                                va='top', fontsize=7, transform=axes[row, col].transAxes)
            if row == 0:
                axes[row, col].set_title(label, fontsize=8)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f'{title}: last-block attention (x number of patches; 1 = uniform)\n'
                 'each map scaled on its own, its min .. max written under it', fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def short_name(checkpoint: str) -> str:
    """A title for a checkpoint: its folder and file name (``run/epoch_100.pth``)."""
    parts = Path(checkpoint).parts
    return '/'.join(parts[-2:]) if len(parts) > 1 else checkpoint


def _file_stems(names: Sequence[str]) -> list[str]:
    """File-name-safe, distinct stems for the models' pictures."""
    stems = []
    for name in names:
        stem = name[:-4] if name.endswith('.pth') else name
        stem = ''.join(c if c.isalnum() or c in '-_' else '_' for c in stem).strip('_')
        stems.append(stem if stem not in stems else f'{stem}_{len(stems)}')
    return stems


def visualize_backbones(models: Sequence[LoadedBackbone], image_paths: Sequence[str],
                        out_dir: str, view_transform: str = 'hflip') -> dict[str, str]:
    """Write ``pca.png``, ``correspondences_<model>.png`` (first image) and
    ``attention_<model>.png`` for the models and images to ``out_dir``.

    Returns:
        dict[str, str]: Picture name -> path.
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    images = [read_rgb(p) for p in image_paths]
    names = [osp.basename(p) for p in image_paths]
    display_size = max(m.img_size for m in models)
    shown = [square(im, display_size) for im in images]
    files: dict[str, str] = {}

    pca_maps = {m.name: pca_rgb(list(patch_features(m, images))) for m in models}
    files['pca'] = plot_pca(shown, names, pca_maps, osp.join(out_dir, 'pca.png'))

    attention = {m.name: last_block_attention(m, images) for m in models}
    for m, stem in zip(models, _file_stems([m.name for m in models])):
        patch = vit_patch_size(m.backbone)
        view_a, view_b, truth = view_pair(images[0], m.img_size, patch, view_transform)
        feats = patch_features(m, [view_a, view_b])
        corr = nearest_patches(feats[0], feats[1], truth)
        files[f'correspondences_{stem}'] = plot_correspondences(
            view_a, view_b, corr, patch, f'{m.name}: {names[0]} and its {view_transform}',
            osp.join(out_dir, f'correspondences_{stem}.png'))
        files[f'attention_{stem}'] = plot_attention(
            [square(im, m.img_size) for im in images], attention[m.name], m.name,
            osp.join(out_dir, f'attention_{stem}.png'))
    return files


def visualize_checkpoints(checkpoints: Sequence[str], image_paths: Sequence[str],
                          out_dir: str, config: str | None = None, arch: str | None = None,
                          patch_size: int = 16, names: Sequence[str] | None = None,
                          teacher: bool = False, img_size: int | None = None,
                          view_transform: str = 'hflip', seed: int = 0) -> dict[str, str]:
    """Feature pictures of mmpretrain ViT checkpoints (see :func:`load_vit` for what
    ``checkpoints`` may hold, ``'random'`` included) on ``image_paths``. Without
    ``config``/``arch``, a ``'random'`` entry is a fresh init of the first real
    checkpoint's ViT.

    Returns:
        dict[str, str]: Picture name -> PNG path (``pca``, ``correspondences_<model>``,
        ``attention_<model>``).
    """
    if names is not None and len(names) != len(checkpoints):
        raise ValueError(f'{len(names)} names for {len(checkpoints)} checkpoints')
    real = [c for c in checkpoints if c != 'random']
    models = []
    for i, checkpoint in enumerate(checkpoints):
        name = names[i] if names else short_name(checkpoint)
        models.append(load_vit(checkpoint, config, arch, patch_size, teacher, img_size,
                               name=name, seed=seed, like=real[0] if real else None))
    return visualize_backbones(models, image_paths, out_dir, view_transform)


visualize_checkpoint = visualize_checkpoints  # one checkpoint is a list of one
