# Copyright (c) ltcls contributors. All rights reserved.
"""Parametric contrastive loss (PaCo, Cui et al., ICCV 2021) and GPaCo's.

Code-level loss (spec_paco.md §2.5; official ``PaCoLoss``), for anchor i
with label y_i, class-center logits ``u_i`` (the linear classifier on the
pooled feature x_i, bias included) and sample logits ``v_ij`` against the
bank ``F = [in-batch embeddings; queue]``::

    u_ik = (c_k . x_i + b_k + log q(k)) / t_c        (log q: center rebalance)
    v_ij = z_i . F_j / t                              (j != i)
    Den  = sum_k exp(u_ik) + gamma * sum_{j != i} exp(v_ij)
    w_ik = beta * onehot_smooth(y_i)_k                (centers)
    w_ij = alpha * [label(F_j) == y_i]                (samples)
    L_i  = - [ sum_k w_ik (u_ik - log Den) + sum_j w_ij (v_ij - log Den) ]
           / (sum_k w_ik + sum_j w_ij)  * t / t_base

* ``q(k) = n_k / N`` from the training counts (``ClassCountsHook``); it is
  only used inside the loss (Eq. 8), never at inference. ``center_rebalance
  =False`` is PaCo-dagger / full ImageNet (no log prior).
* ``t_c = center_temperature`` defaults to 1 (official ``supt``; the paper
  suggests t, spec §8.1).
* Empty queue slots (label -1) leave both positives and the denominator.
  (The official code's random-label init is reproduced by the algorithm's
  ``queue_init='random'``, not here.)
* The bank's in-batch block is local by default (per-GPU, as the official
  code), optionally global (``gather_bank``) or grouped (``group_size``,
  one-process emulation of per-GPU banks); see
  :mod:`~ltcls.models.losses.contrast_blocks`.
* The official ``1e-9`` inside ``log(prior + 1e-9)`` and ``1e-12`` inside
  the log of the denominator are omitted (exact log-sum-exp instead).
* GPaCo (code only): both views are anchors and the in-batch block is
  ``[z_1; z_2]`` with gradients; center targets may be label-smoothed
  (``label_smoothing``: ``s / (n - 1)`` off the true class, ``1 - s`` on it).

``gamma`` scales the sample terms of the denominator only: ``+ log gamma``
on the log-sum-exp of the sample blocks.

The loss is computed from row sums (:func:`nce_from_sums`): the center
block's from ``u_y`` and ``sum_k u_k``, the queue block's from per-class key
sums (:func:`~ltcls.models.losses.contrast_blocks.memory_block_sums`: positives
by label equality, ``z_i . K_{y_i}``), so no (A, n + M) concatenation,
one-hot or positive-weight matrix is built.

Reduction: mean over the anchors of the whole global batch
(:func:`reduce_anchor_loss`, each anchor has its center as positive), so a
W-process DDP run equals the 1-process run whenever the bank is the same.
"""
import math
from typing import Optional, Tuple

import torch
from torch import nn

from ltcls.registry import MODELS
from .class_prior import ClassCountsMixin, CountsType
from .contrast_blocks import (compute_dtype_of, in_batch_block,
                              memory_block_sums)
from .multi_positive_nce import (masked_logsumexp, nce_from_sums,
                                 reduce_anchor_loss)
from .utils import check_number

__all__ = ['paco_loss_per_anchor', 'paco_loss', 'PaCoLoss']


