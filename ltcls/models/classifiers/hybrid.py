# Copyright (c) ltcls contributors. All rights reserved.
"""Hybrid-SC / Hybrid-PSC (Wang et al., "Contrastive Learning based Hybrid
Networks for Long-Tailed Image Classification", CVPR 2021).

One backbone, two branches trained jointly (spec_hybrid.md §1-§3)::

    r = GAP(backbone(x))                       shared feature (N, D_E)
    z = normalize(projector(r))                contrastive embedding
    s = head(r)                                linear classifier logits
    L = alpha * L_con(z of the feature batch)
        + (1 - alpha) * L_CE(s of the class-balanced batch)

* the feature branch sees an instance-balanced batch of B images in
  ``num_views`` views; L_con is ``SupConLoss`` (Hybrid-SC) or ``PSCLoss``
  (Hybrid-PSC, learnable prototypes owned by the loss module);
* the classifier branch sees an independent class-balanced batch (one
  view); the two streams come from ``DualStreamSampler`` +
  ``DualStreamDataset``, which pack ``inputs = [view_1, ..., view_V,
  cls_view]`` and put the classifier image's label in
  ``data_sample.cls_gt_label``;
* alpha is set every epoch by ``CurriculumAlphaHook`` (1 - (T/T_max)^2 on
  CIFAR-LT, 1 - T/T_max on iNaturalist);
* by default the V views and the classifier batch go through the backbone
  in **one** forward pass (one set of BN statistics, decision §9.12);
  ``separate_bn_passes=True`` runs the two branches separately;
* inference uses the linear head only (``ContrastiveClassifier.predict`` =
  ``ImageClassifier.predict``);
* DDP-exact: both branches are means over the *global* batch. L_con uses
  ``reduce_anchor_loss``; the head's CE is a mean over the local batch, so
  it is rescaled by ``n_local * W / n_global`` (exactly 1 when every rank
  has the same batch size, as ``DualStreamSampler`` guarantees), so that
  DDP's gradient average gives the global-batch mean for any split.

``feature_loss='ce'`` is the CE-CE ablation (Table 4): the feature branch
applies the shared head's cross-entropy to its views instead of L_con.
"""
import copy
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS
from ltcls.models.utils.gather import world_info
from ltcls.models.utils.loss_protocol import build_loss, reject_renamed_args
from .contrastive_classifier import ContrastiveClassifier

__all__ = ['HybridClassifier', 'HybridSC', 'HybridPSC']

FEATURE_LOSSES = ('contrastive', 'ce')


def _cfg_get(cfg, key):
    if isinstance(cfg, dict):
        return cfg.get(key, None)
    return getattr(cfg, key, None)


def _global_mean_factor(n_local: int, device) -> float:
    """``n_local * W / n_global``: turns a mean over this rank's batch into
    the share of the global-batch mean that DDP's gradient average expects
    (1.0 on one process or with equal per-rank batch sizes)."""
    _, world = world_info()
    if world == 1:
        return 1.0
    count = torch.tensor([float(n_local)], dtype=torch.float64, device=device)
    dist.all_reduce(count)
    total = float(count.item())
    return n_local * world / total if total > 0 else 1.0


