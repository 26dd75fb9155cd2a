"""A sampler whose augmentations do not depend on workers, ranks or resuming."""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from mmengine.dataset import DefaultSampler
from mmpretrain.registry import DATA_SAMPLERS


def augmentation_seed(seed: int, epoch: int, index: int) -> tuple[int, int, int]:
    """The ``aug_seed`` :class:`SeededSampler` gives sample ``index`` in ``epoch``, ``seed``
    being the sampler's seed (MMEngine's ``randomness.seed`` without ``diff_rank_seed``)."""
    return int(seed) % 2**63, int(epoch), int(index)


class SeededIndex(NamedTuple):
    """A dataset index with the seed of its random augmentation.

    ``UnlabeledImageFolder`` accepts it in place of an int and passes ``seed``
    to the pipeline as ``results['aug_seed']``.
    """

    index: int
    seed: tuple[int, int, int]


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """``DefaultSampler`` that gives each sample its augmentation seed and can
    start an epoch part-way.

    **Seeds.** MMEngine seeds NumPy per DataLoader worker, so a sample's crops
    depend on which worker loads it and on everything that worker loaded
    before; resuming (new workers, re-seeded) or changing ``num_workers`` or
    the number of processes changes them. This sampler yields
    :class:`SeededIndex` ``(index, (seed, epoch, index))`` instead of ``index``
    (:func:`augmentation_seed`);
    the dataset puts the triple into the results as ``aug_seed`` and
    ``GTSAMultiCrop`` draws from ``np.random.default_rng(aug_seed)``. Sample
    ``i`` of epoch ``e`` is then augmented the same way whatever the worker,
    rank, world size or resume point. ``seed`` is the shuffling seed, equal on
    all ranks (MMEngine's ``randomness.seed``, or a seed shared from rank 0).

    **Part-way start.** MMEngine's ``EpochBasedTrainLoop`` restarts an epoch
    from its first batch when resumed from a mid-epoch checkpoint.
    :meth:`skip_first` (called by ``ExactResumeHook``) drops the samples this
    rank already trained on in epoch ``epoch``; other epochs are unaffected.

    The order, padding (``round_up``) and rank split are those of
    ``DefaultSampler``. The dataset must accept :class:`SeededIndex`
    (``UnlabeledImageFolder`` does).

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): Whether to shuffle. Defaults to True.
        seed (int, optional): Shuffling and augmentation seed, identical on
            all ranks. Defaults to None (shared from rank 0).
        round_up (bool): Pad to a multiple of the world size. Defaults to True.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._skip_epoch: int | None = None
        self._skip = 0

    def skip_first(self, num_samples: int, epoch: int) -> None:
        """Leave out this rank's first ``num_samples`` samples of ``epoch``.

        Args:
            num_samples (int): Samples already consumed (batches x batch size).
            epoch (int): The epoch it applies to.
        """
        if num_samples < 0:
            raise ValueError(f'SeededSampler: num_samples must be >= 0, got {num_samples}')
        self._skip_epoch, self._skip = epoch, num_samples

    def _num_skipped(self) -> int:
        return min(self._skip, self.num_samples) if self.epoch == self._skip_epoch else 0

    def __iter__(self) -> Iterator[SeededIndex]:
        indices = list(super().__iter__())[self._num_skipped():]
        return iter([SeededIndex(i, augmentation_seed(self.seed, self.epoch, i))
                     for i in indices])

    def __len__(self) -> int:
        return self.num_samples - self._num_skipped()
