"""Independent reference models with the official key layouts of the
released PaCo / GPaCo / BCL checkpoints, for the converter tests.

The encoders are torchvision's ``ResNet`` (the official code builds
``torchvision.models.__dict__[arch]``; ResNeXt-101 32x4d and ResNet-200 are
its ``ResNet(Bottleneck, layers, groups, width_per_group)`` with the stage
sizes of the papers). The heads are written here from the layouts read in
the authors' ``moco/builder.py`` / ``models/resnext.py``; no official code
is imported or downloaded. ``forward`` is the official inference: the
classifier on the flattened ``avgpool`` output (PaCo / GPaCo), or BCL's
``30 * cos`` classifier.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

#: arch -> (stage sizes, groups, width per group)
ARCHS = {
    'resnet50': ((3, 4, 6, 3), 1, 64),
    'resnet101': ((3, 4, 23, 3), 1, 64),
    'resnet152': ((3, 8, 36, 3), 1, 64),
    'resnet200': ((3, 24, 36, 3), 1, 64),
    'resnext50_32x4d': ((3, 4, 6, 3), 32, 4),
    'resnext101_32x4d': ((3, 4, 23, 3), 32, 4),
}


def torchvision_encoder(arch: str, num_classes: int) -> ResNet:
    layers, groups, width = ARCHS[arch]
    return ResNet(
        Bottleneck,
        list(layers),
        num_classes=num_classes,
        groups=groups,
        width_per_group=width)


def pooled_feature(encoder: ResNet, x: torch.Tensor) -> torch.Tensor:
    """The flattened ``avgpool`` output (what the official forward hook on
    ``children()[-2]`` records)."""
    x = encoder.maxpool(encoder.relu(encoder.bn1(encoder.conv1(x))))
    for layer in (encoder.layer1, encoder.layer2, encoder.layer3,
                  encoder.layer4):
        x = layer(x)
    return torch.flatten(encoder.avgpool(x), 1)


@torch.no_grad()
def randomize_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Random BN affine parameters and running statistics (the default
    1 / 0 / 0 / 1 would hide a swapped key), small last-BN scales so that
    deep random nets keep O(1) activations, random linear layers."""
    for name, m in model.named_modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            scale = 0.2 if name.endswith(('bn3', 'downsample.1')) else 1.0
            m.weight.copy_(scale * (0.5 + torch.rand(n, generator=generator)))
            m.bias.copy_(0.1 * torch.randn(n, generator=generator))
            m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            m.num_batches_tracked.fill_(1234)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.in_features**0.5
            m.weight.copy_(bound * (2 * torch.rand(
                m.weight.shape, generator=generator) - 1))
            if m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(
                    m.bias.shape, generator=generator))
    return model


@torch.no_grad()
def calibrate_bn_(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Set the encoder BN running statistics to those of ``images`` (one
    train-mode forward with cumulative averages), so that the random
    network's output depends on its input; leaves ``model`` in eval mode.
    The BN1d of the MLPs (not on the inference path) keep their random
    statistics."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    model(images)
    for m in bns:
        m.momentum = 0.1
        m.num_batches_tracked.fill_(1234)
    return model.eval()


class PaCoReference(nn.Module):
    """``LT/moco/builder.py`` / ``Full-ImageNet/moco/builder.py`` layout:
    ``encoder_q`` with the MLP in ``fc`` (Linear - BN1d - ReLU - Linear),
    its momentum copy ``encoder_k``, the classifier ``linear`` (and its
    momentum copy ``linear_k`` in the LT code) and the queue buffers."""

    def __init__(self, arch, num_classes, dim=128, queue_len=64,
                 linear_k=True):
        super().__init__()
        self.encoder_q = torchvision_encoder(arch, dim)
        d = self.encoder_q.fc.in_features
        self.encoder_q.fc = nn.Sequential(
            nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(), self.encoder_q.fc)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        self.linear = nn.Linear(d, num_classes)
        if linear_k:
            self.linear_k = copy.deepcopy(self.linear)
        self.register_buffer('queue',
                             F.normalize(torch.randn(queue_len, dim), dim=0))
        self.register_buffer('queue_l',
                             torch.randint(0, num_classes, (queue_len, )))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    def forward(self, x):
        return self.linear(pooled_feature(self.encoder_q, x))


class GPaCoReference(nn.Module):
    """``GPaCo/LT/moco/builder.py`` layout: one encoder, MLP Linear - ReLU -
    Linear - ReLU - Linear (no BN), ``linear`` and the queue buffers."""

    def __init__(self, arch, num_classes, dim=128, queue_len=64):
        super().__init__()
        self.encoder_q = torchvision_encoder(arch, dim)
        d = self.encoder_q.fc.in_features
        self.encoder_q.fc = nn.Sequential(
            nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, d),
            nn.ReLU(inplace=True), self.encoder_q.fc)
        self.linear = nn.Linear(d, num_classes)
        self.register_buffer('queue',
                             F.normalize(torch.randn(queue_len, dim), dim=0))
        self.register_buffer('queue_l',
                             torch.randint(0, num_classes, (queue_len, )))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    def forward(self, x):
        return self.linear(pooled_feature(self.encoder_q, x))