@MODELS.register_module()
class HybridClassifier(ContrastiveClassifier):
    """Hybrid network: contrastive feature branch + CE classifier branch.

    Args:
        backbone (dict): Backbone config (ResNet32CIFAR / ResNet).
        neck (dict): Normally ``dict(type='GlobalAveragePooling')``; its
            output r feeds both branches.
        head (dict): Linear classifier f_c (``LinearClsHead`` with
            ``CrossEntropyLoss``). Required.
        projector (dict): Projection MLP f_e (``ProjectionMLP``); its output
            is L2-normalised. Required unless ``feature_loss='ce'``.
        loss (dict): ``SupConLoss`` or ``PSCLoss`` config, called as
            ``loss(z (V*B, d), labels (V*B, ))`` and stored as
            ``self.loss_module`` (``contrastive_loss`` is its old name).
            Required unless ``feature_loss='ce'``.
        alpha (float): Initial curriculum weight in [0, 1]; the
            ``CurriculumAlphaHook`` overwrites it every epoch.
            Defaults to 1.0.
        num_views (int): Views of each feature-branch image. Defaults to 2.
        separate_bn_passes (bool): Forward the feature views and the
            classifier batch separately (two sets of BN statistics) instead
            of concatenated. Defaults to False.
        feature_loss (str): ``'contrastive'`` or ``'ce'`` (CE-CE
            ablation). Defaults to ``'contrastive'``.
        data_preprocessor, train_cfg, pretrained, init_cfg: as
            :class:`ContrastiveClassifier`.

    Training inputs: a list of ``num_views + 1`` tensors (B, C, H, W); the
    last is the class-balanced batch. Data samples carry ``gt_label``
    (feature image) and ``cls_gt_label`` (classifier image).
    """

    #: Attributes ``loss`` must define: none (it is only called).
    LOSS_ATTRS = ()

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 projector: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 alpha: float = 1.0,
                 num_views: int = 2,
                 separate_bn_passes: bool = False,
                 feature_loss: str = 'contrastive',
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        name = type(self).__name__
        reject_renamed_args(
            name, kwargs, {
                'contrastive_loss':
                "loss=dict(type='SupConLoss' or 'PSCLoss', ...)"
            })
        if head is None:
            raise ValueError(f'{name}: head (the linear classifier of the '
                             'CE branch) is required')
        if feature_loss not in FEATURE_LOSSES:
            raise ValueError(f'{name}: feature_loss must be one of '
                             f'{FEATURE_LOSSES}, got {feature_loss!r}')
        if feature_loss == 'contrastive' and (projector is None
                                              or loss is None):
            raise ValueError(
                f'{name}: feature_loss="contrastive" needs both a projector '
                'and a loss (SupConLoss / PSCLoss) config')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector if feature_loss == 'contrastive' else None,
            num_views=num_views,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.feature_loss = feature_loss
        if feature_loss == 'contrastive':
            self.loss_module = build_loss(name, loss, 'loss', self.LOSS_ATTRS)
        else:
            self.loss_module = None
        self.alpha = alpha
        self.separate_bn_passes = bool(separate_bn_passes)

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f'{type(self).__name__}: alpha must be in '
                             f'[0, 1], got {value}')
        self._alpha = value

    # ------------------------------------------------------------------
    @staticmethod
    def _split_feats(feats, sizes):
        """Split every tensor of the neck output tuple along dim 0."""
        parts = [torch.split(f, sizes, dim=0) for f in feats]
        return [tuple(p[i] for p in parts) for i in range(len(sizes))]

    def _cls_samples(self, data_samples: List[DataSample]
                     ) -> List[DataSample]:
        out = []
        for i, sample in enumerate(data_samples):
            if 'cls_gt_label' not in sample:
                raise ValueError(
                    f'{type(self).__name__}: data sample {i} has no '
                    'cls_gt_label (the classifier-branch label); train with '
                    "dataset=dict(type='DualStreamDataset', ...) and "
                    "sampler=dict(type='DualStreamSampler')")
            out.append(DataSample().set_gt_label(sample.cls_gt_label))
        return out

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Hybrid loss of one step.

        Args:
            inputs (list[Tensor]): ``num_views`` feature-branch views
                followed by the classifier-branch batch, each
                (B, C, H, W).
            data_samples (list[DataSample]): B samples with ``gt_label`` and
                ``cls_gt_label``.

        Returns:
            dict: ``loss_con`` = alpha * L_con, ``loss_cls`` =
            (1 - alpha) * L_CE (the two summed by the runner), and the
            unweighted ``con_unweighted`` / ``ce_unweighted`` for logging.
        """
        views = self.split_views(inputs, self.num_views + 1)
        if len(views) != self.num_views + 1:
            raise ValueError(
                f'{type(self).__name__}: expected {self.num_views} feature '
                f'views + 1 classifier view, got {len(views)} inputs')
        con_views, cls_view = views[:-1], views[-1]
        labels = self.get_gt_labels(data_samples).to(cls_view.device)
        cls_samples = self._cls_samples(data_samples)

        con_batch = torch.cat(con_views, dim=0)  # view-major (V*B, ...)
        if self.separate_bn_passes:
            con_feats = self.extract_feat(con_batch)
            cls_feats = self.extract_feat(cls_view)
        else:
            feats = self.extract_feat(torch.cat([con_batch, cls_view], 0))
            con_feats, cls_feats = self._split_feats(
                feats, [con_batch.size(0), cls_view.size(0)])
        con_labels = labels.repeat(len(con_views))

        if self.feature_loss == 'contrastive':
            z = self.project(con_feats)
            loss_con = self.loss_module(z, con_labels)
        else:  # CE-CE ablation: the shared head on the feature views
            con_samples = [
                DataSample().set_gt_label(y) for y in con_labels.unbind()
            ]
            loss_con = self.head.loss(con_feats, con_samples)['loss'] * \
                _global_mean_factor(len(con_samples), cls_view.device)
        loss_ce = self.head.loss(cls_feats, cls_samples)['loss'] * \
            _global_mean_factor(cls_view.size(0), cls_view.device)
        alpha = self.alpha
        return dict(
            loss_con=alpha * loss_con,
            loss_cls=(1.0 - alpha) * loss_ce,
            con_unweighted=loss_con.detach(),
            ce_unweighted=loss_ce.detach())


@MODELS.register_module()
class HybridSC(HybridClassifier):
    """Hybrid-SC: :class:`HybridClassifier` with ``SupConLoss`` (tau 0.1,
    no ``tau / tau_base`` factor, mean over the views of the global batch,
    spec_hybrid.md §2.3 decisions)."""

    def __init__(self, *args, loss: Optional[dict] = None, **kwargs):
        if loss is None:
            loss = dict(type='SupConLoss', temperature=0.1)
        super().__init__(*args, loss=loss, **kwargs)


@MODELS.register_module()
class HybridPSC(HybridClassifier):
    """Hybrid-PSC: :class:`HybridClassifier` with ``PSCLoss``.

    ``num_classes`` and ``feat_dim`` of the loss default to the head's
    ``num_classes`` and the projector's ``out_channels``; given explicitly
    they must match them.
    """

    def __init__(self, *args, loss: Optional[dict] = None, **kwargs):
        loss_cfg = copy.deepcopy(loss) if loss is not None else dict(
            type='PSCLoss', temperature=0.1)
        if isinstance(loss_cfg, dict):
            head, projector = kwargs.get('head'), kwargs.get('projector')
            for key, src, src_key in (('num_classes', head, 'num_classes'),
                                      ('feat_dim', projector,
                                       'out_channels')):
                expected = _cfg_get(src, src_key)
                if expected is None:
                    continue
                given = loss_cfg.setdefault(key, expected)
                if given != expected:
                    raise ValueError(
                        f'HybridPSC: loss.{key}={given} does not '
                        f'match {src_key}={expected} of the '
                        f'{"head" if key == "num_classes" else "projector"}')
        super().__init__(*args, loss=loss_cfg, **kwargs)
