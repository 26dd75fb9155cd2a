"""A folder of unlabeled images for self-supervised pretraining.

Real photo folders contain files that cannot be decoded (zero-byte or truncated
downloads, HTML error pages saved as ``.jpg``, macOS ``._*`` resource forks).
:class:`UnlabeledImageFolder` keeps training going through them: an unreadable
image is reported once, by name, and replaced by the next readable image, so
every batch keeps its size and the replacement is the same on every run.
See ``docs/reliability.md`` for what happens to each kind of file.

Why not MMPretrain's ``CustomDataset(with_label=False)``: it lists the same files
(recursive, sorted), but checked 2026-12-01 (mmpretrain 1.2.0) on a folder with one
zero-byte ``.jpg``, iterating it stops at that file with OpenCV's ``imdecode``
error, and it cannot take ``SeededSampler``'s ``(index, aug_seed)`` indices
(``TypeError``), which make the views independent of workers and resuming. This
class adds exactly those two (plus errors that name the folder); listing and
``ann_file`` follow ``CustomDataset``.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from collections.abc import Callable, Sequence

import torch
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


class UnreadableImageError(RuntimeError):
    """An image file that the loading transform could not decode.

    Args:
        path (str): The file that failed.
        reason (str): Why it failed (the loader's exception, or that it
            returned no image).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"Cannot read image '{path}': {reason}. Delete or repair the file (or leave it "
            'out of ann_file), or set skip_bad_images=True in the dataset config to skip '
            'unreadable images with a warning.')


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDataset):
    """All images under a folder, found recursively, without labels.

    The images are listed once, at construction, in sorted order of their
    paths relative to the folder, so sample ``i`` is the same file on every
    machine. Hidden files and folders (names starting with ``.``) are skipped.
    Symbolic links to folders below the root are not followed.

    **Unreadable images.** The first transform of ``pipeline`` is taken to be
    the loading transform (``LoadImageFromFile`` in every MMPretrain config).
    If it raises or returns no image, the file counts as unreadable:

    - with ``skip_bad_images=True`` (default, training only) one warning
      naming the file and the running count of unreadable files is logged,
      and the next readable image in the list is used instead (a
      deterministic replacement, so batches keep their size). The file is
      remembered in a flag array in shared memory, so DataLoader workers,
      also those of later epochs, skip it without decoding or reporting it
      again.
    - with ``skip_bad_images=False``, or in ``test_mode``, an
      :class:`UnreadableImageError` naming the file is raised.

    Exceptions of the later transforms are not caught: they are bugs, not bad
    files (when the pipeline raises, the loader is run once more on its own to
    tell which it was). The dataset calls its ``pipeline`` as a whole, so a
    pipeline put there from outside (MMPretrain's ``browse_dataset.py``) sees
    every sample. Readable images are used as the loader decodes them; with
    ``LoadImageFromFile`` (OpenCV) that is 3-channel uint8 BGR with the EXIF
    orientation applied and 16-bit images scaled to 8 bits.

    **Missing or empty folder.** Construction fails with a
    ``FileNotFoundError`` that names the folder, before any training starts.

    **Seeded indices.** An index may be a ``(index, aug_seed)`` pair, as
    :class:`~gtsa_mm.datasets.SeededSampler` yields. The pair goes through
    ``BaseDataset.__getitem__`` to :meth:`prepare_data` as it is, which puts
    ``aug_seed`` into the sample's data info; ``GTSAMultiCrop`` draws the sample's
    views from it (see ``docs/reliability.md``, "Resume and multi-process"). A
    sample that MMEngine's refetch draws instead of one whose pipeline returned
    None (``_rand_another``, a plain index) has no seed.

    Args:
        data_root (str): The folder of images, or the root that
            ``data_prefix`` and ``ann_file`` are relative to.
        data_prefix (str): Sub-folder of ``data_root`` that holds the images.
            Defaults to '' (the images are in ``data_root``).
        ann_file (str): Optional text file listing the images to use, one
            path per line, relative to the image folder. Blank lines and lines
            starting with ``#`` are ignored; a trailing integer label (the
            MMPretrain ``CustomDataset`` format ``path label``) is ignored.
            Relative to ``data_root`` unless absolute. Defaults to '' (scan
            the folder).
        extensions (Sequence[str]): File extensions that count as images,
            matched case-insensitively. Defaults to :data:`IMG_EXTENSIONS`.
        skip_bad_images (bool): Whether to skip unreadable images (with one
            warning each) instead of raising. Defaults to True.
        pipeline (Sequence[dict | Callable]): Processing pipeline; its first
            transform must load the image. Defaults to ().
        metainfo (dict, optional): Meta information of the dataset.
            Defaults to None.
        indices (int | Sequence[int], optional): Use only these samples (the
            first ``indices`` ones if an int). Defaults to None (all).
        serialize_data (bool): Whether to hold the file list as one serialized
            array that DataLoader workers share. Defaults to True.
        test_mode (bool): Whether the dataset is used for testing; then
            unreadable images always raise. Defaults to False.
        lazy_init (bool): Whether to delay scanning the folder until first
            use. Defaults to False.
        max_refetch (int): How many following images to try when an image is
            unreadable before giving up with an error. Defaults to 1000.
    """

    def __init__(self,
                 data_root: str,
                 data_prefix: str = '',
                 ann_file: str = '',
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 skip_bad_images: bool = True,
                 pipeline: Sequence[dict | Callable] = (),
                 metainfo: dict | None = None,
                 indices: int | Sequence[int] | None = None,
                 serialize_data: bool = True,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        if isinstance(extensions, str):
            extensions = (extensions, )
        self.extensions = tuple(
            ext.lower() if ext.startswith('.') else f'.{ext.lower()}' for ext in extensions)
        self.skip_bad_images = skip_bad_images
        self._bad: torch.Tensor | None = None
        self._reported: torch.Tensor | None = None
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            indices=indices,
            serialize_data=serialize_data,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    # ------------------------------------------------------------------ listing
    def load_data_list(self) -> list[dict]:
        """List the images, from ``ann_file`` or by scanning the folder.

        Returns:
            list[dict]: One ``dict(img_path=...)`` per image, sorted by path
            when scanned, in file order when read from ``ann_file``.
        """
        folder = osp.normpath(self.img_prefix) if self.img_prefix else ''
        if not folder or not osp.isdir(folder):
            raise FileNotFoundError(
                f"{type(self).__name__}: image folder '{folder}' does not exist "
                f'(data_root={self.data_root!r}). Point the dataset at a folder of images, '
                'e.g. --cfg-options train_dataloader.dataset.data_root=/path/to/images')
        if self.ann_file:
            rel_paths = self._read_ann_file(folder)
        else:
            rel_paths = self._scan_folder(folder)
            if not rel_paths:
                raise FileNotFoundError(
                    f"{type(self).__name__}: no image files ({', '.join(self.extensions)}) "
                    f"found under '{folder}' (searched recursively, hidden files skipped). "
                    'Put images there, point data_root/data_prefix at the folder that '
                    'holds them, or set `extensions`.')
        return [dict(img_path=osp.join(folder, rel_path)) for rel_path in rel_paths]

    def _scan_folder(self, folder: str) -> list[str]:
        """Relative paths of all image files below ``folder``, sorted."""
        rel_paths = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [name for name in dirnames if not name.startswith('.')]
            rel_dir = osp.relpath(dirpath, folder)
            for name in filenames:
                if name.startswith('.') or not name.lower().endswith(self.extensions):
                    continue
                rel_paths.append(name if rel_dir == '.' else osp.join(rel_dir, name))
        # Sort on path components so 'a/b.jpg' < 'a-b.jpg' does not depend on the separator.
        rel_paths.sort(key=lambda path: path.split(os.sep))
        return rel_paths

    def _read_ann_file(self, folder: str) -> list[str]:
        """Relative image paths listed in ``self.ann_file``."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f"{type(self).__name__}: ann_file '{self.ann_file}' does not exist. "
                "Give a text file with one image path per line, or ann_file='' to use "
                'every image in the folder.')
        rel_paths = []
        with open(self.ann_file, encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                parts = line.rsplit(maxsplit=1)
                if len(parts) == 2 and parts[1].lstrip('-').isdigit():
                    line = parts[0]  # 'path label' as in MMPretrain's CustomDataset
                rel_paths.append(line)
        if not rel_paths:
            raise FileNotFoundError(
                f"{type(self).__name__}: ann_file '{self.ann_file}' lists no images.")
        # A wrong prefix makes every entry miss; catch that here rather than by
        # skipping every image during training. Other missing files are skipped later.
        first = osp.join(folder, rel_paths[0])
        if not osp.isfile(first):
            raise FileNotFoundError(
                f"{type(self).__name__}: the first image listed in '{self.ann_file}' "
                f"('{rel_paths[0]}') is not in '{folder}'. Paths in ann_file must be "
                'relative to data_root/data_prefix.')
        return rel_paths

    def full_init(self) -> None:
        """List the images and create the shared per-image status flags."""
        if self._fully_initialized:
            return
        super().full_init()
        self._reset_image_status()

    def get_subset_(self, indices: int | Sequence[int]) -> None:
        """Keep only ``indices`` in place; see :meth:`BaseDataset.get_subset_`.

        Args:
            indices (int | Sequence[int]): The samples to keep.
        """
        super().get_subset_(indices)
        self._reset_image_status()

    def get_subset(self, indices: int | Sequence[int]) -> UnlabeledImageFolder:
        """A subset of the dataset; see :meth:`BaseDataset.get_subset`.

        Args:
            indices (int | Sequence[int]): The samples to keep.

        Returns:
            UnlabeledImageFolder: The subset.
        """
        subset = super().get_subset(indices)
        subset._reset_image_status()
        return subset

    def _reset_image_status(self) -> None:
        # Shared memory: DataLoader workers (forked or spawned) see each
        # other's findings, and so do the workers of later epochs. Flags only
        # ever go from 0 to 1, so concurrent writers cannot undo each other.
        self._bad = torch.zeros(len(self), dtype=torch.uint8).share_memory_()
        self._reported = torch.zeros(len(self), dtype=torch.uint8).share_memory_()

    # ----------------------------------------------------------------- loading
    @property
    def num_bad_images(self) -> int:
        """How many unreadable images were found so far (all workers)."""
        return 0 if self._bad is None else int(self._bad.sum())

    @property
    def bad_image_paths(self) -> list[str]:
        """The unreadable images found so far (all workers), in list order."""
        if self._bad is None:
            return []
        return [self.get_data_info(idx)['img_path']
                for idx in torch.nonzero(self._bad).flatten().tolist()]

    def prepare_data(self, idx: int | tuple[int, tuple[int, ...]]) -> dict | None:
        """Load and transform sample ``idx``, replacing an unreadable image.

        Args:
            idx (int | tuple): The index of the sample, or ``(index, aug_seed)``.

        Returns:
            dict | None: The output of the pipeline (None only if a later
            transform returns None, as random transforms may).
        """
        idx, aug_seed = idx if isinstance(idx, tuple) else (idx, None)
        if self.test_mode or not self.skip_bad_images:
            return self._load_and_transform(idx, aug_seed)
        assert self._bad is not None and self._reported is not None
        num_samples = len(self)
        attempts = min(self.max_refetch + 1, num_samples)
        for offset in range(attempts):
            candidate = (idx + offset) % num_samples
            # Each index is drawn by the sampler once per epoch, so reporting
            # only drawn indices reports each file once, even across workers.
            drawn = offset == 0
            if self._bad[candidate] and (self._reported[candidate] or not drawn):
                continue
            try:
                return self._load_and_transform(candidate, aug_seed)
            except UnreadableImageError as err:
                self._bad[candidate] = 1
                if drawn:
                    self._reported[candidate] = 1
                    self._report_bad_image(candidate, reason=err.reason)
        raise RuntimeError(
            f'{type(self).__name__}: image {idx} and the {attempts - 1} images after it are '
            f"all unreadable (first: '{self.get_data_info(idx)['img_path']}'). Check the "
            f"files under '{self.img_prefix}' and the loading transform.")

    def _report_bad_image(self, idx: int, reason: str) -> None:
        path = self.get_data_info(idx)['img_path']
        print_log(
            f"Skipping unreadable image '{path}' ({reason}); the next readable image is "
            f'used instead. {self.num_bad_images} unreadable of {len(self)} images so far.',
            logger='current',
            level=logging.WARNING)

    def _load_and_transform(self, idx: int, aug_seed: tuple[int, ...] | None = None
                            ) -> dict | None:
        """Run the pipeline on sample ``idx`` (with ``aug_seed`` in its data info
        when given); a loader failure raises :class:`UnreadableImageError`.

        The whole pipeline is called, as every MMEngine dataset calls it, so a
        pipeline substituted from outside sees every sample (MMPretrain's
        ``tools/visualization/browse_dataset.py`` puts an ``InspectCompose``
        there to record each transform's image). Only when the pipeline raises
        or returns None is the loading transform run again on its own, to tell
        an unreadable file from a failure of a later transform.
        """
        results = self.get_data_info(idx)
        if aug_seed is not None:
            results['aug_seed'] = aug_seed
        try:
            output = self.pipeline(results)
        except Exception:
            self._raise_if_unreadable(idx)
            raise  # the file is readable: a later transform failed
        if output is None:
            self._raise_if_unreadable(idx)
        return output

    def _raise_if_unreadable(self, idx: int) -> None:
        """Raise :class:`UnreadableImageError` if the loading transform (the
        pipeline's first) fails on sample ``idx`` or returns no image."""
        transforms = self.pipeline.transforms
        if not transforms:
            return
        loader = transforms[0]
        results = self.get_data_info(idx)
        path = results.get('img_path', f'sample {idx}')
        try:
            loaded = loader(results)
        except Exception as err:  # any decoder or I/O failure means a bad file
            raise UnreadableImageError(path, _describe_failure(path, err)) from err
        if loaded is None or loaded.get('img') is None:
            raise UnreadableImageError(path, f'{type(loader).__name__} returned no image')

    def extra_repr(self) -> list[str]:
        """Extra lines for ``repr(dataset)``."""
        return [
            f'Image folder: \t{self.img_prefix}',
            f'Annotation file: \t{self.ann_file or "(none, folder scanned)"}',
            f'Skip unreadable images: \t{self.skip_bad_images}',
        ]


def _describe_failure(path: str, err: Exception) -> str:
    """A one-line reason for a loader failure, plainer than OpenCV's."""
    try:
        if osp.getsize(path) == 0:
            return 'empty file (0 bytes)'
    except OSError:
        pass
    message = ' '.join(str(err).replace(path, '').split()).rstrip(' :')
    if isinstance(err, AssertionError) and message == 'failed to load image':
        # What mmcv's LoadImageFromFile asserts when OpenCV decodes nothing.
        return 'not decodable: truncated, corrupt or not an image'
    return f'{type(err).__name__}: {message}' if message else type(err).__name__
