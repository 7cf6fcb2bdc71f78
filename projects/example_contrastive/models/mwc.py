"""The example method's classifier: a momentum encoder, a labelled memory,
and :class:`MemoryWeightedContrastLoss`, on the shared ltcls protocol.

A step is the four calls every queue method in ltcls makes:

1. ``feats, q = self.embed(query_view)``: backbone -> neck -> projector ->
   L2-normalise (``ContrastiveClassifier``);
2. ``k = self.momentum_keys(key_view, update=True)``: EMA update, then the
   keys (shuffle-BN across ranks);
3. ``memory = self.queue.snapshot()`` *before* ``enqueue``, passed to the
   loss (``self.loss_module``, built from ``loss=dict(...)``);
4. ``self.queue.enqueue(k, labels)``: the memory gathers every rank's keys.

The projector, the momentum encoder, the memory and the loss are
training-only state (``ltcls.utils.training_state``): the published
checkpoint loads strictly into a plain ``ImageClassifier``.
"""
from typing import Dict, List, Optional

import torch
from mmpretrain.structures import DataSample

from ltcls.models.classifiers import ContrastiveClassifier
from ltcls.models.utils.loss_protocol import build_loss
from ltcls.registry import MODELS


@MODELS.register_module()
class MemoryWeightedContrast(ContrastiveClassifier):
    """Args:
        loss (dict): Defaults to ``dict(type='MemoryWeightedContrastLoss')``
            (stored as ``self.loss_module``).
        queue (dict): The memory, e.g. ``dict(type='LabelledQueue',
            length=256, dim=128)``.
        Other args: see :class:`ContrastiveClassifier` (``projector`` and
        ``momentum`` are required here).
    """

    #: Attributes the classifier reads from its loss: none.
    LOSS_ATTRS = ()

    def __init__(self,
                 backbone: dict,
                 projector: dict,
                 queue: dict,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 head: Optional[dict] = None,
                 loss: dict = dict(type='MemoryWeightedContrastLoss'),
                 momentum: float = 0.001,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector,
            momentum=momentum,
            queue=queue,
            num_views=2,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_module = build_loss('MemoryWeightedContrast', loss, 'loss',
                                      self.LOSS_ATTRS)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Args: inputs (list[Tensor]): [query view, key view] (N, C, H, W).

        Returns:
            dict: ``loss_mwc`` (+ the head's losses with a head).
        """
        im_q, im_k = self.split_views(inputs)[:2]
        labels = self.get_gt_labels(data_samples).to(im_q.device)
        feats, q = self.embed(im_q)
        k = self.momentum_keys(im_k, update=True)
        memory = self.queue.snapshot()
        losses = dict(
            loss_mwc=self.loss_module(q, k, labels, memory.keys,
                                      memory.labels))
        self.queue.enqueue(k, labels)
        if self.with_head:
            losses.update(self.head.loss(feats, data_samples))
        return losses
