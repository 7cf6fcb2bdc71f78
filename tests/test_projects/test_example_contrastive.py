"""projects/example_contrastive: the "add a contrastive method" walkthrough
of docs/en/new_method_project.md, exercised: the loss against a per-anchor
loop (float64, values and gradients), the classifier's step on the memory
protocol, the published state dict, a short tools/train.py run, and the
doc's code quoted verbatim from the files."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS

PROJECT = 'projects/example_contrastive'
CFG = f'{PROJECT}/configs/resnet32_mwc_1xb32-coslr-40e_digits-lt-if50.py'


def _reference(q, k, labels, mkeys, mlabels, t, beta):
    """Per-anchor loop, written from the formula in mwc_loss.py."""
    q = F.normalize(q, dim=1)
    out = []
    for i in range(q.shape[0]):
        cols = [q[i] @ k[i] / t]
        weights = [torch.ones((), dtype=q.dtype)]
        for j in range(mkeys.shape[0]):
            if mlabels[j] < 0:
                continue
            cols.append(q[i] @ mkeys[j] / t)
            weights.append(
                torch.tensor(beta if mlabels[j] == labels[i] else 0.0,
                             dtype=q.dtype))
        s, w = torch.stack(cols), torch.stack(weights)
        logp = s - torch.logsumexp(s, 0)
        out.append(-(w * logp).sum() / w.sum())
    return torch.stack(out).mean()


@pytest.mark.parametrize('beta', [0.0, 0.5, 2.0])
def test_loss_matches_per_anchor_loop(beta):
    from projects.example_contrastive.models import MemoryWeightedContrastLoss
    g = torch.Generator().manual_seed(3)
    n, length, d = 7, 11, 5
    q = torch.randn(n, d, dtype=torch.float64, generator=g,
                    requires_grad=True)
    k = F.normalize(torch.randn(n, d, dtype=torch.float64, generator=g), 1)
    labels = torch.randint(0, 3, (n, ), generator=g)
    mkeys = F.normalize(
        torch.randn(length, d, dtype=torch.float64, generator=g), 1)
    mlabels = torch.randint(0, 3, (length, ), generator=g)
    mlabels[[0, 4, 9]] = -1  # empty slots
    loss = MemoryWeightedContrastLoss(temperature=0.2, memory_weight=beta)(
        q, k, labels, mkeys, mlabels)
    ref = _reference(q, k, labels, mkeys, mlabels, 0.2, beta)
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-6)
    g1, = torch.autograd.grad(loss, q)
    g2, = torch.autograd.grad(ref, q)
    torch.testing.assert_close(g1, g2, rtol=0, atol=1e-6)
    assert loss.dtype == torch.float64


def test_loss_rejects_bad_arguments():
    from projects.example_contrastive.models import MemoryWeightedContrastLoss
    with pytest.raises(ValueError, match='temperature'):
        MemoryWeightedContrastLoss(temperature=0)
    with pytest.raises(ValueError, match='memory_weight'):
        MemoryWeightedContrastLoss(memory_weight=-1)


def _model(repo_root):
    import projects.example_contrastive.models  # noqa: F401 (registers)
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    return MODELS.build(cfg.model), cfg


def test_step_uses_the_memory_protocol(repo_root):
    model, cfg = _model(repo_root)
    assert model.queue.length == cfg.model.queue.length
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(4, 3, 32, 32, generator=g) for _ in range(2)]
    samples = [DataSample().set_gt_label(y) for y in [0, 1, 1, 3]]
    before = model.queue.snapshot()
    assert not before.valid.any()
    losses = model.loss(views, samples)
    assert set(losses) == {'loss_mwc'}
    # empty memory: the own key is the only column, log-softmax 0
    assert losses['loss_mwc'].item() == 0.0
    after = model.queue.snapshot()
    assert int(after.valid.sum()) == 4
    assert sorted(after.labels[after.valid].tolist()) == [0, 1, 1, 3]
    assert not before.valid.any()  # the snapshot is a copy
    # second step: the four keys of the first are in the memory
    losses = model.loss(views, samples)
    assert losses['loss_mwc'].item() > 0
    losses['loss_mwc'].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert int(model.queue.snapshot().valid.sum()) == 8


def test_published_state_dict_loads_into_image_classifier(repo_root):
    model, cfg = _model(repo_root)
    plain = ImageClassifier(backbone=cfg.model.backbone,
                            neck=cfg.model.neck)
    stripped = model.classifier_state_dict(model.state_dict())
    plain.load_state_dict(stripped, strict=True)


def _python_blocks(section):
    return re.findall(r'```python\n(.*?)```', section, flags=re.S)


def test_walkthrough_quotes_the_files(repo_root):
    """Every line of the walkthrough's code (except ``...``) is in the
    file its block names, so the doc cannot drift from the example."""
    doc = open(osp.join(repo_root, 'docs/en/new_method_project.md')).read()
    section = doc[doc.index('## A contrastive method'):]
    blocks = re.findall(r'`(projects/example_contrastive/[^`]+)`:\n\n'
                        r'```python\n(.*?)```', section, flags=re.S)
    assert len(blocks) >= 3
    for path, code in blocks:
        text = open(osp.join(repo_root, path)).read()
        for line in code.splitlines():
            if line.strip() and line.strip() != '...':
                assert line.rstrip() in text, (path, line)


@pytest.mark.slow
def test_train_one_epoch(repo_root, tmp_path):
    work = str(tmp_path / 'work')
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CFG, '--work-dir', work,
         '--cfg-options', 'train_cfg.max_epochs=1'],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
