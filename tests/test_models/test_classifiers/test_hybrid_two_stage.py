"""Two-stage SC ablation (spec_hybrid.md section 8): the stage-1 config is
Hybrid-SC with alpha fixed at 1, and the stage-2 config loads exactly the
stage-1 backbone into a frozen ImageClassifier with a fresh linear head."""
import os.path as osp

import torch
from mmengine.config import Config

from ltcls.registry import HOOKS, MODELS

HYB = 'configs/hybrid'
STAGE1 = f'{HYB}/two-stage-sc_resnet32_1xb512-alpha1-steplr-200e_' \
    'cifar100-lt-if100.py'
STAGE2 = f'{HYB}/benchmarks/resnet32_two-stage-sc-pre_1xb128-linear-cb-' \
    'coslr-30e_cifar100-lt-if100.py'


def test_stage1_alpha_is_one_every_epoch(repo_root):
    """The hook of the stage-1 config sets alpha = 1 (contrastive branch
    only) at every epoch of the 200-epoch run."""
    from types import SimpleNamespace
    cfg = Config.fromfile(osp.join(repo_root, STAGE1))
    hooks = [h for h in cfg.custom_hooks if h.type == 'CurriculumAlphaHook']
    assert len(hooks) == 1
    hook = HOOKS.build(hooks[0])
    model = SimpleNamespace(alpha=None)
    for epoch in (0, 57, 199):
        runner = SimpleNamespace(
            model=model, epoch=epoch, max_epochs=cfg.train_cfg.max_epochs,
            logger=SimpleNamespace(info=lambda msg: None))
        hook.before_train_epoch(runner)
        assert model.alpha == 1.0


def test_stage2_loads_the_stage1_backbone(repo_root, tmp_path):
    torch.manual_seed(0)
    cfg1 = Config.fromfile(osp.join(repo_root, STAGE1))
    stage1 = MODELS.build(cfg1.model)
    assert type(stage1).__name__ == 'HybridSC'
    with torch.no_grad():  # make the weights distinguishable from an init
        for p in stage1.parameters():
            p.add_(torch.randn_like(p))
    ckpt = tmp_path / 'epoch_200.pth'
    torch.save(dict(state_dict=stage1.state_dict(), meta=dict(epoch=200)),
               str(ckpt))

    cfg2 = Config.fromfile(osp.join(repo_root, STAGE2))
    assert cfg2.train_dataloader.sampler.type == 'ClassAwareSampler'
    assert cfg2.train_dataloader.dataset.selection == \
        cfg1.train_dataloader.dataset.dataset.selection == 'file_order'
    assert cfg2.model.backbone.frozen_stages == 3
    assert cfg2.model.backbone.norm_eval
    cfg2.model.backbone.init_cfg.checkpoint = str(ckpt)
    stage2 = MODELS.build(cfg2.model)
    stage2.init_weights()

    src = {
        k[len('backbone.'):]: v
        for k, v in stage1.state_dict().items() if k.startswith('backbone.')
    }
    dst = stage2.backbone.state_dict()
    assert set(src) == set(dst) and len(dst) > 100
    for name, value in dst.items():
        assert torch.equal(value, src[name]), name
    # the head is re-initialised, not copied from the stage-1 CE head
    assert not torch.equal(stage2.head.fc.weight, stage1.head.fc.weight)
    # everything but the head is frozen
    trainable = {n for n, p in stage2.named_parameters() if p.requires_grad}
    assert trainable == {'head.fc.weight', 'head.fc.bias'}