class BCLReference(nn.Module):
    """``models/resnext.py`` ``BCLModel`` layout: ``encoder`` (no fc),
    ``head`` MLP (Linear - BN1d - ReLU - Linear to 1024), ``fc.weight`` of
    shape (D, C) used as ``s * normalize(x) @ normalize(W, dim=0)`` with
    s = 30, and the centre MLP ``head_fc``."""

    def __init__(self, arch, num_classes, feat_dim=1024, scale=30.0):
        super().__init__()
        self.encoder = torchvision_encoder(arch, 1000)
        d = self.encoder.fc.in_features
        del self.encoder.fc
        self.head = nn.Sequential(
            nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(inplace=True),
            nn.Linear(d, feat_dim))
        self.fc = nn.Module()
        self.fc.weight = nn.Parameter(torch.rand(d, num_classes) * 2 - 1)
        self.head_fc = copy.deepcopy(self.head)
        self.scale = scale

    def forward(self, x):
        feat = pooled_feature(self.encoder, x)
        return self.scale * (F.normalize(feat, dim=1) @ F.normalize(
            self.fc.weight, dim=0))


def official_checkpoint(model: nn.Module, arch: str, **extra) -> dict:
    """What the official scripts ``torch.save``: the DDP state dict
    (``module.`` prefixes), epoch, arch, accuracy and the SGD state."""
    state = {'module.' + k: v.detach().clone()
             for k, v in model.state_dict().items()}
    ckpt = {
        'epoch': 400,
        'arch': arch,
        'acc': torch.tensor(57.0),
        'state_dict': state,
        'optimizer': {
            'state': {},
            'param_groups': [{
                'lr': 0.0,
                'momentum': 0.9,
                'weight_decay': 5e-4,
                'nesterov': False,
                'params': [0, 1, 2]
            }]
        }
    }
    ckpt.update(extra)
    return ckpt


def convert_and_compare(tmp_path, main, config, reference, arch,
                        size=64, batch=2, seed=0):
    """Randomise ``reference``, save it as the official file, convert it
    with the converter's ``main`` (its command line) and check that the
    ltcls model of ``config`` gives the reference's logits (float64).

    Returns:
        tuple: ``(out, official)``: the written checkpoint and the saved
        official dict.
    """
    from mmengine.config import Config

    from ltcls.registry import MODELS
    from ltcls.utils import register_all_modules, safe_torch_load

    register_all_modules()
    g = torch.Generator().manual_seed(seed)
    randomize_(reference, g)
    calibrate_bn_(reference,
                  torch.randn(4, 3, size, size, generator=g))
    official = official_checkpoint(reference, arch)
    src = str(tmp_path / 'official.pth.tar')
    dst = str(tmp_path / 'converted.pth')
    torch.save(official, src)
    out = main([config, src, dst])

    cfg = Config.fromfile(config)
    clf = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=cfg.model.backbone,
            neck=cfg.model.neck,
            head=cfg.model.head))
    written = safe_torch_load(dst, map_location='cpu')
    assert set(written) == {'state_dict', 'meta'}
    clf.load_state_dict(written['state_dict'], strict=True)
    clf.double().eval()
    reference.double().eval()
    x = torch.randn(batch, 3, size, size, generator=g, dtype=torch.float64)
    with torch.no_grad():
        ours = clf.head(clf.extract_feat(x))
        ref = reference(x)
    assert ref.abs().max() > 1e-2, 'degenerate reference logits'
    assert (ref[0] - ref[1]).abs().max() > 1e-3, 'inputs not distinguished'
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    return out, official
