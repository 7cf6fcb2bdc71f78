# Copyright (c) ltcls contributors. All rights reserved.
"""PaCo: parametric contrastive learning (Cui et al., ICCV 2021), one stage.

Per step (spec_paco.md §9 "Algorithm", official ``moco/builder.py``):

1. query view -> backbone -> GAP: ``x`` (the classifier / center input) and
   ``q = l2(projector(x))``; ``center_logits = head(x)`` (``LinearClsHead``:
   its ``fc`` weight and bias *are* the PaCo centers);
2. under no grad: EMA update of the momentum encoder, then the key view
   through it (shuffle-BN across ranks) -> ``k``;
3. :class:`~ltcls.models.losses.PaCoLoss` over the centers, the in-batch
   bank ``[q; k]`` and a clone of the queue taken *before* this step's keys
   are enqueued;
4. enqueue ``k`` with the labels (all-gathered: every rank holds the same
   queue).

Inference is :class:`ImageClassifier`'s (backbone -> GAP -> head, no prior,
no projector / key encoder), so checkpoints load into a plain classifier
after dropping ``projector.*``, ``encoder_k.*`` and ``queue.*``.

GPaCo (official ``GPaCo/`` code, spec §2.9) falls out of the same pieces:
``momentum=None, anchor_views='both'``: both views go through the online
encoder with gradients (two forwards, per-view BN as in that code), both
are anchors with their center logits, the in-batch bank is ``[z_1; z_2]``
and the queue receives ``z_2`` (detached). Its 3-layer MLP and
label-smoothed center targets are config (``ProjectionMLP(num_layers=3)``,
``PaCoLoss(label_smoothing=...)``).

Queue initialisation (spec §2.6 decision), owned by the memory
(``LabelledQueue(init=...)``): ``'empty'`` (default; label -1 slots are
masked out of positives and denominator) or ``'random'`` (the official code:
Gaussian keys normalised along the *wrong* axis and random labels, which
create spurious positives for the first ``L / B`` steps).

Places-LT (spec §4): ``trainable_conv`` keeps only the conv weights under
the given backbone prefixes trainable (``['layer4.2']``); BN, projector and
centers stay trainable. mmpretrain's ``frozen_stages`` freezes whole stages
including BN, which is not that recipe.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmpretrain.structures import DataSample

from ltcls.models.memories import LabelledQueue
from ltcls.models.utils.freeze import freeze_conv_weights
from ltcls.models.utils.loss_protocol import build_loss
from ltcls.registry import MODELS
from .contrastive_classifier import ContrastiveClassifier

__all__ = ['PaCo']

ANCHOR_VIEWS = ('first', 'both')
QUEUE_INITS = ('empty', 'random')


@MODELS.register_module()
class PaCo(ContrastiveClassifier):
    """PaCo / GPaCo one-stage training; predicts like ``ImageClassifier``.

    Args:
        backbone (dict): Backbone config.
        projector (dict): Projection MLP to ``feat_dim`` (PaCo: Linear-BN-
            ReLU-Linear, ``ProjectionMLP(norm_cfg=dict(type='BN1d'))``).
        head (dict): Linear classifier = the centers (``LinearClsHead``).
        neck (dict): Defaults to ``GlobalAveragePooling``.
        loss (dict): ``PaCoLoss`` config, or any loss with its call
            signature (``MultiTaskContrastiveLoss``: the multi-task
            baselines and MoCo-SupCon, spec_paco.md §2.9): ``loss(
            center_logits, anchors, anchor_labels, bank_keys,
            bank_key_labels, queue_keys, queue_labels, num_samples=)``,
            returning a tensor or a dict of terms. Stored as
            ``self.loss_module``.
        queue_len (int): Queue slots (8192; 1024 on CIFAR).
        feat_dim (int): Embedding dim d (128; 32 on CIFAR).
        momentum (float, optional): EMA weight of the online encoder,
            mmengine convention (0.001 = MoCo m 0.999). None (GPaCo): no
            momentum encoder. Defaults to 0.001.
        anchor_views (str): ``'first'`` (PaCo) or ``'both'`` (GPaCo, needs
            ``momentum=None``).
        queue_init (str): ``'empty'`` (default) or ``'random'`` (official).
        trainable_conv (Sequence[str], optional): Backbone prefixes whose
            convs stay trainable; all other backbone convs are frozen.
        shuffle_bn (bool): Defaults to True (no-op on one process).
        pretrained, data_preprocessor, init_cfg: As ``ImageClassifier``.
    """

    #: Attributes ``loss`` must define: none (it is only called).
    LOSS_ATTRS = ()

    def __init__(self,
                 backbone: dict,
                 projector: dict,
                 head: dict,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 loss: dict = dict(type='PaCoLoss'),
                 queue_len: int = 8192,
                 feat_dim: int = 128,
                 momentum: Optional[float] = 0.001,
                 anchor_views: str = 'first',
                 queue_init: str = 'empty',
                 trainable_conv: Optional[Sequence[str]] = None,
                 shuffle_bn: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if projector is None or head is None:
            raise ValueError('PaCo needs a projector (the MLP G) and a head '
                             '(the linear classifier = centers)')
        if anchor_views not in ANCHOR_VIEWS:
            raise ValueError(f'PaCo: anchor_views must be one of '
                             f'{ANCHOR_VIEWS}, got {anchor_views!r}')
        if (momentum is None) != (anchor_views == 'both'):
            raise ValueError(
                'PaCo: anchor_views="first" needs a momentum encoder '
                '(PaCo), anchor_views="both" needs momentum=None (GPaCo); '
                f'got momentum={momentum!r}, anchor_views={anchor_views!r}')
        if queue_init not in QUEUE_INITS:
            raise ValueError(f'PaCo: queue_init must be one of {QUEUE_INITS},'
                             f' got {queue_init!r}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector,
            momentum=momentum,
            shuffle_bn=shuffle_bn,
            queue=None,
            num_views=2,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.anchor_views = anchor_views
        self.queue_init = queue_init
        self.num_classes = int(getattr(self.head, 'num_classes', 0) or 0)
        if queue_init == 'random' and self.num_classes < 1:
            raise ValueError('PaCo: queue_init="random" draws labels in '
                             '[0, head.num_classes); the head has no '
                             'num_classes')
        self.queue = LabelledQueue(
            queue_len,
            feat_dim,
            init=queue_init,
            num_classes=self.num_classes or None)
        self.loss_module = build_loss('PaCo', loss, 'loss', self.LOSS_ATTRS)
        self.trainable_conv = trainable_conv
        if trainable_conv is not None:
            freeze_conv_weights(self.backbone, trainable_conv)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """One PaCo (or GPaCo) step.

        Args:
            inputs (list[Tensor]): [query view, key view], (N, C, H, W) each.
            data_samples (list[DataSample]): With ``gt_label``.

        Returns:
            dict: ``loss_paco``, or the loss module's own dict of terms
            (``MultiTaskContrastiveLoss``: ``loss_cls``, ``loss_con``).
        """
        view_q, view_k = self.split_views(inputs)[:2]
        labels = self.get_gt_labels(data_samples).to(view_q.device)
        n = labels.numel()
        if self.anchor_views == 'first':
            feats, q = self.embed(view_q)
            center_logits = self.head(feats)
            keys = self.momentum_keys(view_k, update=True)
            anchors, anchor_labels = q, labels
            bank_keys, bank_key_labels = keys, labels
            enqueue = keys
        else:  # GPaCo: both views are anchors, no momentum encoder
            feats_1, z_1 = self.embed(view_q)
            feats_2, z_2 = self.embed(view_k)
            center_logits = torch.cat(
                [self.head(feats_1), self.head(feats_2)], dim=0)
            anchors = torch.cat([z_1, z_2], dim=0)
            anchor_labels = labels.repeat(2)
            bank_keys = bank_key_labels = None
            enqueue = z_2.detach()
        # a snapshot (clones): enqueue writes the buffers in place after the
        # loss graph has been built on them.
        memory = self.queue.snapshot()
        loss = self.loss_module(
            center_logits,
            anchors,
            anchor_labels,
            bank_keys,
            bank_key_labels,
            memory.keys,
            memory.labels,
            num_samples=n)
        self.queue.enqueue(enqueue, labels)
        # a loss module may return named terms (MultiTaskContrastiveLoss)
        return dict(loss) if isinstance(loss, dict) else dict(loss_paco=loss)
