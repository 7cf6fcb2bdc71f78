# Copyright (c) ltcls contributors. All rights reserved.
"""ResCom: rebalanced Siamese contrastive mining (Zhong et al., 2022).

Per step (spec_rescom.md §2.7, §9 "Algorithm"):

1. the two views are concatenated and forwarded once through the shared
   (Siamese) encoder: backbone -> GAP -> ``f`` (2N rows, per-GPU BN over
   both views, as the official code);
2. ``s = head(f)`` (shared linear classifier, bias) and
   ``z = l2(projector(f))``;
3. :class:`~ltcls.models.losses.ResComLoss`: Siamese Balanced Softmax on
   ``s`` + lambda * class-balanced SPM of the anchors against a clone of the
   :class:`~ltcls.models.memories.ClassBalancedQueue` (plus the local in-batch
   block in the official variant);
4. the enqueue view's ``z`` (detached, all-gathered) is written to the
   per-class FIFO queues: view 1 in the official code, view 2 in Algorithm 1
   (``enqueue_view=None`` picks it from the loss ``variant``).

``queue_type='fifo'`` (the "original queue" of the queue-type ablation,
paper Fig. 3 / spec §7) replaces the class-balanced queue by one global
:class:`~ltcls.models.memories.LabelledQueue` of the same total size
``K * Q``: keys are written in batch order, oldest out, so the queue follows
the long-tailed label distribution. Both are memories of the same protocol
(``snapshot()``: keys and labels, -1 = empty slot), so the loss and the
mining are unchanged.

No momentum encoder. Inference is ``ImageClassifier``'s (backbone -> GAP ->
head), so the checkpoint evaluates as a plain classifier after dropping
``projector.*`` and ``queue.*``.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmpretrain.structures import DataSample

from ltcls.models.memories import ClassBalancedQueue, LabelledQueue
from ltcls.models.utils.freeze import freeze_conv_weights
from ltcls.models.utils.loss_protocol import build_loss
from ltcls.registry import MODELS
from .contrastive_classifier import ContrastiveClassifier

__all__ = ['ResCom', 'RESCOM_QUEUE_TYPES']

RESCOM_QUEUE_TYPES = ('class_balanced', 'fifo')


@MODELS.register_module()
class ResCom(ContrastiveClassifier):
    """ResCom one-stage training; predicts like ``ImageClassifier``.

    Args:
        backbone (dict): Backbone config.
        projector (dict): MLP to ``feat_dim`` (Linear-BN-ReLU-Linear,
            ``ProjectionMLP(norm_cfg=dict(type='BN1d'))``).
        head (dict): Shared linear classifier (``LinearClsHead``).
        neck (dict): Defaults to ``GlobalAveragePooling``.
        loss (dict): ``ResComLoss`` config, stored as ``self.loss_module``;
            called as ``loss(cls_score, z, labels, queue_keys,
            queue_labels)``. Loss protocol (:attr:`LOSS_ATTRS`): it defines
            ``variant`` (``'code'`` / ``'paper'``: picks the default
            ``enqueue_view``), ``num_pos`` and ``num_neg`` (checked against
            the queue size).
        queue_size_per_cls (int): Q. Defaults to 8 (official builder).
        feat_dim (int): d (128; 32 on CIFAR).
        queue_init (str): ``'random'`` (official, default) or ``'empty'``.
            ``queue_type='fifo'`` supports ``'empty'`` only.
        queue_type (str): ``'class_balanced'`` (default, ResCom: ``K``
            per-class FIFOs of ``Q`` keys) or ``'fifo'`` (ablation: one
            global FIFO of ``K * Q`` keys with their labels, long-tailed
            like the data). With ``'fifo'``, ``num_pos`` / ``num_neg`` may
            be up to ``K * Q`` (an anchor's positive count varies).
        enqueue_view (int, optional): 0 or 1; None: 0 for the ``'code'``
            loss variant, 1 for ``'paper'``.
        trainable_conv (Sequence[str], optional): Keep only these backbone
            convs trainable (Places-LT, PaCo's recipe).
        pretrained, data_preprocessor, init_cfg: As ``ImageClassifier``.
    """

    #: Attributes ``loss`` must define (see ``loss`` above).
    LOSS_ATTRS = ('variant', 'num_pos', 'num_neg')

    def __init__(self,
                 backbone: dict,
                 projector: dict,
                 head: dict,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 loss: dict = dict(type='ResComLoss'),
                 queue_size_per_cls: int = 8,
                 feat_dim: int = 128,
                 queue_init: str = 'random',
                 queue_type: str = 'class_balanced',
                 enqueue_view: Optional[int] = None,
                 trainable_conv: Optional[Sequence[str]] = None,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if projector is None or head is None:
            raise ValueError('ResCom needs a projector (the MLP) and a head '
                             '(the shared linear classifier)')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector,
            momentum=None,
            queue=None,
            num_views=2,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        num_classes = int(getattr(self.head, 'num_classes', 0) or 0)
        if num_classes < 1:
            raise ValueError('ResCom: the head must define num_classes (the '
                             'class-balanced queue has one FIFO per class)')
        self.num_classes = num_classes
        self.loss_module = build_loss('ResCom', loss, 'loss',
                                      self.LOSS_ATTRS)
        if queue_type not in RESCOM_QUEUE_TYPES:
            raise ValueError(f'ResCom: queue_type must be one of '
                             f'{RESCOM_QUEUE_TYPES}, got {queue_type!r}')
        self.queue_type = queue_type
        num_pos, num_neg = self.loss_module.num_pos, self.loss_module.num_neg
        if queue_type == 'class_balanced':
            self.queue = ClassBalancedQueue(
                num_classes, queue_size_per_cls, feat_dim, init=queue_init)
            q = self.queue.size_per_class
            max_pos, max_neg = q, (num_classes - 1) * q
            pos_msg = f'only queue_size_per_cls={q} keys per class'
            neg_msg = f'the queue holds only (K - 1) * Q = {max_neg} ' \
                'other-class keys'
        else:
            if queue_init != 'empty':
                raise ValueError('ResCom: queue_type="fifo" needs '
                                 f'queue_init="empty", got {queue_init!r}')
            if isinstance(queue_size_per_cls, bool) or \
                    int(queue_size_per_cls) != queue_size_per_cls or \
                    queue_size_per_cls < 1:
                raise ValueError('ResCom: queue_size_per_cls must be a '
                                 f'positive int, got {queue_size_per_cls!r}')
            length = num_classes * int(queue_size_per_cls)
            self.queue = LabelledQueue(length, feat_dim, init='empty')
            max_pos = max_neg = length
            pos_msg = neg_msg = f'the FIFO queue holds only {length} keys'
        if num_pos > max_pos:
            raise ValueError(f'ResCom: num_pos={num_pos} hard positives per '
                             f'anchor but {pos_msg}')
        if num_neg > max_neg:
            raise ValueError(f'ResCom: num_neg={num_neg} hard negatives per '
                             f'anchor but {neg_msg}')
        if enqueue_view is None:
            enqueue_view = 1 if self.loss_module.variant == 'paper' else 0
        if enqueue_view not in (0, 1):
            raise ValueError(
                f'ResCom: enqueue_view must be 0 or 1, got {enqueue_view!r}')
        self.enqueue_view = int(enqueue_view)
        self.trainable_conv = trainable_conv
        if trainable_conv is not None:
            freeze_conv_weights(self.backbone, trainable_conv)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """One ResCom step.

        Args:
            inputs (list[Tensor]): Two views, (N, C, H, W) each.
            data_samples (list[DataSample]): With ``gt_label``.

        Returns:
            dict: ``loss_cls`` (SiamBS) and ``loss_con`` (lambda * SPM).
        """
        views = self.split_views(inputs)[:2]
        labels = self.get_gt_labels(data_samples).to(views[0].device)
        n = labels.numel()
        feats = self.extract_feat(torch.cat(views, dim=0))
        cls_score = self.head(feats)
        z = self.project(feats)
        memory = self.queue.snapshot()
        losses = self.loss_module(cls_score, z, labels, memory.keys,
                                  memory.labels)
        v = self.enqueue_view
        self.queue.enqueue(z[v * n:(v + 1) * n].detach(), labels)
        return losses