def paco_loss_per_anchor(
    center_logits: torch.Tensor,
    anchors: torch.Tensor,
    labels: torch.Tensor,
    keys: Optional[torch.Tensor] = None,
    key_labels: Optional[torch.Tensor] = None,
    queue_keys: Optional[torch.Tensor] = None,
    queue_labels: Optional[torch.Tensor] = None,
    alpha: float = 0.05,
    center_weight: float = 1.0,
    denominator_weight: float = 1.0,
    temperature: float = 0.2,
    center_temperature: float = 1.0,
    log_prior: Optional[torch.Tensor] = None,
    label_smoothing: float = 0.0,
    gather_bank: bool = False,
    group_size: Optional[int] = None,
    num_samples: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor PaCo loss (see module docstring; ``t / t_base`` is applied
    by :func:`paco_loss`).

    Args:
        center_logits (Tensor): (A, n) classifier logits of the anchors
            (``c_k . x_i + b_k``), before any prior.
        anchors (Tensor): (A, d) L2-normalised anchor embeddings.
        labels (Tensor): (A,) long anchor labels.
        keys (Tensor, optional): (Kb, d) extra in-batch bank entries that
            are not anchors (PaCo: momentum keys of the local batch).
        key_labels (Tensor, optional): (Kb,) long.
        queue_keys (Tensor, optional): (L, d) queue keys (no gradient).
        queue_labels (Tensor, optional): (L,) long, -1 = empty slot.
        alpha (float): Weight of every sample positive. Defaults to 0.05.
        center_weight (float): beta, weight of the own center. Default 1.
        denominator_weight (float): gamma (> 0) on the sample terms of the
            denominator. Defaults to 1.
        temperature (float): t of the sample logits. Defaults to 0.2.
        center_temperature (float): t_c of the center logits. Defaults to 1.
        log_prior (Tensor, optional): (n,) ``log q(k)`` added to the center
            logits (Balanced-Softmax rebalance). None: no rebalance.
        label_smoothing (float): GPaCo's smoothing of the center targets.
        gather_bank (bool): Global in-batch bank. Defaults to False.
        group_size (int, optional): Per-GPU bank emulation (local bank only).
        num_samples (int, optional): Local samples N (rows are view-major).

    Returns:
        tuple(Tensor, Tensor): loss (A,) float32 (float64 for float64
        inputs) and has_pos (A,) bool.
    """
    if center_logits.dim() != 2 or center_logits.shape[0] != anchors.shape[0]:
        raise ValueError(f'center_logits must be ({anchors.shape[0]}, n), got '
                         f'{tuple(center_logits.shape)}')
    n_cls = center_logits.shape[1]
    if labels.dim() != 1 or labels.shape[0] != anchors.shape[0]:
        raise ValueError(f'labels must be ({anchors.shape[0]},), got '
                         f'{tuple(labels.shape)}')
    if labels.numel() and (int(labels.min()) < 0
                           or int(labels.max()) >= n_cls):
        raise ValueError(f'labels must be in [0, {n_cls}), got min '
                         f'{int(labels.min())} max {int(labels.max())}')
    if (queue_keys is None) != (queue_labels is None):
        raise ValueError('queue_keys and queue_labels must be given together')
    if not 0.0 <= float(label_smoothing) < 1.0:
        raise ValueError(f'label_smoothing must be in [0, 1), got '
                         f'{label_smoothing}')
    if not (float(alpha) >= 0 and float(center_weight) >= 0):
        raise ValueError(f'alpha and center_weight must be >= 0, got '
                         f'{alpha} and {center_weight}')
    dtype = compute_dtype_of(anchors)

    # centers: beta * (smoothed) one-hot positives, always valid. Their
    # row sums come from u_y and sum_k u_k (no (A, n) one-hot weights).
    u = center_logits.to(dtype)
    if log_prior is not None:
        if log_prior.shape != (n_cls, ):
            raise ValueError(f'log_prior must be ({n_cls},), got '
                             f'{tuple(log_prior.shape)}')
        u = u + log_prior.to(device=u.device, dtype=dtype)
    u = u / center_temperature
    u_y = u.gather(1, labels.view(-1, 1).to(u.device)).squeeze(1)
    s = float(label_smoothing)
    if s > 0:
        off = s / max(n_cls - 1, 1)
        ws_c = (1 - s) * u_y + off * (u.sum(1) - u_y)
        w_c = (1 - s) + off * (n_cls - 1)
    else:
        ws_c, w_c = u_y, 1.0
    w_sum = center_weight * w_c + torch.zeros_like(u_y)
    ws = center_weight * ws_c

    # samples: alpha * [same label] over the in-batch block and the queue;
    # gamma scales the sample terms of the denominator: + log gamma on
    # their logits in the log-sum-exp only (the numerator keeps v_ij)
    log_gamma = math.log(denominator_weight)
    v, pos, valid = in_batch_block(anchors, labels, temperature, keys,
                                   key_labels, gather_bank, group_size,
                                   num_samples)
    w_sum = w_sum + alpha * pos.sum(1).to(dtype)
    ws = ws + alpha * torch.where(pos, v, 0.0).sum(1)
    lses = [torch.logsumexp(u, dim=1), masked_logsumexp(v, valid) + log_gamma]
    if queue_keys is not None:
        lse_q, w_q, ws_q = memory_block_sums(
            anchors,
            labels,
            queue_keys,
            queue_labels,
            temperature,
            n_cls,
            shift=log_gamma)
        lses.append(lse_q)
        w_sum = w_sum + alpha * w_q
        ws = ws + alpha * ws_q
    lse = torch.logsumexp(torch.stack(lses, dim=1), dim=1)
    return nce_from_sums(lse, w_sum, ws)


def paco_loss(center_logits: torch.Tensor,
              anchors: torch.Tensor,
              labels: torch.Tensor,
              keys: Optional[torch.Tensor] = None,
              key_labels: Optional[torch.Tensor] = None,
              queue_keys: Optional[torch.Tensor] = None,
              queue_labels: Optional[torch.Tensor] = None,
              alpha: float = 0.05,
              center_weight: float = 1.0,
              denominator_weight: float = 1.0,
              temperature: float = 0.2,
              center_temperature: float = 1.0,
              base_temperature: Optional[float] = None,
              log_prior: Optional[torch.Tensor] = None,
              label_smoothing: float = 0.0,
              gather_bank: bool = False,
              group_size: Optional[int] = None,
              num_samples: Optional[int] = None) -> torch.Tensor:
    """PaCo loss averaged over the anchors of the global batch, times
    ``temperature / base_temperature`` (1 when ``base_temperature`` is
    None). Other arguments as :func:`paco_loss_per_anchor`.

    Returns:
        Tensor: scalar.
    """
    loss, has_pos = paco_loss_per_anchor(
        center_logits, anchors, labels, keys, key_labels, queue_keys,
        queue_labels, alpha, center_weight, denominator_weight, temperature,
        center_temperature, log_prior, label_smoothing, gather_bank,
        group_size, num_samples)
    out = reduce_anchor_loss(loss, has_pos)
    if base_temperature is not None:
        out = out * (temperature / base_temperature)
    return out


@MODELS.register_module()
class PaCoLoss(ClassCountsMixin, nn.Module):
    """Parametric contrastive loss (PaCo / GPaCo). See the module docstring.

    Args:
        alpha (float): Sample-positive weight. Defaults to 0.05.
        center_weight (float): beta, own-center weight. Defaults to 1.0.
        denominator_weight (float): gamma, weight of the sample terms in the
            denominator. Defaults to 1.0.
        temperature (float): t of the sample logits. Defaults to 0.2.
        center_temperature (float): t_c of the center logits. Defaults to
            1.0 (official code).
        base_temperature (float, optional): Loss times ``t / t_base``;
            None means 1 (official default ``t_base = t``).
        center_rebalance (bool): Add ``log q(k)`` to the center logits
            (Eq. 8; needs class counts from ``ClassCountsHook`` or
            ``class_counts``). False for full ImageNet / CIFAR-100 and the
            PaCo-dagger ablation. Defaults to True.
        label_smoothing (float): GPaCo's center-target smoothing. Default 0.
        gather_bank (bool): Global in-batch bank. Defaults to False (local
            per-GPU bank, official code).
        group_size (int, optional): Emulate per-GPU banks of this many
            samples on one process (see ``contrast_blocks``).
        class_counts (Sequence[int], optional): Training counts.
        num_classes (int, optional): Checked against the counts.
        loss_weight (float): Defaults to 1.0.

    Shapes (forward):
        center_logits (A, n); anchors (A, d); labels (A,); keys (Kb, d);
        key_labels (Kb,); queue_keys (L, d); queue_labels (L,) (-1 empty);
        output: scalar.
    """

    def __init__(self,
                 alpha: float = 0.05,
                 center_weight: float = 1.0,
                 denominator_weight: float = 1.0,
                 temperature: float = 0.2,
                 center_temperature: float = 1.0,
                 base_temperature: Optional[float] = None,
                 center_rebalance: bool = True,
                 label_smoothing: float = 0.0,
                 gather_bank: bool = False,
                 group_size: Optional[int] = None,
                 class_counts: Optional[CountsType] = None,
                 num_classes: Optional[int] = None,
                 loss_weight: float = 1.0):
        super().__init__()
        self.alpha = check_number('PaCoLoss', 'alpha', alpha, allow_zero=True)
        self.center_weight = check_number(
            'PaCoLoss', 'center_weight', center_weight, allow_zero=True)
        if self.center_weight == 0 and self.alpha == 0:
            raise ValueError('PaCoLoss: alpha and center_weight cannot both '
                             'be 0 (no positive at all)')
        self.denominator_weight = check_number('PaCoLoss',
                                               'denominator_weight',
                                               denominator_weight)
        self.temperature = check_number('PaCoLoss', 'temperature',
                                        temperature)
        self.center_temperature = check_number('PaCoLoss',
                                               'center_temperature',
                                               center_temperature)
        self.base_temperature = None if base_temperature is None else \
            check_number('PaCoLoss', 'base_temperature', base_temperature)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError('PaCoLoss: label_smoothing must be in [0, 1), '
                             f'got {label_smoothing}')
        self.label_smoothing = float(label_smoothing)
        self.center_rebalance = bool(center_rebalance)
        if gather_bank and group_size is not None:
            raise ValueError('PaCoLoss: group_size (per-GPU bank emulation) '
                             'cannot be combined with gather_bank=True')
        self.gather_bank = bool(gather_bank)
        self.group_size = group_size
        self.loss_weight = float(loss_weight)
        self._init_class_counts(class_counts, num_classes)

    def forward(self,
                center_logits: torch.Tensor,
                anchors: torch.Tensor,
                labels: torch.Tensor,
                keys: Optional[torch.Tensor] = None,
                key_labels: Optional[torch.Tensor] = None,
                queue_keys: Optional[torch.Tensor] = None,
                queue_labels: Optional[torch.Tensor] = None,
                num_samples: Optional[int] = None) -> torch.Tensor:
        log_prior = None
        if self.center_rebalance:
            self._require_class_counts(center_logits.shape[1])
            log_prior = self.log_prior(compute_dtype_of(anchors))
        return self.loss_weight * paco_loss(
            center_logits,
            anchors,
            labels,
            keys,
            key_labels,
            queue_keys,
            queue_labels,
            alpha=self.alpha,
            center_weight=self.center_weight,
            denominator_weight=self.denominator_weight,
            temperature=self.temperature,
            center_temperature=self.center_temperature,
            log_prior=log_prior,
            label_smoothing=self.label_smoothing,
            gather_bank=self.gather_bank,
            group_size=self.group_size,
            num_samples=num_samples,
            base_temperature=self.base_temperature)

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, center_weight={self.center_weight}, '
                f'denominator_weight={self.denominator_weight}, '
                f'temperature={self.temperature}, center_temperature='
                f'{self.center_temperature}, center_rebalance='
                f'{self.center_rebalance}, gather_bank={self.gather_bank}, '
                f'group_size={self.group_size}')
