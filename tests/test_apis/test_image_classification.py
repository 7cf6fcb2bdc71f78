"""ltcls.apis.ImageClassificationInferencer / FeatureExtractor and
demo/image_demo.py."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from ltcls.apis import (FeatureExtractor, ImageClassificationInferencer,
                        get_model)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(REPO, 'configs/quickstart/resnet32_ce_digits-lt.py')
PACO = osp.join(REPO,
                'configs/paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py')
IMAGENET_LT = osp.join(
    REPO, 'configs/ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py')
DEMO_IMG = osp.join(REPO, 'demo', 'digits_lt_3.png')


def test_inferencer_with_config_and_runner_checkpoint(digits_checkpoints,
                                                      tmp_path):
    ckpt = digits_checkpoints['paco']
    inferencer = ImageClassificationInferencer(PACO, pretrained=ckpt)
    assert type(inferencer.model).__name__ == 'PaCo'
    img = cv2.imread(DEMO_IMG)
    # a path, an array and a batch give the same scores
    res = inferencer([DEMO_IMG, img, img], batch_size=2)
    assert len(res) == 3
    for r in res[1:]:
        np.testing.assert_allclose(r['pred_scores'], res[0]['pred_scores'],
                                   rtol=1e-5)
    model = get_model(PACO, pretrained=ckpt)
    with torch.no_grad():
        feats = model.extract_feat(
            model.data_preprocessor(
                dict(inputs=[torch.from_numpy(img).permute(2, 0, 1)]))
            ['inputs'])
        ref = model.head.predict(feats)[0].pred_score
    np.testing.assert_allclose(res[0]['pred_scores'], ref.numpy(), rtol=1e-5)
    assert res[0]['pred_class'] == str(int(ref.argmax()))
    # visualisation (mmpretrain's)
    out = inferencer(DEMO_IMG, show_dir=str(tmp_path / 'vis'))
    assert osp.isfile(tmp_path / 'vis' / 'digits_lt_3.png')
    assert out[0]['pred_label'] == res[0]['pred_label']


def test_inferencer_with_built_model_and_published_checkpoint(
        digits_checkpoints):
    model = get_model(PACO)
    inferencer = ImageClassificationInferencer(
        model, pretrained=digits_checkpoints['paco_published'])
    runner = ImageClassificationInferencer(
        PACO, pretrained=digits_checkpoints['paco'])
    np.testing.assert_allclose(
        inferencer(DEMO_IMG)[0]['pred_scores'],
        runner(DEMO_IMG)[0]['pred_scores'],
        rtol=1e-5)
    assert ImageClassificationInferencer.list_models('paco*digits')


def test_inferencer_drops_strict_loading_transform():
    """ImageNet-LT configs load images with ltcls's LoadImageFromFileStrict;
    the inferencer reads the image itself, so that transform is removed (and
    the class names are mmpretrain's ImageNet names)."""
    inferencer = ImageClassificationInferencer(IMAGENET_LT, pretrained=False)
    types = [type(t).__name__ for t in inferencer.pipeline.transforms]
    assert 'LoadImageFromFileStrict' not in types
    assert types[-1] == 'PackInputs'
    img = np.random.RandomState(0).randint(0, 255, (300, 400, 3), np.uint8)
    res = inferencer(img)[0]
    assert res['pred_scores'].shape == (1000, )
    assert res['pred_class'] == inferencer.classes[res['pred_label']]
    assert inferencer.classes[0] == 'tench, Tinca tinca'


def test_feature_extractor(digits_checkpoints):
    ckpt = digits_checkpoints['quickstart']
    extractor = FeatureExtractor(QUICKSTART, pretrained=ckpt)
    feats = extractor(DEMO_IMG)
    assert len(feats) == 1 and feats[0][0].shape == (64, )
    model = get_model(QUICKSTART, pretrained=ckpt)
    img = torch.from_numpy(cv2.imread(DEMO_IMG)).permute(2, 0, 1)
    with torch.no_grad():
        ref = model.extract_feat(
            model.data_preprocessor(dict(inputs=[img]))['inputs'])
    torch.testing.assert_close(feats[0][0], ref[0][0])
    # keyword arguments go to extract_feat
    backbone = extractor(DEMO_IMG, stage='backbone')[0]
    assert backbone[0].shape == (64, 8, 8)


def test_image_demo_prints_class_and_score(digits_checkpoints, tmp_path):
    ckpt = digits_checkpoints['quickstart']
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'demo', 'image_demo.py'), DEMO_IMG, QUICKSTART, ckpt,
        '--device', 'cpu', '--show-dir',
        str(tmp_path / 'vis')
    ],
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout[proc.stdout.index('{'):])
    assert set(out) == {'pred_label', 'pred_score', 'pred_class'}
    expected = ImageClassificationInferencer(
        QUICKSTART, pretrained=ckpt)(DEMO_IMG)[0]
    assert out['pred_class'] == expected['pred_class']
    assert out['pred_score'] == pytest.approx(expected['pred_score'])
    assert osp.isfile(tmp_path / 'vis' / 'digits_lt_3.png')
    bad = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'demo', 'image_demo.py'), 'nope.png', QUICKSTART],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300)
    assert bad.returncode != 0 and 'image not found: nope.png' in bad.stderr
