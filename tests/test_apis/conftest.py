"""Real checkpoints for the inference API tests: the quickstart CE model
(an ImageClassifier) and PaCo (a contrastive classifier: nested
ProjectionMLP, momentum encoder, queue, MultiViewClsDataPreprocessor), one
epoch of tools/train.py each on DigitsLT, plus PaCo's
published checkpoint (tools/model_converters/publish_model.py)."""
import os
import os.path as osp
import sys
from importlib import import_module

import pytest

QUICKSTART = 'configs/quickstart/resnet32_ce_digits-lt.py'
PACO = 'configs/paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py'


def _train(repo_root, config, work):
    sys.path.insert(0, osp.join(repo_root, 'tools'))
    train = import_module('train')
    cwd = os.getcwd()
    os.chdir(repo_root)
    try:
        train.main([
            config, '--work-dir', work, '--no-validate', '--cfg-options',
            'train_cfg.max_epochs=1'
        ])
    finally:
        os.chdir(cwd)
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(work)
    return ckpt


@pytest.fixture(scope='session')
def digits_checkpoints(tmp_path_factory, repo_root):
    """dict: quickstart / paco Runner checkpoints, paco_published."""
    root = tmp_path_factory.mktemp('apis_ckpts')
    out = dict(
        quickstart=_train(repo_root, QUICKSTART, str(root / 'ce')),
        paco=_train(repo_root, PACO, str(root / 'paco')))
    sys.path.insert(0, osp.join(repo_root, 'tools', 'model_converters'))
    publish_model = import_module('publish_model')
    out['paco_published'], _, _ = publish_model.process_checkpoint(
        out['paco'], str(root / 'paco_pub.pth'))
    return out
