# Copyright (c) ltcls contributors. All rights reserved.
"""KCL: k-positive contrastive learning (Kang et al., ICLR 2021), stage 1.

MoCo v1 with a labelled key queue (spec_kcl.md §2.4, §3): the query view
goes through backbone -> GAP -> one linear layer (2048 -> 128) ->
L2-normalise; the key view through the momentum (EMA) copy of the same,
with shuffle-BN across ranks; the loss is :class:`~ltcls.models.losses.
KCLLoss` over [own key, queue]; then the all-gathered keys and labels are
enqueued. ``pos_k=None`` gives FCL (every same-class queue entry is a
positive).

Why not subclass mmpretrain's ``MoCo``? Its queue has no labels, asserts
``queue_len % batch == 0``, and its ``ContrastiveHead`` takes one positive
per row; here the queue is the shared ``LabelledQueue`` and the classifier
base keeps ``predict`` / the state-dict layout of an ``ImageClassifier``.
The momentum mechanism is the same (mmengine ``ExponentialMovingAverage``
updated before the keys, as in ``MoCo.loss``).

Stage 2 (a class-balanced linear classifier on the frozen backbone) is a
plain ``ImageClassifier`` config that loads ``backbone.*`` from the stage-1
checkpoint (``configs/kcl/benchmarks/*-linear-cb*.py``).
"""
from typing import Dict, List, Optional

import torch
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS
from ltcls.models.utils.loss_protocol import build_loss, reject_renamed_args
from .contrastive_classifier import ContrastiveClassifier

__all__ = ['KCL']

#: The loss arguments KCL took flat before ``loss=dict(...)``.
_FLAT_LOSS_ARGS = {
    'temperature': 'temperature',
    'pos_k': 'pos_k',
    'pos_selection': 'pos_selection',
    'loss_variant': 'variant',
    'seed': 'seed',
    'loss_weight': 'loss_weight',
}


@MODELS.register_module()
class KCL(ContrastiveClassifier):
    """KCL / FCL representation learning.

    Args:
        backbone (dict): Backbone (ResNet-50 in the paper).
        projector (dict): Projection to ``feat_dim``; the paper's (MoCo v1)
            is one linear layer, ``dict(type='ProjectionMLP',
            in_channels=2048, out_channels=128, num_layers=1)``.
        neck (dict): Defaults to ``GlobalAveragePooling``.
        head (dict, optional): Not used by the paper's stage 1. If given,
            its loss on the query view's features is added (joint
            training) and :meth:`predict` works.
        queue_len (int): K. Defaults to 65536.
        feat_dim (int): d. Defaults to 128.
        momentum (float): EMA weight of the query encoder (mmengine
            convention): 0.001 is MoCo's m = 0.999. Defaults to 0.001.
        loss (dict): The loss over [own key, queue], stored as
            ``self.loss_module``. Defaults to ``dict(type='KCLLoss',
            pos_k=6, temperature=0.07, pos_selection='random',
            variant='v1', seed=0, loss_weight=1.0)``: ``pos_k=None`` is
            FCL; ``pos_selection='random'`` is deterministic given ``seed``
            (a hash of seed, step, anchor and slot, see
            :mod:`ltcls.models.losses.kcl_loss`), ``'topk'`` is the official
            code. Called as ``loss(q, k, labels, queue_keys, queue_labels,
            step=, return_num_selected=True) -> (loss, num_selected)``.
            The flat arguments ``temperature``, ``pos_k``,
            ``pos_selection``, ``loss_variant`` (now ``variant``), ``seed``
            and ``loss_weight`` of older configs are refused with a message
            naming ``loss=dict(...)``.
        shuffle_bn (bool): Defaults to True (no-op on one process).
        data_preprocessor (dict, optional): Defaults to
            ``MultiViewClsDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    #: Attributes ``loss`` must define: none (it is only called).
    LOSS_ATTRS = ()

    def __init__(self,
                 backbone: dict,
                 projector: dict,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 head: Optional[dict] = None,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.001,
                 loss: dict = dict(
                     type='KCLLoss',
                     pos_k=6,
                     temperature=0.07,
                     pos_selection='random',
                     variant='v1',
                     seed=0,
                     loss_weight=1.0),
                 shuffle_bn: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        reject_renamed_args(
            'KCL', kwargs, {
                old: f"loss=dict(type='KCLLoss', {new}=...)"
                for old, new in _FLAT_LOSS_ARGS.items()
            })
        if projector is None:
            raise ValueError('KCL needs a projector (MoCo v1: one linear '
                             'layer to feat_dim)')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector,
            momentum=momentum,
            shuffle_bn=shuffle_bn,
            queue=dict(length=queue_len, dim=feat_dim),
            num_views=2,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_module = build_loss('KCL', loss, 'loss', self.LOSS_ATTRS)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """One KCL step.

        Args:
            inputs (list[Tensor]): [query view, key view], each (N, C, H, W).
            data_samples (list[DataSample]): With ``gt_label``.

        Returns:
            dict: ``loss_kcl`` and ``kcl_num_pos`` (mean number of queue
            positives per anchor, logged only), plus the head's losses if
            there is a head.
        """
        im_q, im_k = self.split_views(inputs)[:2]
        labels = self.get_gt_labels(data_samples).to(im_q.device)
        feats, q = self.embed(im_q)
        # updates the EMA first (MoCo order); steps counts the updates and
        # is checkpointed, so it doubles as the selection step.
        k = self.momentum_keys(im_k, update=True)
        step = int(self.encoder_k.steps)
        # clone: enqueue below writes the buffers in place while autograd
        # still needs the keys for q's gradient.
        memory = self.queue.snapshot()
        loss, num_sel = self.loss_module(
            q,
            k,
            labels,
            memory.keys,
            memory.labels,
            step=step,
            return_num_selected=True)
        self.queue.enqueue(k, labels)
        losses = dict(
            loss_kcl=loss, kcl_num_pos=num_sel.float().mean().detach())
        if self.with_head:
            losses.update(self.head.loss(feats, data_samples))
        return losses
