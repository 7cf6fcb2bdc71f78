# Copyright (c) ltcls contributors. All rights reserved.
"""The classifiers' loss convention (``loss=dict(...)`` ->
``self.loss_module``, ``warmup_loss`` -> ``self.warmup_loss_module``): old
argument names are refused with the new place, a loss without the
attributes a classifier reads (``LOSS_ATTRS``) is refused, and checkpoints
with the old loss prefixes still resume and strip."""
import re

import pytest
import torch
from mmengine.runner.checkpoint import load_state_dict as mme_load

from ltcls.registry import MODELS
from ltcls.utils.training_state import split_training_state

BACKBONE = dict(type='ResNet32CIFAR', depth=20, base_channels=4)
PROJ = dict(type='ProjectionMLP', in_channels=16, out_channels=8)
HEAD = dict(type='LinearClsHead', num_classes=3, in_channels=16)


def _supcon(**kw):
    return dict(type='SupConClassifier', backbone=BACKBONE, projector=PROJ,
                **kw)


def _hybrid(kind='HybridPSC', **kw):
    return dict(type=kind, backbone=BACKBONE,
                neck=dict(type='GlobalAveragePooling'), head=HEAD,
                projector=PROJ, **kw)


def _sbcl(kind='SBCL', **kw):
    return dict(type=kind, backbone=BACKBONE, projector=PROJ, num_classes=3,
                num_train_samples=4, **kw)


def _kcl(**kw):
    return dict(type='KCL', backbone=BACKBONE, projector=PROJ, queue_len=8,
                feat_dim=8, **kw)


def _rescom(**kw):
    return dict(type='ResCom', backbone=BACKBONE, projector=PROJ,
                head=HEAD, queue_size_per_cls=2, feat_dim=8, **kw)


RENAMED = [
    (_supcon(contrastive_loss=dict(type='SupConLoss')),
     "SupConClassifier: 'contrastive_loss' was renamed; pass "
     "loss=dict(type='SupConLoss', ...)"),
    (_hybrid('HybridSC', contrastive_loss=dict(type='SupConLoss')),
     "HybridSC: 'contrastive_loss' was renamed; pass loss=dict("),
    (_hybrid('HybridPSC', contrastive_loss=dict(type='PSCLoss')),
     "HybridPSC: 'contrastive_loss' was renamed; pass loss=dict("),
    (_sbcl(sbcl_loss=dict(type='SBCLLoss')),
     "SBCL: 'sbcl_loss' was renamed; pass loss=dict(type='SBCLLoss', ...)"),
    (_sbcl('MoCoSBCL', queue_len=8, feat_dim=8,
           sbcl_loss=dict(type='SBCLQueueLoss')),
     "MoCoSBCL: 'sbcl_loss' was renamed; pass "
     "loss=dict(type='SBCLQueueLoss', ...)"),
    (_kcl(pos_k=None), "KCL: 'pos_k' was renamed; pass "
     "loss=dict(type='KCLLoss', pos_k=...)"),
    (_kcl(temperature=0.1), "KCL: 'temperature' was renamed"),
    (_kcl(pos_selection='topk'), "KCL: 'pos_selection' was renamed"),
    (_kcl(loss_variant='v2'), "KCL: 'loss_variant' was renamed; pass "
     "loss=dict(type='KCLLoss', variant=...)"),
    (_kcl(seed=1), "KCL: 'seed' was renamed"),
    (_kcl(loss_weight=2.0), "KCL: 'loss_weight' was renamed"),
]


@pytest.mark.parametrize('cfg,msg', RENAMED)
def test_old_argument_names_name_the_new_place(cfg, msg):
    with pytest.raises(TypeError, match=re.escape(msg)):
        MODELS.build(cfg)


def test_unknown_argument_is_still_an_error():
    with pytest.raises(TypeError, match="unexpected keyword.*'bogus'"):
        MODELS.build(_supcon(bogus=1))


