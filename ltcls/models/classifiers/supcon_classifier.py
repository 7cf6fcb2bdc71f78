# Copyright (c) ltcls contributors. All rights reserved.
"""SupCon / in-batch FCL: views through one encoder, SupConLoss over the
global batch (optionally plus a labelled queue of keys), optional CE head.
With ``SupConLoss(pos_k=k)`` it is KCL's in-batch mode (spec_kcl.md §9
item 1): at most k same-class views per anchor.
"""
from typing import Dict, List, Optional

import torch
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from ltcls.models.utils.loss_protocol import build_loss, reject_renamed_args
from ltcls.registry import MODELS
from .contrastive_classifier import ContrastiveClassifier

__all__ = ['SupConClassifier']


@MODELS.register_module()
class SupConClassifier(ContrastiveClassifier):
    """Supervised contrastive learning (Khosla et al. 2020), i.e. FCL with
    the batch as the contrast set.

    All ``num_views`` views of a batch go through the online encoder in one
    forward pass (shared BN statistics); their embeddings, in view-major
    order, are the anchors of ``loss`` (``SupConLoss``: every
    other view of the global batch is contrasted, same-label views are the
    positives). With a ``queue``, keys are enqueued after the loss and used
    as extra contrast entries: momentum-encoder keys of the last view if
    ``momentum`` is set, else the detached embeddings of the last view.
    With a ``head``, its loss on the first view's features is added.

    In-batch KCL: ``loss=dict(type='SupConLoss', pos_k=6)``
    caps the positives at k per anchor (see
    :mod:`ltcls.models.losses.supcon_loss`). The embeddings are passed as
    (N, V, d) so that the selection is the same for any number of ranks,
    and the ``step`` of the random draw is the runner's iteration (the
    ``iter`` of mmengine's ``MessageHub``, restored on resume; 0 outside a
    runner). The mean number of positives per anchor is logged as
    ``kcl_num_pos``.

    Loss protocol (:attr:`LOSS_ATTRS`): the loss defines ``pos_k``. With
    ``pos_k=None`` it is called as ``loss(z (N, V, d), labels, queue_keys,
    queue_labels)``; otherwise as ``loss(..., step=, return_num_selected=
    True)`` and returns ``(loss, num_selected (N * V,))``.

    Args:
        loss (dict): Defaults to ``dict(type='SupConLoss')`` (stored as
            ``self.loss_module``; ``contrastive_loss`` is its old name).
        Other args: see :class:`ContrastiveClassifier`.
    """

    #: Attributes ``loss`` must define (see above).
    LOSS_ATTRS = ('pos_k', )

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 head: Optional[dict] = None,
                 projector: Optional[dict] = None,
                 loss: dict = dict(type='SupConLoss'),
                 momentum: Optional[float] = None,
                 shuffle_bn: bool = True,
                 queue: Optional[dict] = None,
                 num_views: int = 2,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        reject_renamed_args(
            'SupConClassifier', kwargs,
            {'contrastive_loss': "loss=dict(type='SupConLoss', ...)"})
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector,
            momentum=momentum,
            shuffle_bn=shuffle_bn,
            queue=queue,
            num_views=num_views,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_module = build_loss('SupConClassifier', loss, 'loss',
                                      self.LOSS_ATTRS)

    @staticmethod
    def selection_step() -> int:
        """The step of the random positive selection: the runner's current
        iteration (0 outside a runner)."""
        return int(MessageHub.get_current_instance().get_info('iter', 0))

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Args: inputs (list[Tensor]): V views (N, C, H, W).

        Returns:
            dict: ``loss_supcon`` (+ ``kcl_num_pos`` with ``pos_k``, + the
            head's losses).
        """
        views = self.split_views(inputs)[:self.num_views]
        n = views[0].shape[0]
        labels = self.get_gt_labels(data_samples).to(views[0].device)
        feats, z = self.embed(torch.cat(views, dim=0))  # (V * N, d)
        queue_keys = queue_labels = keys = None
        if self.with_queue:
            if self.with_momentum_encoder:
                keys = self.momentum_keys(views[-1], update=True)
            else:
                keys = z[-n:].detach()
            memory = self.queue.snapshot()
            queue_keys, queue_labels = memory.keys, memory.labels
        # (V * N, d) view-major -> (N, V, d): the layout SupConLoss
        # flattens back, and the one its cross-rank ordering relies on
        z = z.view(len(views), n, -1).transpose(0, 1)
        num_sel = None
        if self.loss_module.pos_k is not None:
            loss, num_sel = self.loss_module(
                z,
                labels,
                queue_keys,
                queue_labels,
                step=self.selection_step(),
                return_num_selected=True)
        else:
            loss = self.loss_module(z, labels, queue_keys, queue_labels)
        if self.with_queue:
            self.queue.enqueue(keys, labels)
        losses = dict(loss_supcon=loss)
        if num_sel is not None:
            losses['kcl_num_pos'] = num_sel.float().mean().detach()
        if self.with_head:
            first = tuple(f[:n] for f in feats)
            losses.update(self.head.loss(first, data_samples))
        return losses
