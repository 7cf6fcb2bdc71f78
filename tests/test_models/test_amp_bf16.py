"""One training step of every method, built from its DigitsLT config, under
``torch.autocast('cpu', dtype=torch.bfloat16)``: finite float32 losses
close to the float32 step from the same state and batch, finite gradients.

Tolerances (measured, seeded batch, ``pytest -s`` prints them):

* every loss term within ``RTOL * |fp32| + ATOL`` = 1e-2 relative + 1e-3.
  bfloat16 keeps 8 mantissa bits (2^-9 = 0.2% rounding per op) and the
  ResNet-32 runs ~35 convolutions in bf16 before the losses, which compute
  in float32 (autocast kept out of them, ``autocast_off``). Measured max:
  2.2e-3 relative (Balanced Softmax), 1.5e-2 absolute on PaCo's 19.1.
* gradients: relative L2 distance of all parameter gradients <= 0.75 and
  of the parameters after the backbone (neck, projector, head, loss) <=
  0.6. Measured: 0.29-0.57 and 0.004-0.44. Plain CE (mmpretrain's loss, no
  ltcls code) is already at 0.30: that is bf16 noise of the backbone's
  backward at batch 16, amplified by the contrastive temperatures (SBCL's
  subclass tau2 ~0.1 is the largest). These bounds only catch gross
  errors; the losses' own dtype handling is tested tightly (1e-5) in
  ``test_device_hygiene.test_half_inputs_compute_in_float32_under_autocast``.
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, set_random_seed

from ltcls.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RTOL, ATOL = 1e-2, 1e-3
GRAD_RTOL, TOP_GRAD_RTOL = 0.75, 0.6
BATCH = 16

_MOCO_SBCL = dict(
    type='MoCoSBCL',
    num_classes=10,
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, hid_channels=64,
        out_channels=128, num_layers=2),
    queue_len=128,
    feat_dim=128,
    momentum=0.001,
    loss=dict(type='SBCLQueueLoss', tau1=0.07, default_tau2=0.12,
                   beta=0.2),
    warmup_loss=dict(type='KCLLoss', pos_k=6, temperature=0.07))

# name: (config, model overrides, subclasses set = the SBCL path)
CASES = {
    'ce': ('ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py', None, False),
    'balanced-softmax':
    ('balanced_softmax/bs_resnet32_1xb32-coslr-40e_digits-lt-if50.py', None,
     False),
    'ldam': ('ldam_drw/ldam-drw_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
             None, False),
    'logit-adjust':
    ('logit_adjust/la-loss_resnet32_1xb32-coslr-40e_digits-lt-if50.py', None,
     False),
    'kcl': ('kcl/kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py', None,
            False),
    'kcl-inbatch':
    ('kcl/kcl-inbatch_resnet32_1xb32-coslr-40e_digits-lt-if50.py', None,
     False),
    'fcl': ('kcl/fcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py', None,
            False),
    'sbcl-warmup': ('sbcl/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50.py',
                    None, False),
    'sbcl': ('sbcl/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50.py', None,
             True),
    # the MoCo-v2 SBCL (ImageNet-LT recipe) at DigitsLT size
    'moco-sbcl-warmup': ('sbcl/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50'
                         '.py', dict(_replace_=_MOCO_SBCL), False),
    'moco-sbcl': ('sbcl/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50.py',
                  dict(_replace_=_MOCO_SBCL), True),
    'hybrid-sc': ('hybrid/hybrid-sc_resnet32_1xb32-coslr-40e_digits-lt-if50'
                  '.py', None, False),
    'hybrid-psc': ('hybrid/hybrid-psc_resnet32_1xb32-coslr-40e_digits-lt-'
                   'if50.py', None, False),
    'rescom': ('rescom/rescom_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
               None, False),
    'paco': ('paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py', None,
             False),
    # GPaCo: the model changes of configs/paco/gpaco_resnet50_* on PaCo's
    # DigitsLT config
    'gpaco': ('paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
              dict(momentum=None, anchor_views='both',
                   projector=dict(num_layers=3, norm_cfg=None),
                   loss=dict(alpha=0.045)), False),
    'multitask': ('paco/multitask_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
                  None, False),
}


def _inner(dataset):
    while not hasattr(dataset, 'class_counts') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset


def _build(name):
    path, overrides, clustered = CASES[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs', path))
    if overrides and '_replace_' in overrides:
        cfg.model = Config(overrides['_replace_'])
    elif overrides:
        cfg.merge_from_dict({f'model.{k}': v for k, v in overrides.items()})
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(batch_size=BATCH, num_workers=0,
                      persistent_workers=False)
    set_random_seed(0)  # the pipelines' random crops: the same batch
    with DefaultScope.overwrite_default_scope('ltcls'):
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        model = MODELS.build(cfg.model)
    model.train()
    data = _inner(loader.dataset)
    counts = list(data.class_counts)
    for m in model.modules():
        if callable(getattr(m, 'set_class_counts', None)):
            m.set_class_counts(counts)
    if callable(getattr(model, 'init_subclass_buffer', None)):
        n = len(loader.dataset)
        model.init_subclass_buffer(n)
        if clustered:  # two subclasses per class, as a clustering would
            labels = torch.as_tensor(data.get_gt_labels()).long()
            model.set_subclasses(labels * 2 + torch.arange(n) % 2,
                                 torch.linspace(0.08, 0.15, 10))
    return model, next(iter(loader))


def _step(model, batch, amp):
    data = model.data_preprocessor(batch, True)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        losses = model(**data, mode='loss')
    losses = {k: v for k, v in losses.items() if 'loss' in k}
    total = sum(losses.values())
    model.zero_grad(set_to_none=True)
    total.backward()
    grads = {n: p.grad.flatten() for n, p in model.named_parameters()
             if p.grad is not None}
    return ({k: v.detach().float() for k, v in losses.items()}, grads)


def _rel(grad, ref, keep):
    a = torch.cat([g for n, g in grad.items() if keep(n)])
    b = torch.cat([g for n, g in ref.items() if keep(n)])
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize('name', list(CASES))
def test_bf16_step_close_to_fp32(name):
    model, batch = _build(name)
    for _ in range(2):  # fill queues / momentum encoders from real keys
        _step(model, batch, amp=False)
    ref, ref_grad = _step(copy.deepcopy(model), batch, amp=False)
    out, grad = _step(copy.deepcopy(model), batch, amp=True)
    assert out.keys() == ref.keys() and ref
    diffs = {k: (out[k] - ref[k]).abs().max().item() for k in ref}
    assert grad.keys() == ref_grad.keys()
    g_rel = _rel(grad, ref_grad, lambda n: True)
    top_rel = _rel(grad, ref_grad, lambda n: not n.startswith('backbone.'))
    print(f'\n{name}: ' + ', '.join(
        f'{k} {ref[k].item():.4f} |diff| {d:.2e}' for k, d in diffs.items())
          + f'; grad rel. L2 {g_rel:.2e}, after the backbone {top_rel:.2e}')
    for k in ref:
        assert torch.isfinite(out[k]).all(), f'{name}: {k} not finite'
        assert out[k].dtype == torch.float32, f'{name}: {k} {out[k].dtype}'
        assert diffs[k] <= RTOL * ref[k].abs().max().item() + ATOL, \
            f'{name}: {k} bf16 {out[k]} vs fp32 {ref[k]}'
    for n, g in grad.items():
        assert torch.isfinite(g).all(), f'{name}: non-finite gradient {n}'
    assert g_rel <= GRAD_RTOL, f'{name}: gradient off by {g_rel:.3f}'
    assert top_rel <= TOP_GRAD_RTOL, \
        f'{name}: gradient after the backbone off by {top_rel:.3f}'