def test_new_names_build_with_the_old_defaults():
    kcl = MODELS.build(_kcl())
    loss = kcl.loss_module
    assert type(loss).__name__ == 'KCLLoss'
    assert (loss.pos_k, loss.temperature, loss.pos_selection, loss.variant,
            loss.seed, loss.loss_weight) == (6, 0.07, 'random', 'v1', 0, 1.0)
    fcl = MODELS.build(_kcl(loss=dict(type='KCLLoss', pos_k=None)))
    assert fcl.loss_module.pos_k is None
    sbcl = MODELS.build(_sbcl())
    assert type(sbcl.loss_module).__name__ == 'SBCLLoss'
    assert type(sbcl.warmup_loss_module).__name__ == 'SupConLoss'
    assert sbcl.tau1 == 0.1
    assert float(sbcl.class_tau2[0]) == pytest.approx(0.1)
    moco = MODELS.build(_sbcl('MoCoSBCL', queue_len=8, feat_dim=8))
    assert float(moco.class_tau2[0]) == pytest.approx(0.12)  # default_tau2
    assert type(moco.warmup_loss_module).__name__ == 'KCLLoss'
    sc = MODELS.build(_hybrid('HybridSC'))
    assert type(sc.loss_module).__name__ == 'SupConLoss'


PROTOCOL = [
    (_supcon(loss=dict(type='PSCLoss', num_classes=3, feat_dim=8)),
     "SupConClassifier: loss=PSCLoss does not define 'pos_k'"),
    (_rescom(loss=dict(type='PaCoLoss')),
     "ResCom: loss=PaCoLoss does not define 'variant', 'num_pos', "
     "'num_neg'"),
    (_sbcl(loss=dict(type='SupConLoss')),
     "SBCL: loss=SupConLoss does not define 'tau1'"),
    (_sbcl('MoCoSBCL', queue_len=8, feat_dim=8,
           loss=dict(type='KCLLoss')),
     "MoCoSBCL: loss=KCLLoss does not define 'tau1', 'default_tau2'"),
]


@pytest.mark.parametrize('cfg,msg', PROTOCOL)
def test_loss_without_the_protocol_attributes_is_refused(cfg, msg):
    with pytest.raises(TypeError, match=re.escape(msg)) as err:
        MODELS.build(cfg)
    assert 'LOSS_ATTRS' in str(err.value)


def test_loss_must_be_a_dict_or_module():
    with pytest.raises(TypeError, match='loss must be a loss config dict'):
        MODELS.build(_supcon(loss=3))


def _old_layout(sd, old, new):
    return {(old + k[len(new):] if k.startswith(new) else k): v
            for k, v in sd.items()}


@pytest.mark.parametrize('loader', ['torch', 'mmengine'])
def test_checkpoint_with_old_loss_prefix_resumes(loader):
    torch.manual_seed(0)
    src = MODELS.build(_hybrid())
    torch.manual_seed(1)
    dst = MODELS.build(_hybrid())
    sd = src.state_dict()
    assert 'loss_module.prototypes' in sd
    old = _old_layout(sd, 'contrastive_loss.', 'loss_module.')
    assert 'contrastive_loss.prototypes' in old
    if loader == 'torch':
        dst.load_state_dict(old, strict=True)
    else:
        mme_load(dst, old, strict=True)
    assert torch.equal(dst.loss_module.prototypes, src.loss_module.prototypes)
    # both layouts strip to the same inference state
    kept_new, dropped_new = split_training_state(sd)
    kept_old, dropped_old = split_training_state(old)
    assert list(kept_new) == list(kept_old)
    assert dropped_new['loss_module'] == dropped_old['contrastive_loss'] == 1


def test_sbcl_old_prefixes_are_renamed_on_load():
    model = MODELS.build(_sbcl())
    sd = model.state_dict()
    # fake loss state under the old names: the renaming covers both losses
    sd = dict(sd)
    model.loss_module.register_buffer('probe', torch.zeros(2))
    model.warmup_loss_module.register_buffer('probe', torch.zeros(3))
    sd['sbcl_loss.probe'] = torch.ones(2)
    sd['warmup_loss.probe'] = torch.full((3, ), 2.)
    model.load_state_dict(sd, strict=True)
    assert model.loss_module.probe.tolist() == [1., 1.]
    assert model.warmup_loss_module.probe.tolist() == [2., 2., 2.]
    kept, dropped = split_training_state(sd)
    assert not any(k.startswith(('sbcl_loss.', 'warmup_loss.')) for k in kept)
