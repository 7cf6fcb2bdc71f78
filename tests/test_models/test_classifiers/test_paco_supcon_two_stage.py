# Copyright (c) ltcls contributors. All rights reserved.
"""SupCon two-stage baseline of PaCo's Table 1 (spec_paco.md §2.1, §9):
stage 1 is MoCo-SupCon through the PaCo algorithm with a centers-free loss;
stage 2 loads exactly the stage-1 backbone into a frozen ImageClassifier
and trains only a fresh linear head."""
import os.path as osp

import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS

PACO = 'configs/paco'
STAGE1 = f'{PACO}/supcon_two-stage_resnet50_4xb32-400e_imagenet-lt.py'
STAGE2 = f'{PACO}/benchmarks/resnet50_supcon-two-stage-pre_4xb32-linear-' \
    'coslr-400e_imagenet-lt.py'


def test_stage1_is_supcon_without_centers(repo_root):
    """One step of the stage-1 model: only the SupCon term, the linear head
    (the would-be centers) gets an all-zero gradient, the backbone and
    projector do learn."""
    cfg = Config.fromfile(osp.join(repo_root, STAGE1))
    assert cfg.model.type == 'PaCo'
    assert cfg.model.loss.type == 'MultiTaskContrastiveLoss'
    assert cfg.model.loss.cls_weight == 0 and cfg.model.loss.supcon_weight == 1
    assert cfg.val_cfg is None  # the untrained head is never evaluated
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model._sync_momentum_encoder()
    g = torch.Generator().manual_seed(1)
    views = [torch.randn(4, 3, 32, 32, generator=g) for _ in range(2)]
    samples = [DataSample().set_gt_label(y) for y in (0, 0, 1, 2)]
    out = model.loss(views, samples)
    assert set(out) == {'loss_cls', 'loss_con'}
    assert out['loss_cls'].item() == 0.0 and out['loss_con'].item() > 0
    sum(out.values()).backward()
    assert torch.count_nonzero(model.head.fc.weight.grad) == 0
    assert torch.count_nonzero(model.head.fc.bias.grad) == 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.projector.parameters())


def test_stage2_loads_the_stage1_backbone(repo_root, tmp_path):
    torch.manual_seed(0)
    cfg1 = Config.fromfile(osp.join(repo_root, STAGE1))
    stage1 = MODELS.build(cfg1.model)
    with torch.no_grad():  # make the weights distinguishable from an init
        for p in stage1.parameters():
            p.add_(torch.randn_like(p))
        for name, buf in stage1.named_buffers():
            if buf.is_floating_point() and 'backbone' in name:
                buf.add_(torch.rand_like(buf))  # BN running stats too
    ckpt = tmp_path / 'epoch_400.pth'
    torch.save(
        dict(state_dict=stage1.state_dict(), meta=dict(epoch=400)), str(ckpt))

    cfg2 = Config.fromfile(osp.join(repo_root, STAGE2))
    assert cfg2.model.type == 'ImageClassifier'
    assert cfg2.model.backbone.frozen_stages == 4
    assert cfg2.model.backbone.norm_eval
    assert cfg2.train_cfg.max_epochs == 400
    # Table 1's standard protocol: instance-balanced sampling
    assert cfg2.train_dataloader.sampler.type == 'DefaultSampler'
    assert cfg2.model.backbone.init_cfg.checkpoint.endswith(
        'supcon_two-stage_resnet50_4xb32-400e_imagenet-lt/epoch_400.pth')
    cfg2.model.backbone.init_cfg.checkpoint = str(ckpt)
    stage2 = MODELS.build(cfg2.model)
    stage2.init_weights()

    src = {
        k[len('backbone.'):]: v
        for k, v in stage1.state_dict().items() if k.startswith('backbone.')
    }
    dst = stage2.backbone.state_dict()
    assert set(src) == set(dst) and len(dst) > 300
    for name, value in dst.items():
        assert torch.equal(value, src[name]), name
    # the head is re-initialised, not copied from stage 1
    assert not torch.equal(stage2.head.fc.weight, stage1.head.fc.weight)
    assert stage2.head.fc.bias.abs().sum() == 0
    # only the head trains; BN stays in eval mode in train()
    trainable = {n for n, p in stage2.named_parameters() if p.requires_grad}
    assert trainable == {'head.fc.weight', 'head.fc.bias'}
    stage2.train()
    bns = [
        m for m in stage2.backbone.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert bns and not any(m.training for m in bns)
