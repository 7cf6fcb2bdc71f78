# Copyright (c) ltcls contributors. All rights reserved.
"""Subclass-balancing contrastive loss (SBCL, Hou et al., ICCV 2023, Eq. 4).

For an anchor view ``z_i`` of class ``y_i`` and subclass ``s_i`` (global
subclass ids, so equal ids imply equal classes)::

    L = w1 * mean_i(-T1_i) + beta * mean_i(-T2_i)

* **T1** (subclass level, temperature ``tau1``): SupCon over subclass ids.
  Positives: the other views with the anchor's subclass (its own second view
  included). Softmax over every other view.
* **T2** (class level, temperature ``tau2(y_i)`` of the anchor's class):
  positives are same-class views of *other* subclasses; the softmax runs
  over the views outside the anchor's subclass, so same-subclass views are
  in neither the numerator nor the denominator.
* ``partner_in_class_term`` (spec_sbcl §9.2; default True = released code):
  the anchor's other views are also T2 positives and enter its denominator.
  With False (paper, literally) an anchor whose class has no other
  subclass in the batch has an empty T2: ``empty_class_term='skip'`` leaves
  it out of the T2 mean, ``'zero'`` counts it as 0.
* ``w1 = tau1 / base_temperature`` (CIFAR code: 0.1 / 0.07), 1 if
  ``base_temperature`` is None (ImageNet code).

Two variants (spec_sbcl §2.6):

* :class:`SBCLLoss`, in-batch (CIFAR): every view of the global batch (all
  ranks, exact gradients) is an anchor and a contrast sample; anchors
  without positives are left out (``reduce_anchor_loss``), so a W-process
  run equals the 1-process run on the same global batch.
* :class:`SBCLQueueLoss`, MoCo queue (ImageNet-LT): query ``q_i`` against
  its key ``k_i`` and a queue of keys carrying class and subclass ids (-1 =
  empty slot, masked out). Queue entries keep the subclass id they had when
  enqueued (stale after a re-clustering, as in the released code); entries
  enqueued before the first clustering have subclass -1 and count as
  "another subclass" of their class.

The numerics are :func:`~ltcls.models.losses.multi_positive_nce`.
"""
from typing import Optional, Tuple

import torch
from torch import nn

from ltcls.registry import MODELS
from .autocast import autocast_off
from .contrast_blocks import (batch_block, concat_blocks, gather_bank,
                              match_labels)
from .multi_positive_nce import (multi_positive_nce, own_plus_block_nce,
                                 reduce_anchor_loss)
from .utils import (check_choice, check_global_subclass_ids, check_int_labels,
                    check_number, compute_dtype_of)

__all__ = [
    'sbcl_loss_per_anchor', 'sbcl_loss', 'sbcl_queue_loss_per_anchor',
    'sbcl_queue_loss', 'SBCLLoss', 'SBCLQueueLoss'
]

EMPTY_CLASS_TERM = ('skip', 'zero')


def _anchor_tau2(labels: torch.Tensor, class_tau2: Optional[torch.Tensor],
                 default_tau2: float, dtype) -> torch.Tensor:
    """(N,) class-level temperature of every anchor."""
    if class_tau2 is None:
        return torch.full(
            labels.shape, default_tau2, dtype=dtype, device=labels.device)
    class_tau2 = class_tau2.reshape(-1)
    if labels.numel() and int(labels.max()) >= class_tau2.numel():
        raise ValueError(f'class_tau2 has {class_tau2.numel()} entries but '
                         f'a label is {int(labels.max())}')
    if not bool(((class_tau2 > 0) & torch.isfinite(class_tau2)).all()):
        raise ValueError('class_tau2 must be > 0 and finite everywhere, got '
                         f'min {float(class_tau2.min())}, max '
                         f'{float(class_tau2.max())}')
    return class_tau2.to(device=labels.device, dtype=dtype)[labels]


def _check_labels(n: int, labels: torch.Tensor, sub_labels: torch.Tensor):
    for name, t in (('labels', labels), ('sub_labels', sub_labels)):
        if t.dim() != 1 or t.shape[0] != n:
            raise ValueError(f'{name} must be ({n},), got {tuple(t.shape)}')
        check_int_labels(None, name, t)
        if t.numel() and int(t.min()) < 0:
            raise ValueError(
                f'{name} must be >= 0, got {int(t.min())} (subclass ids are '
                '-1 until the first clustering: use the warm-up loss then)')
    check_global_subclass_ids(labels, sub_labels)


