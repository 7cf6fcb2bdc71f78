"""PaCo's augmentation ablations (spec_paco.md Table 2 and the RRC-scale
remark of section 4.1) differ from the main ImageNet-LT R50 config only in
the two views of the training pipeline."""
import os.path as osp

import pytest
from mmengine.config import Config

PACO = 'configs/paco/paco_resnet50_4xb32-400e_imagenet-lt'

# suffix -> (query view's last transform, key view's last transform,
#            RandomResizedCrop scale of both views)
CASES = {
    '_aug-sim-sim': ('RandomFlip', 'RandomFlip', (0.08, 1.0)),
    '_aug-rand-rand': ('TimmRandAugment', 'TimmRandAugment', (0.08, 1.0)),
    '_aug-sim-sim_rrc0.2': ('RandomFlip', 'RandomFlip', (0.2, 1.0)),
}


def _without_pipeline(cfg):
    d = cfg.to_dict()
    d['train_dataloader']['dataset'].pop('pipeline')
    return {k: v for k, v in d.items() if k != 'simaug_rrc02'}


@pytest.mark.parametrize('suffix', sorted(CASES))
def test_paco_aug_ablation(repo_root, suffix):
    main = Config.fromfile(osp.join(repo_root, PACO + '.py'))
    cfg = Config.fromfile(osp.join(repo_root, PACO + suffix + '.py'))
    assert _without_pipeline(cfg) == _without_pipeline(main)
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t.type for t in pipeline] == [
        'LoadImageFromFileStrict', 'MultiView', 'PackInputs'
    ]
    query, key = pipeline[1].transforms
    last_q, last_k, scale = CASES[suffix]
    assert query[-1].type == last_q and key[-1].type == last_k
    for view in (query, key):
        assert view[0].type == 'RandomResizedCrop'
        assert tuple(view[0].crop_ratio_range) == scale
    # the SimAugment view keeps its other ops whatever the RRC scale
    if last_q == 'RandomFlip':
        assert [t.type for t in query] == [t.type for t in main.simaug_view]
