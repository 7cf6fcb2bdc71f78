# Copyright (c) ltcls contributors. All rights reserved.
"""The base algorithm of every contrastive long-tailed method in ltcls.

``ContrastiveClassifier`` is mmpretrain's ``ImageClassifier`` (backbone ->
neck -> optional head; the same ``predict`` and ``extract_feat``) plus the
training-only pieces the contrastive methods share:

* ``projector``: a projection neck whose output is L2-normalised
  (:meth:`project`);
* an optional momentum (key) encoder: mmengine's
  ``ExponentialMovingAverage`` over ``backbone + neck + projector``
  (the mechanism of mmpretrain's ``MoCo``), updated *before* keys are
  computed, with shuffle-BN across ranks (mmpretrain's
  ``batch_shuffle_ddp``; a no-op on one rank) (:meth:`momentum_keys`);
* an optional memory ``queue`` (:mod:`ltcls.models.memories`, the
  protocol: ``queue.enqueue(keys, *label_fields)`` after the loss,
  ``queue.snapshot()`` before it);
* the losses, by the convention of :mod:`ltcls.models.utils.loss_protocol`
  (``loss=dict(...)`` -> ``self.loss_module``, a second one
  ``warmup_loss=dict(...)`` -> ``self.warmup_loss_module``).

The state dict keeps mmpretrain's layout: ``backbone.*``, ``neck.*`` and
``head.*`` are exactly an ``ImageClassifier``'s; the extra training state
lives under ``projector.*``, ``encoder_k.*``, ``queue.*``, ``loss_module.*``
and the other entries of :mod:`ltcls.utils.training_state` (the single
list), so dropping those keys gives a checkpoint that loads strictly into a
plain ``ImageClassifier`` (:meth:`classifier_state_dict`), and
``init_cfg=dict(type='Pretrained', prefix='backbone.')`` works for a stage-2
/ linear-probe config as is. Checkpoints with the loss state under the old
attribute names (``contrastive_loss.*``, ``sbcl_loss.*``, ``warmup_loss.*``)
are renamed on load, so they still resume.

Subclasses implement :meth:`loss`; the views come from ``MultiView`` through
:class:`~ltcls.models.utils.MultiViewClsDataPreprocessor` (the default data
preprocessor), as a list of (N, C, H, W) tensors.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import ExponentialMovingAverage
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.structures import DataSample
from torch import nn

from ltcls.registry import MODELS
from ltcls.models.memories import BaseMemory
from ltcls.models.utils.gather import world_info
from ltcls.utils.training_state import (LEGACY_LOSS_PREFIXES,
                                        strip_training_state)

__all__ = ['ContrastiveClassifier']


@MODELS.register_module()
class ContrastiveClassifier(ImageClassifier):
    """Backbone + neck + projector (+ head, momentum encoder, queue).

    Args:
        backbone (dict): Backbone config (e.g. ResNet, ResNet32CIFAR).
        neck (dict, optional): Neck config, normally
            ``dict(type='GlobalAveragePooling')``; its output is the feature
            the classifier head and the downstream probes use.
        head (dict, optional): Classification head (e.g. LinearClsHead). A
            head is needed for :meth:`predict`; stage-1-only methods (KCL)
            may leave it out.
        projector (dict, optional): Projection neck applied to the neck
            output (e.g. ``ProjectionMLP``, ``LinearNeck``, ``NonLinearNeck``
            with ``with_avg_pool=False``). Its output is L2-normalised. None
            uses the (normalised) neck feature itself.
        momentum (float, optional): If set, build a momentum encoder
            updated as ``p_k <- (1 - momentum) * p_k + momentum * p_q``
            (mmengine's convention: ``momentum=0.001`` is MoCo's m = 0.999).
            Defaults to None (no momentum encoder).
        shuffle_bn (bool): Shuffle the key batch across ranks before the
            momentum encoder (MoCo's shuffle-BN). On one process this is a
            no-op: the BN statistics of the key batch then come from the
            same images as the query batch (spec_kcl.md §9.19 decision:
            accepted). Defaults to True.
        queue (dict, optional): Memory config: ``LabelledQueue`` arguments
            (``length``, ``dim``, ``num_label_fields``, ``init``,
            ``num_classes``, ``gather``), or any memory with ``type``.
            Defaults to None (no queue).
        num_views (int): Number of views :meth:`split_views` expects in a
            training batch. Defaults to 2.
        pretrained (str, optional): Checkpoint to initialise from.
        train_cfg (dict, optional): As ``ImageClassifier`` (batch augments;
            single-view training only).
        data_preprocessor (dict, optional): Defaults to
            ``MultiViewClsDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 projector: Optional[dict] = None,
                 momentum: Optional[float] = None,
                 shuffle_bn: bool = True,
                 queue: Optional[dict] = None,
                 num_views: int = 2,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = data_preprocessor or {}
        if isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('type',
                                         'MultiViewClsDataPreprocessor')
            data_preprocessor.setdefault('batch_augments', train_cfg)
        # Build through the ltcls registry (which falls back to
        # mmpretrain's): ImageClassifier builds with mmpretrain's registry,
        # which cannot see ltcls modules when no default scope is set.
        backbone, neck, head, data_preprocessor = (
            MODELS.build(c) if isinstance(c, dict) else c
            for c in (backbone, neck, head, data_preprocessor))
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if int(num_views) < 1:
            raise ValueError(f'num_views must be >= 1, got {num_views}')
        self.num_views = int(num_views)
        if projector is not None and not isinstance(projector, nn.Module):
            projector = MODELS.build(projector)
        self.projector = projector
        self.shuffle_bn = shuffle_bn

        if momentum is not None:
            momentum = float(momentum)
            if not 0.0 < momentum < 1.0:
                raise ValueError(
                    'momentum is the EMA weight of the online encoder '
                    '(mmengine convention, 0.001 = MoCo m 0.999) and must be '
                    f'in (0, 1), got {momentum}')
            self.encoder_k = ExponentialMovingAverage(self.online_encoder,
                                                      momentum)
        else:
            self.encoder_k = None

        if queue is not None:
            if isinstance(queue, BaseMemory):
                self.queue = queue
            else:
                if not isinstance(queue, dict) or (
                        queue.get('type', 'LabelledQueue') == 'LabelledQueue'
                        and ('length' not in queue or 'dim' not in queue)):
                    raise ValueError('queue must be a dict with at least '
                                     f'`length` and `dim`, got {queue!r}')
                queue = dict(queue)
                queue.setdefault('type', 'LabelledQueue')
                self.queue = MODELS.build(queue)
                if not isinstance(self.queue, BaseMemory):
                    raise TypeError(
                        'queue must build a memory (a BaseMemory of '
                        'ltcls.models.memories), got '
                        f'{type(self.queue).__name__}')
        else:
            self.queue = None

    # ------------------------------------------------------------------
    # structure
    # ------------------------------------------------------------------
    @property
    def with_projector(self) -> bool:
        return self.projector is not None

    @property
    def with_momentum_encoder(self) -> bool:
        return self.encoder_k is not None

    @property
    def with_queue(self) -> bool:
        return self.queue is not None

    @property
    def online_encoder(self) -> nn.Sequential:
        """``backbone -> neck -> projector`` as one module (shares weights);
        the momentum encoder is an EMA copy of it."""
        parts = [self.backbone]
        if self.with_neck:
            parts.append(self.neck)
        if self.with_projector:
            parts.append(self.projector)
        return nn.Sequential(*parts)

    def init_weights(self):
        """Initialise the online network, then copy it into the momentum
        encoder so that both start equal (as MoCo's builder does)."""
        super().init_weights()
        if self.with_momentum_encoder:
            self._sync_momentum_encoder()

    @torch.no_grad()
    def _sync_momentum_encoder(self) -> None:
        src = self.online_encoder.state_dict()
        self.encoder_k.module.load_state_dict(src, strict=True)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        # checkpoints of the old loss attribute names (contrastive_loss.*,
        # sbcl_loss.*, warmup_loss.*) resume into loss_module.* /
        # warmup_loss_module.*
        for old, new in LEGACY_LOSS_PREFIXES.items():
            old_keys = [k for k in state_dict if k.startswith(prefix + old)]
            for key in old_keys:
                new_key = prefix + new + key[len(prefix + old):]
                if new_key not in state_dict:
                    state_dict[new_key] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    # ------------------------------------------------------------------
    # helpers for subclasses
    # ------------------------------------------------------------------
    def split_views(self,
                    inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                    num_views: Optional[int] = None) -> List[torch.Tensor]:
        """Check a multi-view batch and return its views.

        Args:
            inputs (list[Tensor]): V tensors (N, C, H, W).
            num_views (int, optional): Views required; defaults to
                ``self.num_views``. More views than required are allowed.

        Returns:
            list[Tensor]: the views.
        """
        num_views = self.num_views if num_views is None else num_views
        name = type(self).__name__
        if isinstance(inputs, torch.Tensor):
            raise TypeError(
                f'{name}.loss expects a list of {num_views} views (use a '
                '`MultiView` transform in the training pipeline), got a '
                'single tensor')
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f'{name}.loss expects a list of views, got '
                            f'{type(inputs).__name__}')
        if len(inputs) < num_views:
            raise ValueError(f'{type(self).__name__} needs {num_views} views '
                             f'per image, got {len(inputs)}')
        return list(inputs)

    @staticmethod
    def get_gt_labels(data_samples: Sequence[DataSample]) -> torch.Tensor:
        """(N,) long tensor of the single-label ground truths."""
        if data_samples is None or len(data_samples) == 0:
            raise ValueError('contrastive training needs data_samples with '
                             'gt_label')
        labels = []
        for i, sample in enumerate(data_samples):
            if 'gt_label' not in sample:
                raise ValueError(f'data sample {i} has no gt_label')
            label = sample.gt_label.reshape(-1)
            if label.numel() != 1:
                raise ValueError(f'data sample {i} has {label.numel()} '
                                 'labels; contrastive losses need exactly 1')
            labels.append(label)
        return torch.cat(labels).long()

    def project(
            self, feats: Union[Tuple[torch.Tensor],
                               torch.Tensor]) -> torch.Tensor:
        """L2-normalised embedding of neck features.

        Args:
            feats (tuple[Tensor] | Tensor): The neck output (N, D).

        Returns:
            Tensor: (N, d), unit rows.
        """
        z = self.projector(feats) if self.with_projector else feats
        if isinstance(z, (tuple, list)):
            z = z[-1]
        return F.normalize(z.flatten(1), dim=1)

    def embed(
            self,
            inputs: torch.Tensor) -> Tuple[Tuple[torch.Tensor], torch.Tensor]:
        """Online encoder forward.

        Returns:
            tuple: neck features (as returned by ``extract_feat``) and the
            normalised embedding (N, d).
        """
        feats = self.extract_feat(inputs)
        return feats, self.project(feats)

    @torch.no_grad()
    def momentum_keys(self,
                      inputs: torch.Tensor,
                      update: bool = True) -> torch.Tensor:
        """Keys of the momentum encoder (no gradient).

        Args:
            inputs (Tensor): (N, C, H, W) key view. With shuffle-BN on
                several ranks every rank must have the same N.
            update (bool): Update the EMA from the online encoder first
                (MoCo order). The queue warm-up passes False.

        Returns:
            Tensor: (N, d) L2-normalised keys.
        """
        if not self.with_momentum_encoder:
            raise RuntimeError(f'{type(self).__name__} was built without a '
                               'momentum encoder (momentum=None)')
        if update:
            self.encoder_k.update_parameters(self.online_encoder)
        _, world_size = world_info()
        shuffle = self.shuffle_bn and world_size > 1
        if shuffle:
            inputs, idx_unshuffle = batch_shuffle_ddp(inputs)
        k = self.encoder_k(inputs)
        if isinstance(k, (tuple, list)):
            k = k[-1]
        k = F.normalize(k.flatten(1), dim=1)
        if shuffle:
            k = batch_unshuffle_ddp(k, idx_unshuffle)
        return k

    @torch.no_grad()
    def fill_queue(self, inputs, data_samples: Sequence[DataSample]) -> None:
        """Enqueue keys of one batch without training (queue warm-up).

        Uses the last view (the key view) through the momentum encoder
        without updating it, or the online encoder if there is none.
        Subclasses whose queue stores more than the class label override
        this.
        """
        if not self.with_queue:
            raise RuntimeError(f'{type(self).__name__} has no queue to fill')
        view = inputs[-1] if isinstance(inputs, (list, tuple)) else inputs
        labels = self.get_gt_labels(data_samples).to(view.device)
        if self.with_momentum_encoder:
            keys = self.momentum_keys(view, update=False)
        else:
            keys = self.embed(view)[1]
        self.queue.enqueue(keys, labels)

    # ------------------------------------------------------------------
    # training / inference
    # ------------------------------------------------------------------
    def loss(self, inputs, data_samples: List[DataSample]) -> dict:
        raise NotImplementedError(
            f'{type(self).__name__} is a base class; subclasses implement '
            'loss()')

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Exactly ``ImageClassifier.predict`` (backbone -> neck -> head);
        the projector, momentum encoder and queue are not used."""
        if not self.with_head:
            raise RuntimeError(
                f'{type(self).__name__} has no classification head, so it '
                'cannot predict; train a linear classifier on the frozen '
                'backbone (stage 2) and evaluate that model instead')
        if isinstance(inputs, (list, tuple)):
            raise TypeError('predict expects a single (N, C, H, W) tensor, '
                            'got a list of views; use a single-view test '
                            'pipeline')
        return super().predict(inputs, data_samples, **kwargs)

    @staticmethod
    def classifier_state_dict(
        state_dict: Dict[str,
                         torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
        """Drop the training-only keys (:mod:`ltcls.utils.training_state`:
        projector, momentum encoder, queue, losses, SBCL's subclass state)
        so the rest loads strictly into a plain ``ImageClassifier``."""
        return strip_training_state(state_dict)
