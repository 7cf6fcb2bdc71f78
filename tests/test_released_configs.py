"""The ``*_released.py`` configs (authors' checkpoints, converted with
tools/model_converters/{paco,gpaco,bcl}_to_ltcls.py) evaluate with the
official test transform on the official test list.

The official scripts (PaCo ``LT/paco_lt.py``, ``Full-ImageNet/
paco_imagenet.py``, GPaCo ``GPaCo/LT/*.py``, BCL ``main.py``) all test with
``Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std)`` on
``PIL.Image.open(path).convert('RGB')``; the test here runs that torchvision
transform as the reference on a real JPEG file."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RELEASED = sorted(
    osp.relpath(p, REPO) for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*_released.py'), recursive=True))

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INAT = ((0.466, 0.471, 0.380), (0.195, 0.194, 0.192))


def _expected(config):
    """(test list or split, mean, std) the authors' code evaluates on."""
    if 'imagenet-lt' in config:
        return 'ImageNet_LT_test.txt', IMAGENET
    if 'inat2018' in config:
        return 'iNaturalist18_val.txt', INAT
    if 'places-lt' in config:
        return 'Places_LT_val.txt', IMAGENET
    assert 'in1k' in config, config
    return 'val', IMAGENET


def test_found_the_released_configs():
    assert len(RELEASED) == 13, RELEASED


@pytest.fixture(scope='module')
def jpeg(tmp_path_factory):
    """A 333 x 250 JPEG with smooth structure and noise."""
    from PIL import Image
    g = np.random.default_rng(0)
    yy, xx = np.mgrid[0:250, 0:333]
    img = np.stack([(xx * 0.7) % 256, (yy * 0.9) % 256,
                    (xx + yy) % 256], -1)
    img = np.clip(img + g.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    path = str(tmp_path_factory.mktemp('img') / 'a.jpg')
    Image.fromarray(img).save(path, quality=90)
    return path


@pytest.mark.parametrize('config', RELEASED)
def test_test_split_and_transform_are_the_official_ones(config, jpeg):
    from mmengine.dataset import Compose
    from torchvision import transforms

    from ltcls.registry import MODELS
    from ltcls.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO, config))
    split, (mean, std) = _expected(config)
    dataset = cfg.test_dataloader.dataset
    assert dataset.get('ann_file', dataset.get('split')) == split
    np.testing.assert_allclose(cfg.data_preprocessor.mean,
                               np.array(mean) * 255, atol=1e-9)
    np.testing.assert_allclose(cfg.data_preprocessor.std,
                               np.array(std) * 255, atol=1e-9)

    pipeline = Compose(dataset.pipeline)
    packed = pipeline(dict(img_path=jpeg))
    preprocessor = MODELS.build(
        dict(type='ClsDataPreprocessor', **cfg.data_preprocessor))
    ours = preprocessor(
        dict(inputs=[packed['inputs']], data_samples=[
            packed['data_samples']
        ]))['inputs'][0]

    from PIL import Image
    official = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=mean, std=std)
    ])(Image.open(jpeg).convert('RGB'))
    assert ours.shape == official.shape == (3, 224, 224)
    torch.testing.assert_close(ours, official, rtol=0, atol=1e-5)
