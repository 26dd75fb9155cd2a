"""gtsa_mm_lab.demo.detection_diagnosis (tools/diagnose_detector.py): average recall,
RoI accuracy on ground-truth boxes and feature statistics of a detector, on a randomly
initialised ResNet-18 Mask R-CNN of the demo config and a few generated images."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gtsa_mm_lab.demo import detection_diagnosis as dd

pytest.importorskip('mmdet')
REPO = Path(__file__).resolve().parents[2]
R18_CONFIG = REPO / 'configs' / 'mmdet' / 'mask-rcnn_r18_fpn_1xb4-8e_demo.py'


def test_average_recall_of_ground_truth_and_shifted_boxes():
    gts = [torch.tensor([[10., 10., 30., 30.], [40., 40., 80., 60.]]),
           torch.tensor([[0., 0., 16., 16.]])]
    assert dd.average_recall(gts, gts)['ar'] == pytest.approx(1.0)
    # every box shifted by a quarter of its width: IoU 0.75 / 1.25 = 0.6
    shifted = [g + torch.stack([(g[:, 2] - g[:, 0]) / 4, torch.zeros(len(g)),
                                (g[:, 2] - g[:, 0]) / 4, torch.zeros(len(g))], 1) for g in gts]
    res = dd.average_recall(shifted, gts)
    assert res['recall_50'] == 1 and res['recall_70'] == 0
    assert res['ar'] == pytest.approx(0.3)  # thresholds 0.5, 0.55, 0.6 of ten
    # a proposal beyond max_proposals does not count
    decoy = [torch.cat([torch.tensor([[100., 100., 101., 101.]]), g]) for g in gts]
    assert dd.average_recall(decoy, gts, max_proposals=1)['ar'] == 0
    assert dd.average_recall(decoy, gts, max_proposals=2)['ar'] == pytest.approx(2 / 3)
    assert dd.average_recall(decoy, gts, max_proposals=3)['ar'] == pytest.approx(1.0)


def test_roi_accuracy_counts_background_and_classes():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.2, 0.6, 0.1]])
    res = dd.roi_accuracy(scores, torch.tensor([0, 0, 1]))
    assert res['acc'] == pytest.approx(2 / 3)
    assert res['background'] == pytest.approx(1 / 3)
    assert res['acc_fg'] == pytest.approx(2 / 3)  # box 2's best class is 1, not 0


def test_feature_statistics():
    maps = [torch.zeros(2, 3, 4, 4), torch.ones(1, 2, 2, 2) * 3]
    maps[0][:, :, 0, 0] = 1
    s0, s1 = dd.feature_statistics(maps)
    assert s0['shape'] == [3, 4, 4] and s0['near_zero'] == pytest.approx(15 / 16)
    assert s1['mean'] == 3 and s1['std'] == 0 and s1['near_zero'] == 0


def test_annotated_pipeline_loads_boxes_before_resize():
    pipe = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(8, 8)),
            dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')]
    assert [t['type'] for t in dd.annotated_test_pipeline(pipe)] == [
        'LoadImageFromFile', 'LoadAnnotations', 'Resize', 'PackDetInputs']


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    from gtsa_mm_lab.demo_data.cli import main as make_data
    out = tmp_path_factory.mktemp('det') / 'data'
    assert make_data(['--out', str(out), '--seed', '1', '--num-pretrain', '1', '--num-train',
                      '1', '--num-val', '2', '--image-size', '128x96', '--quiet']) == 0
    return out


@pytest.fixture(scope='module')
def r18(demo_data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('GTSA_DEMO_DATA', str(demo_data))
        torch.manual_seed(0)
        model, cfg = dd.load_detector(R18_CONFIG)
    return model, cfg


def test_ground_truth_proposals_and_known_classifier(r18):
    model, cfg = r18
    batch = next(dd.dataset_batches(cfg, 'val', num_images=2, batch_size=2))
    data = model.data_preprocessor(batch, False)
    samples = data['data_samples']
    gts = [dd.box_tensor(s.gt_instances.bboxes) for s in samples]
    labels = torch.cat([s.gt_instances.labels for s in samples])
    # the 128 x 96 images are resized to 256 x 192: boxes must be scaled with them
    coco = json.loads((Path(cfg.val_dataloader.dataset.data_root) / 'annotations'
                       / 'instances_val.json').read_text())
    first = [a for a in coco['annotations'] if a['image_id'] == samples[0].img_id]
    x, y, w, h = first[0]['bbox']
    assert gts[0][0].tolist() == pytest.approx([2 * x, 2 * y, 2 * (x + w), 2 * (y + h)])
    # a classifier that always answers class 2
    fc = model.roi_head.bbox_head.fc_cls
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.zero_()
        fc.bias[2] = 5.
    out = dd.diagnose_batch(model, data['inputs'], samples, proposals=gts)
    assert dd.average_recall(out['proposals'], out['gts'])['ar'] == pytest.approx(1.0)
    roi = dd.roi_accuracy(out['cls_scores'], out['labels'])
    assert roi['acc'] == pytest.approx((labels == 2).float().mean().item())
    assert roi['background'] == 0
    assert list(out['features']) == ['backbone', 'neck (FPN)']
    assert [s['shape'][0] for s in out['features']['backbone']] == [64, 128, 256, 512]
    assert [s['shape'][1:] for s in out['features']['neck (FPN)']] == [
        [48, 64], [24, 32], [12, 16], [6, 8], [3, 4]]


def test_cli_prints_tables(r18, demo_data, tmp_path, capsys, monkeypatch):
    model, _ = r18
    ckpt = tmp_path / 'r18' / 'epoch_1.pth'
    ckpt.parent.mkdir()
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    monkeypatch.setenv('GTSA_DEMO_DATA', str(demo_data))
    png = tmp_path / 'pred.png'
    assert dd.main([str(R18_CONFIG), str(ckpt), '--json', str(tmp_path / 'd.json'),
                    '--draw', str(png), '--draw-images', '1']) == 0
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    text = capsys.readouterr().out
    assert '| r18 |' in text and 'AR@100' in text and '| neck (FPN) | 4 |' in text
    res = json.loads((tmp_path / 'd.json').read_text())
    assert res['num_images'] == 2 and 0 <= res['rpn']['ar'] <= 1
    assert 0 <= res['roi']['acc'] <= 1 and res['roi']['num_boxes'] >= 2


def test_linear_probe_separates_what_is_separable():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    x = torch.randn(200, 16, generator=gen)
    x[torch.arange(200), y] += 4  # each class raises its own coordinate
    res = dd.linear_probe(x[:150], y[:150], x[150:], y[150:], 4)
    assert res['val_acc'] > 0.9
    noise = torch.randn(200, 16, generator=gen)  # no class information
    assert dd.linear_probe(noise[:150], y[:150], noise[150:], y[150:], 4)['val_acc'] < 0.5


def test_gt_box_probe_on_pixels(r18):
    model, cfg = r18
    res = dd.gt_box_probe(model, cfg, 'pixels', 0, scale=96, steps=5, output_size=1)
    assert res['num_train'] >= 1 and res['num_val'] >= 2
    assert 0 <= res['val_acc'] <= 1 and 0 < res['chance'] <= 1


def test_demo_vit_feature_maps_are_aligned_with_the_image():
    """A bright patch moves the demo ViT's and its neck's maps most where it lies (no
    transposition or shift between image and features), on a non-square input."""
    torch.manual_seed(0)
    model, _ = dd.load_detector(REPO / 'configs' / 'mmdet' /
                                'mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py',
                                cfg_options={'model.backbone.init_cfg': None})
    image = torch.zeros(1, 3, 192, 256)
    patched = image.clone()
    patched[:, :, 16:40, 200:232] = 2.  # rows 16-40, columns 200-232
    with torch.no_grad():
        base, moved = model.backbone(image), model.backbone(patched)
        neck_base, neck_moved = model.neck(base), model.neck(moved)
    for a, b, stride in ((base[0], moved[0], 8), (neck_base[0], neck_moved[0], 4)):
        diff = (a - b).abs().sum(1)[0]
        y, x = divmod(diff.flatten().argmax().item(), diff.shape[1])
        assert 16 <= (y + 0.5) * stride <= 40 + stride and 200 <= (x + 0.5) * stride <= 232
