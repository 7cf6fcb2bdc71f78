"""ltcls.apis.get_model / init_model / list_models / inference_model."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config

from ltcls.apis import (ModelHub, get_model, inference_model, init_model,
                        list_models)
from ltcls.utils.checkpoint import CheckpointMismatchError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(REPO, 'configs/quickstart/resnet32_ce_digits-lt.py')
PACO = osp.join(REPO,
                'configs/paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py')
DEMO_IMG = osp.join(REPO, 'demo', 'digits_lt_3.png')


def _index_names():
    names = []
    for meta in glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml')):
        with open(meta) as f:
            names += [m['Name'].lower() for m in yaml.safe_load(f)['Models']]
    return sorted(names)


def test_list_models_is_the_model_index():
    assert list_models() == _index_names()
    paco_digits = list_models('paco*digits')
    assert paco_digits and all(
        n.startswith('paco') and 'digits' in n for n in paco_digits)
    assert set(paco_digits) == {
        n
        for n in _index_names() if n.startswith('paco') and 'digits' in n
    }
    # any suffix matches, exclusions as mmpretrain's
    digits = list_models('*digits-lt')
    assert 'ce_resnet32_1xb32-coslr-40e_digits-lt-if50' in digits
    no_kcl = list_models('*digits-lt', exclude_patterns=['kcl', 'fcl'])
    assert no_kcl == [
        n for n in digits if not n.startswith(('kcl', 'fcl'))
    ] and len(no_kcl) < len(digits)
    # ltcls has trained nothing on the real benchmarks: only the converted
    # released models carry results (the authors' figures); every other
    # entry has `Results: null`
    with_results = (list_models(task='Image Classification')
                    + list_models(task='Long-Tailed Image Classification'))
    assert with_results and all(n.endswith('_released')
                                for n in with_results)
    assert list_models(task='null') == [
        n for n in list_models() if n not in with_results]


def test_mmpretrain_get_model_cannot_build_ltcls_configs():
    """Why ltcls.apis exists: mmpretrain builds in its own scope."""
    from mmpretrain.apis import get_model as mmpretrain_get_model
    with pytest.raises(KeyError, match='ResNet32CIFAR'):
        mmpretrain_get_model(QUICKSTART)


@pytest.mark.parametrize('name', _index_names())
def test_get_model_builds_every_indexed_config(name):
    """Every model-index entry builds by name (ltcls scope, nested ltcls
    types, multi-view preprocessors), with class names and metainfo."""
    model = get_model(name)
    assert not model.training
    assert model._metainfo.name.lower() == name
    assert isinstance(model._config, Config)
    classes = model._dataset_meta['classes']
    head = model._config.model.get('head', {})
    if isinstance(head.get('num_classes'), int):
        assert len(classes) == head['num_classes']


def test_get_model_by_path_and_config_and_kwargs():
    by_path = get_model(QUICKSTART, head=dict(num_classes=7))
    assert by_path.head.fc.out_features == 7
    cfg = Config.fromfile(PACO)
    model = get_model(cfg)
    assert type(model).__name__ == 'PaCo'
    assert type(model.data_preprocessor).__name__ == \
        'MultiViewClsDataPreprocessor'
    assert type(model.projector).__name__ == 'ProjectionMLP'
    assert model._dataset_meta['classes'] == tuple(str(i) for i in range(10))
    with pytest.raises(ValueError, match='list_models'):
        get_model('no_such_model')
    with pytest.raises(FileNotFoundError, match='nope.py'):
        get_model('configs/nope.py')
    with pytest.warns(UserWarning, match='no published weights'):
        get_model(QUICKSTART, pretrained=True)


def test_model_hub_is_separate_from_mmpretrain():
    from mmpretrain.apis.model import ModelHub as MMPretrainHub
    ModelHub._register_mmpretrain_models()
    assert ModelHub._models_dict is not MMPretrainHub._models_dict
    assert 'resnet50_8xb32_in1k' not in ModelHub._models_dict


def test_demo_image_is_a_digits_lt_test_image():
    from ltcls.datasets import DigitsLT
    ds = DigitsLT(split='test')
    img = cv2.imread(DEMO_IMG)
    matches = [
        i for i in range(len(ds))
        if np.array_equal(ds.get_data_info(i)['img'], img)
    ]
    assert matches and ds.get_data_info(matches[0])['gt_label'] == 3


def _reference_scores(model, img):
    """Scores computed without the inferencer: the config's test pipeline
    on the DigitsLT array, then the model's data preprocessor and
    predict."""
    from mmengine.dataset import Compose, default_collate

    from ltcls.registry import TRANSFORMS
    pipeline = Compose([
        TRANSFORMS.build(t)
        for t in model._config.test_dataloader.dataset.pipeline
    ])
    data = default_collate([pipeline(dict(img=img))])
    with torch.no_grad():
        return model.test_step(data)[0].pred_score


def test_init_model_runner_checkpoint_and_inference(digits_checkpoints):
    ckpt = digits_checkpoints['quickstart']
    model = init_model(QUICKSTART, ckpt, device='cpu')
    state = torch.load(ckpt, map_location='cpu')['state_dict']
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert model._dataset_meta['classes'] == tuple(str(i) for i in range(10))
    result = inference_model(model, DEMO_IMG)
    ref = _reference_scores(model, cv2.imread(DEMO_IMG))
    np.testing.assert_allclose(result['pred_scores'], ref.numpy(), rtol=1e-5)
    assert result['pred_label'] == int(ref.argmax())
    assert result['pred_score'] == pytest.approx(float(ref.max()))
    assert result['pred_class'] == str(result['pred_label'])
    # by name, with the same checkpoint (same architecture)
    by_name = inference_model(
        'ce_resnet32_1xb32-coslr-40e_digits-lt-if50', DEMO_IMG,
        pretrained=ckpt)
    np.testing.assert_allclose(by_name['pred_scores'], result['pred_scores'])


def test_published_and_runner_checkpoints_agree(digits_checkpoints):
    runner = init_model(PACO, digits_checkpoints['paco'])
    published = init_model(PACO, digits_checkpoints['paco_published'])
    img = cv2.imread(DEMO_IMG)
    a = _reference_scores(runner, img)
    b = _reference_scores(published, img)
    torch.testing.assert_close(a, b)
    res = inference_model(published, DEMO_IMG)
    np.testing.assert_allclose(res['pred_scores'], b.numpy(), rtol=1e-5)


def test_checkpoint_of_another_config_is_refused(digits_checkpoints):
    # PaCo's Runner checkpoint has a projector, momentum encoder, queue
    with pytest.raises(CheckpointMismatchError,
                       match='(?s)does not match.*unexpected key'):
        init_model(QUICKSTART, digits_checkpoints['paco'])
    with pytest.raises(CheckpointMismatchError, match='shape mismatch'):
        get_model(
            QUICKSTART,
            pretrained=digits_checkpoints['quickstart'],
            head=dict(num_classes=5))