@autocast_off
def sbcl_loss_per_anchor(
    features: torch.Tensor,
    labels: torch.Tensor,
    sub_labels: torch.Tensor,
    instance_ids: Optional[torch.Tensor] = None,
    class_tau2: Optional[torch.Tensor] = None,
    tau1: float = 0.1,
    default_tau2: Optional[float] = None,
    partner_in_class_term: bool = True,
    gather: bool = True,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-anchor T1 and T2 of the in-batch SBCL loss.

    Args:
        features (Tensor): (N, d) L2-normalised embeddings of the local views.
        labels (Tensor): (N,) class labels.
        sub_labels (Tensor): (N,) global subclass ids (>= 0).
        instance_ids (Tensor, optional): (N,) ids of the source image; views
            with the same id (on the same rank) are partners. Defaults to
            every view its own instance.
        class_tau2 (Tensor, optional): (C,) class-level temperatures.
        tau1 (float): Subclass-level temperature.
        default_tau2 (float, optional): tau2 when ``class_tau2`` is None;
            defaults to ``tau1``.
        partner_in_class_term (bool): See the module docstring.
        gather (bool): Contrast against the views of all ranks.

    Returns:
        tuple: ``t1`` (N,), ``has1`` (N,) bool, ``t2`` (N,), ``has2`` (N,)
        bool; the losses are ``-T1_i`` and ``-T2_i`` (0 where ``has`` is
        False), float32 (float64 for float64 input).
    """
    if features.dim() != 2:
        raise ValueError(f'features must be (N, d), got '
                         f'{tuple(features.shape)}')
    n = features.shape[0]
    _check_labels(n, labels, sub_labels)
    tau1 = check_number(None, 'tau1', tau1)
    default_tau2 = tau1 if default_tau2 is None else check_number(
        None, 'default_tau2', default_tau2)
    feats = features.to(compute_dtype_of(features))
    if instance_ids is None:
        instance_ids = torch.arange(n, device=feats.device)
    elif instance_ids.shape != labels.shape:
        raise ValueError(f'instance_ids must be ({n},), got '
                         f'{tuple(instance_ids.shape)}')
    # instance ids are made unique across ranks by the row offset
    bank = gather_bank(
        feats, (labels, sub_labels, instance_ids.long()),
        gather,
        offset_fields=(2, ))
    blocks = [batch_block(feats, bank)]
    tau2 = _anchor_tau2(labels, class_tau2, default_tau2, feats.dtype)
    return _sbcl_terms(blocks, bank.anchor_labels, tau1, tau2,
                       partner_in_class_term)


def _sbcl_terms(blocks, anchor_fields, tau1, tau2, partner_in_class_term):
    """T1 and T2 over the column blocks (in-batch or own key + queue) whose
    label fields are (class, subclass, instance); see the module docstring.
    """
    sim, valid = concat_blocks(blocks)
    labels, sub_labels, instance_ids = anchor_fields
    same_y = match_labels(blocks, labels, 0)
    same_s = match_labels(blocks, sub_labels, 1) & same_y
    # T1: SupCon over subclass ids
    t1, has1 = multi_positive_nce(sim / tau1, same_s, valid)
    # T2: same class, other subclass; own subclass out of the softmax
    den2 = valid & ~same_s
    pos2 = same_y & ~same_s
    if partner_in_class_term:
        partner = match_labels(blocks, instance_ids, 2)
        den2 = den2 | partner
        pos2 = pos2 | partner
    t2, has2 = multi_positive_nce(sim / tau2[:, None], pos2 & den2, den2)
    return t1, has1, t2, has2


def _combine(t1,
             has1,
             t2,
             has2,
             w1,
             beta,
             empty_class_term,
             gather,
             sample_weight=None):
    check_choice(None, 'empty_class_term', empty_class_term, EMPTY_CLASS_TERM)
    loss1 = reduce_anchor_loss(t1, has1, sample_weight, gather)
    count2 = has2 if empty_class_term == 'skip' else torch.ones_like(has2)
    loss2 = reduce_anchor_loss(t2, count2, sample_weight, gather)
    return w1 * loss1 + beta * loss2


def _flatten(features, labels, sub_labels):
    """(N, V, d) -> view-major (V*N, d) with labels, subclass and instance
    ids repeated; (N, d) -> one view per instance."""
    if features.dim() == 2:
        n = features.shape[0]
        return features, labels, sub_labels, torch.arange(
            n, device=features.device)
    if features.dim() != 3:
        raise ValueError('features must be (N, d) or (N, V, d), got '
                         f'{tuple(features.shape)}')
    n, v, d = features.shape
    for name, t in (('labels', labels), ('sub_labels', sub_labels)):
        if t.dim() != 1 or t.shape[0] != n:
            raise ValueError(f'{name} must be ({n},), got {tuple(t.shape)}')
    inst = torch.arange(n, device=features.device).repeat(v)
    return (features.transpose(0, 1).reshape(v * n, d), labels.repeat(v),
            sub_labels.repeat(v), inst)


def sbcl_loss(features: torch.Tensor,
              labels: torch.Tensor,
              sub_labels: torch.Tensor,
              class_tau2: Optional[torch.Tensor] = None,
              tau1: float = 0.1,
              base_temperature: Optional[float] = 0.07,
              beta: float = 0.25,
              default_tau2: Optional[float] = None,
              partner_in_class_term: bool = True,
              empty_class_term: str = 'skip',
              gather: bool = True,
              sample_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """In-batch SBCL loss (scalar); see the module docstring.

    Args:
        features (Tensor): (N, V, d) (V views per image) or (N, d)
            L2-normalised embeddings.
        labels (Tensor): (N,) class labels.
        sub_labels (Tensor): (N,) global subclass ids.
        class_tau2 (Tensor, optional): (C,) class-level temperatures.
        tau1 (float): Defaults to 0.1 (CIFAR code).
        base_temperature (float, optional): T1 weight ``tau1 /
            base_temperature``; None means 1. Defaults to 0.07.
        beta (float): Weight of T2. Defaults to 0.25 (CIFAR code).
        default_tau2, partner_in_class_term, gather: see
            :func:`sbcl_loss_per_anchor`.
        empty_class_term (str): ``'skip'`` or ``'zero'``.
        sample_weight (Tensor, optional): (N,) per-image anchor weights.

    Returns:
        Tensor: scalar.
    """
    beta = check_number(None, 'beta', beta, allow_zero=True)
    w1 = 1.0 if base_temperature is None else tau1 / check_number(
        None, 'base_temperature', base_temperature)
    v = 1 if features.dim() == 2 else features.shape[1]
    feats, y, s, inst = _flatten(features, labels, sub_labels)
    t1, has1, t2, has2 = sbcl_loss_per_anchor(feats, y, s, inst, class_tau2,
                                              tau1, default_tau2,
                                              partner_in_class_term, gather)
    if sample_weight is not None:
        if sample_weight.shape != labels.shape:
            raise ValueError(f'sample_weight must be {tuple(labels.shape)}, '
                             f'got {tuple(sample_weight.shape)}')
        sample_weight = sample_weight.repeat(v)
    return _combine(t1, has1, t2, has2, w1, beta, empty_class_term, gather,
                    sample_weight)


@autocast_off
def sbcl_queue_loss_per_anchor(
    query: torch.Tensor,
    key: torch.Tensor,
    labels: torch.Tensor,
    sub_labels: torch.Tensor,
    queue_keys: torch.Tensor,
    queue_labels: torch.Tensor,
    queue_sub_labels: torch.Tensor,
    class_tau2: Optional[torch.Tensor] = None,
    tau1: float = 0.07,
    default_tau2: Optional[float] = 0.12,
    partner_in_class_term: bool = True,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-anchor T1 and T2 of the MoCo-queue SBCL loss.

    Args:
        query (Tensor): (B, d) normalised online embeddings (anchors).
        key (Tensor): (B, d) normalised momentum keys of the same images
            (the partner view; no gradient).
        labels, sub_labels (Tensor): (B,) class and subclass ids (>= 0).
        queue_keys (Tensor): (K, d) keys (no gradient).
        queue_labels (Tensor): (K,) class ids, -1 = empty slot.
        queue_sub_labels (Tensor): (K,) subclass ids when enqueued (-1 if
            enqueued before the first clustering).
        class_tau2 (Tensor, optional): (C,) class-level temperatures.
        tau1 (float): Defaults to 0.07 (ImageNet code).
        default_tau2 (float, optional): tau2 without ``class_tau2``;
            defaults to 0.12 (ImageNet code), None means ``tau1``.
        partner_in_class_term (bool): ``k_i`` is a T2 positive and in the T2
            softmax (code). Defaults to True.

    Returns:
        tuple: ``t1``, ``has1``, ``t2``, ``has2`` as in
        :func:`sbcl_loss_per_anchor`.
    """
    if query.dim() != 2 or key.shape != query.shape:
        raise ValueError(f'query and key must both be (B, d), got '
                         f'{tuple(query.shape)} and {tuple(key.shape)}')
    b, d = query.shape
    _check_labels(b, labels, sub_labels)
    if queue_keys.dim() != 2 or queue_keys.shape[1] != d:
        raise ValueError(f'queue_keys must be (K, {d}), got '
                         f'{tuple(queue_keys.shape)}')
    k = queue_keys.shape[0]
    for name, t in (('queue_labels', queue_labels), ('queue_sub_labels',
                                                     queue_sub_labels)):
        if t.dim() != 1 or t.shape[0] != k:
            raise ValueError(f'{name} must be ({k},), got {tuple(t.shape)}')
    tau1 = check_number(None, 'tau1', tau1)
    default_tau2 = tau1 if default_tau2 is None else check_number(
        None, 'default_tau2', default_tau2)
    q = query.to(compute_dtype_of(query))
    # the key k_i is the anchor's partner view (instance field 2); queue
    # entries are nobody's partner. Own key + queue from row sums
    # (``own_plus_block_nce``): one (B, K) product, no (B, 1 + K)
    # concatenation. The own key has the anchor's class and subclass: a T1
    # positive; in T2 it is the partner (positive, in the softmax) or,
    # without ``partner_in_class_term``, in neither.
    keys = queue_keys.detach().to(device=q.device, dtype=q.dtype)
    qlab = queue_labels.to(q.device).view(1, -1)
    qsub = queue_sub_labels.to(q.device).view(1, -1)
    filled = qlab >= 0
    sim = q @ keys.t()
    own = (q * key.detach().to(q.dtype)).sum(dim=1)
    same_y = (labels.to(q.device).view(-1, 1) == qlab) & filled
    same_s = (sub_labels.to(q.device).view(-1, 1) == qsub) & same_y
    tau2 = _anchor_tau2(labels, class_tau2, default_tau2, q.dtype)
    t1, has1 = own_plus_block_nce(sim, same_s, filled, tau1, own)
    other_sub = ~same_s
    t2, has2 = own_plus_block_nce(sim, same_y & other_sub,
                                  filled & other_sub, tau2,
                                  own if partner_in_class_term else None)
    return t1, has1, t2, has2


def sbcl_queue_loss(query: torch.Tensor,
                    key: torch.Tensor,
                    labels: torch.Tensor,
                    sub_labels: torch.Tensor,
                    queue_keys: torch.Tensor,
                    queue_labels: torch.Tensor,
                    queue_sub_labels: torch.Tensor,
                    class_tau2: Optional[torch.Tensor] = None,
                    tau1: float = 0.07,
                    base_temperature: Optional[float] = None,
                    beta: float = 0.2,
                    default_tau2: Optional[float] = 0.12,
                    partner_in_class_term: bool = True,
                    empty_class_term: str = 'skip') -> torch.Tensor:
    """Queue SBCL loss (scalar): ``w1 * mean(-T1) + beta * mean(-T2)`` over
    the anchors of the global batch; see
    :func:`sbcl_queue_loss_per_anchor`."""
    beta = check_number(None, 'beta', beta, allow_zero=True)
    w1 = 1.0 if base_temperature is None else tau1 / check_number(
        None, 'base_temperature', base_temperature)
    t1, has1, t2, has2 = sbcl_queue_loss_per_anchor(
        query, key, labels, sub_labels, queue_keys, queue_labels,
        queue_sub_labels, class_tau2, tau1, default_tau2,
        partner_in_class_term)
    return _combine(t1, has1, t2, has2, w1, beta, empty_class_term, True)


@MODELS.register_module()
class SBCLLoss(nn.Module):
    """In-batch SBCL loss (CIFAR recipe of the released code).

    Args:
        tau1 (float): Subclass-level temperature. Defaults to 0.1.
        base_temperature (float, optional): T1 is scaled by ``tau1 /
            base_temperature`` (code: 0.1 / 0.07); None means 1. Defaults
            to 0.07.
        beta (float): Weight of the class-level term. Defaults to 0.25.
        default_tau2 (float, optional): Class-level temperature when no
            per-class ``class_tau2`` is passed; None means ``tau1``.
        partner_in_class_term (bool): Defaults to True (code).
        empty_class_term (str): ``'skip'`` or ``'zero'``. Defaults to
            ``'skip'``.
        gather (bool): Contrast against the global batch. Defaults to True.
        loss_weight (float): Defaults to 1.0.

    Shapes:
        features: (N, V, d) or (N, d), L2-normalised; labels, sub_labels:
        (N,); class_tau2: (C,).
    """

    def __init__(self,
                 tau1: float = 0.1,
                 base_temperature: Optional[float] = 0.07,
                 beta: float = 0.25,
                 default_tau2: Optional[float] = None,
                 partner_in_class_term: bool = True,
                 empty_class_term: str = 'skip',
                 gather: bool = True,
                 loss_weight: float = 1.0):
        super().__init__()
        self.tau1 = check_number('SBCLLoss', 'tau1', tau1)
        if base_temperature is not None:
            check_number('SBCLLoss', 'base_temperature', base_temperature)
        if default_tau2 is not None:
            check_number('SBCLLoss', 'default_tau2', default_tau2)
        check_number('SBCLLoss', 'beta', beta, allow_zero=True)
        check_choice('SBCLLoss', 'empty_class_term', empty_class_term,
                     EMPTY_CLASS_TERM)
        self.base_temperature = base_temperature
        self.beta = float(beta)
        self.default_tau2 = default_tau2
        self.partner_in_class_term = partner_in_class_term
        self.empty_class_term = empty_class_term
        self.gather = gather
        self.loss_weight = loss_weight

    def forward(self,
                features: torch.Tensor,
                labels: torch.Tensor,
                sub_labels: torch.Tensor,
                class_tau2: Optional[torch.Tensor] = None,
                sample_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.loss_weight * sbcl_loss(
            features, labels, sub_labels, class_tau2, self.tau1,
            self.base_temperature, self.beta, self.default_tau2,
            self.partner_in_class_term, self.empty_class_term, self.gather,
            sample_weight)

    def extra_repr(self) -> str:
        return (f'tau1={self.tau1}, base_temperature={self.base_temperature}'
                f', beta={self.beta}, default_tau2={self.default_tau2}, '
                f'partner_in_class_term={self.partner_in_class_term}, '
                f'empty_class_term={self.empty_class_term!r}')


@MODELS.register_module()
class SBCLQueueLoss(nn.Module):
    """SBCL loss with a MoCo queue of keys carrying class and subclass ids
    (ImageNet-LT recipe of the released code).

    Args:
        tau1 (float): Defaults to 0.07.
        default_tau2 (float, optional): Class-level temperature when no
            per-class ``class_tau2`` is passed (code: fixed 0.12). None
            means ``tau1``.
        beta (float): Defaults to 0.2.
        base_temperature (float, optional): Defaults to None (T1 weight 1).
        partner_in_class_term (bool): Defaults to True.
        empty_class_term (str): Defaults to ``'skip'``.
        loss_weight (float): Defaults to 1.0.

    Shapes:
        query, key: (B, d) normalised; labels, sub_labels: (B,);
        queue_keys: (K, d); queue_labels, queue_sub_labels: (K,), -1 =
        empty / not clustered; class_tau2: (C,).
    """

    def __init__(self,
                 tau1: float = 0.07,
                 default_tau2: Optional[float] = 0.12,
                 beta: float = 0.2,
                 base_temperature: Optional[float] = None,
                 partner_in_class_term: bool = True,
                 empty_class_term: str = 'skip',
                 loss_weight: float = 1.0):
        super().__init__()
        self.tau1 = check_number('SBCLQueueLoss', 'tau1', tau1)
        if default_tau2 is not None:
            check_number('SBCLQueueLoss', 'default_tau2', default_tau2)
        if base_temperature is not None:
            check_number('SBCLQueueLoss', 'base_temperature', base_temperature)
        check_number('SBCLQueueLoss', 'beta', beta, allow_zero=True)
        check_choice('SBCLQueueLoss', 'empty_class_term', empty_class_term,
                     EMPTY_CLASS_TERM)
        self.default_tau2 = default_tau2
        self.beta = float(beta)
        self.base_temperature = base_temperature
        self.partner_in_class_term = partner_in_class_term
        self.empty_class_term = empty_class_term
        self.loss_weight = loss_weight

    def forward(self,
                query: torch.Tensor,
                key: torch.Tensor,
                labels: torch.Tensor,
                sub_labels: torch.Tensor,
                queue_keys: torch.Tensor,
                queue_labels: torch.Tensor,
                queue_sub_labels: torch.Tensor,
                class_tau2: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.loss_weight * sbcl_queue_loss(
            query, key, labels, sub_labels, queue_keys, queue_labels,
            queue_sub_labels, class_tau2, self.tau1, self.base_temperature,
            self.beta, self.default_tau2, self.partner_in_class_term,
            self.empty_class_term)

    def extra_repr(self) -> str:
        return (f'tau1={self.tau1}, default_tau2={self.default_tau2}, '
                f'beta={self.beta}, '
                f'base_temperature={self.base_temperature}, '
                f'partner_in_class_term={self.partner_in_class_term}')
