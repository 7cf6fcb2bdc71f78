# Copyright (c) ltcls contributors. All rights reserved.
"""SBCL: subclass-balancing contrastive learning (Hou et al., ICCV 2023),
stage 1 (representation).

Two algorithms share the subclass state (spec_sbcl §10.4):

* :class:`SBCL`, in-batch two-view SupCon style (CIFAR-100-LT recipe):
  warm-up with ``SupConLoss`` until the first clustering, then
  :class:`~ltcls.models.losses.SBCLLoss`.
* :class:`MoCoSBCL`, MoCo v2 with a labelled queue carrying class *and*
  subclass ids (ImageNet-LT / iNaturalist recipe): warm-up with
  ``KCLLoss`` (k = 6), then :class:`~ltcls.models.losses.SBCLQueueLoss`.

Both take ``loss=dict(...)`` (the SBCL loss, ``self.loss_module``; the old
name ``sbcl_loss`` is refused) and ``warmup_loss=dict(...)``
(``self.warmup_loss_module``). Loss protocol (``LOSS_ATTRS``): the SBCL
loss defines ``tau1`` (and ``default_tau2``, the initial class temperature
of :class:`MoCoSBCL`; None: ``tau1``).

Subclass state (:class:`SubclassStateMixin`), all buffers, so it is saved in
checkpoints, restored on resume, identical on every rank (the
``SubclassClusteringHook`` clusters on rank 0 and broadcasts) and never
depends on data-loader workers (spec_sbcl §9.17):

* ``subclass_labels`` (N_train,) long: global subclass id of every training
  sample, indexed by the dataset index ``sample_idx`` that mmengine puts in
  every sample's metainfo (-1 until the first clustering);
* ``class_tau2`` (C,) float: class-level temperature of every class;
* ``cluster_ready`` () bool: False during the warm-up.

The hook sizes ``subclass_labels`` to the train set in ``before_run``
(before a checkpoint is loaded); loading a checkpoint whose buffer has
another length resizes it as well.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from ltcls.models.utils.loss_protocol import build_loss, reject_renamed_args
from ltcls.registry import MODELS
from .contrastive_classifier import ContrastiveClassifier

__all__ = ['SubclassStateMixin', 'SBCL', 'MoCoSBCL']

FEATURE_SOURCES = ('online', 'momentum')


class SubclassStateMixin:
    """Subclass ids, class temperatures and the warm-up switch of SBCL.

    Call :meth:`_init_subclass_state` in ``__init__``.
    """

    def _init_subclass_state(self, num_classes: int, num_train_samples: int,
                             init_tau2: float) -> None:
        if int(num_classes) < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if int(num_train_samples) < 0:
            raise ValueError('num_train_samples must be >= 0, got '
                             f'{num_train_samples}')
        self.num_classes = int(num_classes)
        self.register_buffer(
            'subclass_labels',
            torch.full((int(num_train_samples), ), -1, dtype=torch.long))
        self.register_buffer(
            'class_tau2', torch.full((self.num_classes, ), float(init_tau2)))
        self.register_buffer('cluster_ready', torch.zeros((),
                                                          dtype=torch.bool))

    @property
    def is_cluster_ready(self) -> bool:
        return bool(self.cluster_ready)

    def init_subclass_buffer(self, num_train_samples: int) -> None:
        """Resize ``subclass_labels`` to the train set (all -1) unless it
        already has that length."""
        n = int(num_train_samples)
        if self.subclass_labels.numel() != n:
            self.subclass_labels = torch.full(
                (n, ),
                -1,
                dtype=torch.long,
                device=self.subclass_labels.device)
            self.cluster_ready.fill_(False)

    @torch.no_grad()
    def set_subclasses(self, subclass_labels: torch.Tensor,
                       class_tau2: torch.Tensor) -> None:
        """Install a clustering result (called by the clustering hook).

        Args:
            subclass_labels (Tensor): (N_train,) long, >= 0, indexed by
                ``sample_idx``.
            class_tau2 (Tensor): (C,) positive temperatures.
        """
        subclass_labels = subclass_labels.reshape(-1).long()
        if subclass_labels.numel() != self.subclass_labels.numel():
            raise ValueError(
                f'got {subclass_labels.numel()} subclass ids but the model '
                f'holds {self.subclass_labels.numel()} training samples '
                '(num_train_samples)')
        if subclass_labels.numel() and int(subclass_labels.min()) < 0:
            raise ValueError('every training sample needs a subclass id >= 0')
        if class_tau2.numel() != self.num_classes:
            raise ValueError(f'class_tau2 has {class_tau2.numel()} entries, '
                             f'expected num_classes={self.num_classes}')
        if not bool((class_tau2 > 0).all()):
            raise ValueError('class_tau2 must be > 0')
        self.subclass_labels.copy_(subclass_labels)
        self.class_tau2.copy_(class_tau2.reshape(-1))
        self.cluster_ready.fill_(True)

    def lookup_subclasses(self,
                          data_samples: Sequence[DataSample],
                          device=None) -> torch.Tensor:
        """(N,) subclass ids of a batch from the samples' ``sample_idx``."""
        idx = []
        for i, sample in enumerate(data_samples):
            if 'sample_idx' not in sample:
                raise ValueError(
                    f'data sample {i} has no sample_idx; SBCL finds a '
                    'sample\'s subclass by its dataset index, keep '
                    '`sample_idx` in PackInputs meta_keys')
            idx.append(int(sample.sample_idx))
        idx = torch.tensor(
            idx, dtype=torch.long, device=self.subclass_labels.device)
        n = self.subclass_labels.numel()
        if idx.numel() and (int(idx.max()) >= n or int(idx.min()) < 0):
            raise ValueError(
                f'sample_idx {int(idx.max())} is out of range for the '
                f'{n} subclass ids held by the model; is the training set '
                'the one the subclasses were computed on?')
        sub = self.subclass_labels[idx]
        if sub.numel() and int(sub.min()) < 0:
            raise RuntimeError(
                'a training sample has no subclass (-1) although clustering '
                'is done; the training set changed since the clustering')
        return sub if device is None else sub.to(device)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        # a checkpoint from a run on a train set of another size (or a
        # model built with num_train_samples=0): take its length
        key = prefix + 'subclass_labels'
        if key in state_dict and state_dict[key].shape != \
                self.subclass_labels.shape:
            self.subclass_labels = torch.full_like(state_dict[key], -1).to(
                self.subclass_labels.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @torch.no_grad()
    def extract_cluster_feat(self,
                             inputs: torch.Tensor,
                             source: Optional[str] = None) -> torch.Tensor:
        """(N, d) L2-normalised embeddings used for clustering.

        Args:
            inputs (Tensor): (N, C, H, W) one view (or a list of views, the
                first one is used: the released code clusters view 1 of the
                training augmentation).
            source (str, optional): ``'online'`` (projector output of the
                online network) or ``'momentum'`` (the key encoder); defaults
                to ``self.cluster_feat_source``.
        """
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        source = source or self.cluster_feat_source
        if source not in FEATURE_SOURCES:
            raise ValueError(f'source must be one of {FEATURE_SOURCES}, got '
                             f'{source!r}')
        if source == 'momentum':
            if not self.with_momentum_encoder:
                raise RuntimeError(f'{type(self).__name__} has no momentum '
                                   'encoder; use source="online"')
            # no shuffle-BN here: eval mode, and shards differ in size
            z = self.encoder_k(inputs)
            if isinstance(z, (tuple, list)):
                z = z[-1]
            return F.normalize(z.flatten(1), dim=1)
        return self.embed(inputs)[1]


@MODELS.register_module()
class SBCL(SubclassStateMixin, ContrastiveClassifier):
    """In-batch SBCL (CIFAR recipe, spec_sbcl §2.6a, §5.1).

    All ``num_views`` views go through the online network in one forward
    pass; the (N, V, d) embeddings feed ``warmup_loss`` (SupCon over class
    labels) until the clustering hook has set the subclasses, then
    ``loss`` with the batch's subclass ids and ``class_tau2``.

    Args:
        backbone (dict): e.g. ``ResNet32CIFAR``.
        projector (dict): e.g. ``ProjectionMLP(64, 128, hid_channels=64)``.
        num_classes (int): C (size of ``class_tau2``).
        num_train_samples (int): Size of ``subclass_labels``; 0 lets the
            hook size it. Defaults to 0.
        neck (dict): Defaults to ``GlobalAveragePooling``.
        head (dict, optional): Optional classification head trained jointly
            on view 0 (not in the paper's stage 1).
        loss (dict): Defaults to ``SBCLLoss(tau1=0.1,
            base_temperature=0.07, beta=0.25)``; its ``tau1`` is the initial
            class temperature. Called as ``loss(z (N, V, d), labels,
            subclass_ids, class_tau2)``.
        warmup_loss (dict): Defaults to ``SupConLoss(temperature=0.1,
            base_temperature=0.1)``, called as ``warmup_loss(z, labels)``.
        num_views (int): Defaults to 2.
        cluster_feat_source (str): Defaults to ``'online'``.
    """

    #: Attributes ``loss`` must define; ``warmup_loss`` needs none.
    LOSS_ATTRS = ('tau1', )
    WARMUP_LOSS_ATTRS = ()

    def __init__(self,
                 backbone: dict,
                 projector: dict,
                 num_classes: int,
                 num_train_samples: int = 0,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 head: Optional[dict] = None,
                 loss: dict = dict(
                     type='SBCLLoss',
                     tau1=0.1,
                     base_temperature=0.07,
                     beta=0.25),
                 warmup_loss: dict = dict(
                     type='SupConLoss', temperature=0.1, base_temperature=0.1),
                 num_views: int = 2,
                 cluster_feat_source: str = 'online',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        reject_renamed_args('SBCL', kwargs,
                            {'sbcl_loss': "loss=dict(type='SBCLLoss', ...)"})
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector,
            momentum=None,
            queue=None,
            num_views=num_views,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if cluster_feat_source != 'online':
            raise ValueError("SBCL has no momentum encoder: "
                             "cluster_feat_source must be 'online', got "
                             f'{cluster_feat_source!r}')
        self.cluster_feat_source = cluster_feat_source
        self.loss_module = build_loss('SBCL', loss, 'loss', self.LOSS_ATTRS)
        self.warmup_loss_module = build_loss('SBCL', warmup_loss,
                                             'warmup_loss',
                                             self.WARMUP_LOSS_ATTRS)
        self._init_subclass_state(num_classes, num_train_samples,
                                  self.loss_module.tau1)

    @property
    def tau1(self) -> float:
        return float(self.loss_module.tau1)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Args: inputs (list[Tensor]): V views (N, C, H, W).

        Returns:
            dict: ``loss_sbcl`` (or ``loss_warmup`` before the first
            clustering), ``sbcl_ready`` (logged), plus the head's losses.
        """
        views = self.split_views(inputs)[:self.num_views]
        n, v = views[0].shape[0], len(views)
        labels = self.get_gt_labels(data_samples).to(views[0].device)
        feats, z = self.embed(torch.cat(views, dim=0))  # (V * N, d)
        z = z.view(v, n, -1).transpose(0, 1)  # (N, V, d)
        if self.is_cluster_ready:
            sub = self.lookup_subclasses(data_samples, labels.device)
            losses = dict(
                loss_sbcl=self.loss_module(z, labels, sub, self.class_tau2))
        else:
            losses = dict(loss_warmup=self.warmup_loss_module(z, labels))
        losses['sbcl_ready'] = self.cluster_ready.float().detach()
        if self.with_head:
            first = tuple(f[:n] for f in feats)
            losses.update(self.head.loss(first, data_samples))
        return losses


@MODELS.register_module()
class MoCoSBCL(SubclassStateMixin, ContrastiveClassifier):
    """SBCL with a MoCo v2 key encoder and a queue of (key, class,
    subclass) (ImageNet-LT recipe, spec_sbcl §2.6b, §5.1).

    The query view goes through the online network, the key view through
    the momentum encoder (EMA, shuffle-BN). Before the first clustering the
    loss is ``warmup_loss`` (KCL, k = 6, tau = 0.07) over [own key, queue];
    afterwards ``loss`` (``SBCLQueueLoss``). Keys are enqueued with
    their class and current subclass id (subclass -1 during the warm-up;
    the queue marks empty slots by class -1 only).

    Args:
        backbone (dict): ResNet-50.
        projector (dict): MoCo v2 MLP ``ProjectionMLP(2048, 128,
            hid_channels=2048)``.
        num_classes (int): C.
        num_train_samples (int): Defaults to 0 (sized by the hook).
        queue_len (int): Defaults to 65536.
        feat_dim (int): Defaults to 128.
        momentum (float): EMA weight (mmengine convention; 0.001 = MoCo m
            0.999). Defaults to 0.001.
        loss (dict): Defaults to ``SBCLQueueLoss(tau1=0.07,
            default_tau2=0.12, beta=0.2)``; its ``default_tau2`` (or, if
            None, ``tau1``) is the initial class temperature. Called as
            ``loss(q, k, labels, subclass_ids, queue_keys, queue_labels,
            queue_subclass_ids, class_tau2)``.
        warmup_loss (dict): Defaults to ``KCLLoss(pos_k=6,
            temperature=0.07)``, called as ``warmup_loss(q, k, labels,
            queue_keys, queue_labels, step=)``.
        cluster_feat_source (str): Defaults to ``'momentum'`` (code).
    """

    #: Attributes ``loss`` must define; ``warmup_loss`` needs none.
    LOSS_ATTRS = ('tau1', 'default_tau2')
    WARMUP_LOSS_ATTRS = ()

    def __init__(self,
                 backbone: dict,
                 projector: dict,
                 num_classes: int,
                 num_train_samples: int = 0,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 head: Optional[dict] = None,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.001,
                 loss: dict = dict(
                     type='SBCLQueueLoss',
                     tau1=0.07,
                     default_tau2=0.12,
                     beta=0.2),
                 warmup_loss: dict = dict(
                     type='KCLLoss', pos_k=6, temperature=0.07),
                 shuffle_bn: bool = True,
                 cluster_feat_source: str = 'momentum',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        reject_renamed_args(
            'MoCoSBCL', kwargs,
            {'sbcl_loss': "loss=dict(type='SBCLQueueLoss', ...)"})
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            projector=projector,
            momentum=momentum,
            shuffle_bn=shuffle_bn,
            queue=dict(length=queue_len, dim=feat_dim, num_label_fields=2),
            num_views=2,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if cluster_feat_source not in FEATURE_SOURCES:
            raise ValueError(f'cluster_feat_source must be one of '
                             f'{FEATURE_SOURCES}, got {cluster_feat_source!r}')
        self.cluster_feat_source = cluster_feat_source
        self.loss_module = build_loss('MoCoSBCL', loss, 'loss',
                                      self.LOSS_ATTRS)
        self.warmup_loss_module = build_loss('MoCoSBCL', warmup_loss,
                                             'warmup_loss',
                                             self.WARMUP_LOSS_ATTRS)
        self._init_subclass_state(
            num_classes, num_train_samples, self.loss_module.default_tau2
            or self.loss_module.tau1)

    @property
    def tau1(self) -> float:
        return float(self.loss_module.tau1)

    def queue_state(self):
        """(keys (K, d), class ids (K,), subclass ids (K,)); -1 marks empty
        slots (class) and keys enqueued before the first clustering
        (subclass). A snapshot: enqueue writes the buffers in place."""
        memory = self.queue.snapshot()
        return memory.keys, memory.fields[0], memory.fields[1]

    def _enqueue(self, keys: torch.Tensor, labels: torch.Tensor,
                 sub: Optional[torch.Tensor]) -> None:
        if sub is None:
            sub = torch.full_like(labels, -1)
        self.queue.enqueue(keys, labels, sub)

    @torch.no_grad()
    def fill_queue(self, inputs, data_samples: Sequence[DataSample]) -> None:
        """Queue warm-up (``QueueWarmupHook``): keys of the key view by the
        momentum encoder (no update), with class and subclass ids."""
        view = inputs[-1] if isinstance(inputs, (list, tuple)) else inputs
        labels = self.get_gt_labels(data_samples).to(view.device)
        sub = self.lookup_subclasses(data_samples, view.device) \
            if self.is_cluster_ready else None
        self._enqueue(self.momentum_keys(view, update=False), labels, sub)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Args: inputs (list[Tensor]): [query view, key view].

        Returns:
            dict: ``loss_sbcl`` (or ``loss_warmup``), ``sbcl_ready``, plus
            the head's losses.
        """
        im_q, im_k = self.split_views(inputs)[:2]
        labels = self.get_gt_labels(data_samples).to(im_q.device)
        feats, q = self.embed(im_q)
        k = self.momentum_keys(im_k, update=True)
        queue_keys, queue_cls, queue_sub = self.queue_state()
        sub = None
        if self.is_cluster_ready:
            sub = self.lookup_subclasses(data_samples, labels.device)
            loss = self.loss_module(q, k, labels, sub, queue_keys, queue_cls,
                                    queue_sub, self.class_tau2)
            losses = dict(loss_sbcl=loss)
        else:
            step = int(self.encoder_k.steps)
            losses = dict(
                loss_warmup=self.warmup_loss_module(
                    q, k, labels, queue_keys, queue_cls, step=step))
        self._enqueue(k, labels, sub)
        losses['sbcl_ready'] = self.cluster_ready.float().detach()
        if self.with_head:
            losses.update(self.head.loss(feats, data_samples))
        return losses
