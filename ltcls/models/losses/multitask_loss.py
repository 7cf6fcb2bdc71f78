# Copyright (c) ltcls contributors. All rights reserved.
"""PaCo's multi-task baselines: classifier loss + w * SupCon over the bank.

Spec_paco.md §2.9 (Tables 7, 8, 13, 14; GPaCo code ``MultiTaskLoss``)::

    L = cls_weight * L_cls + w * (t / t_base) * L_con

* ``L_cls``: cross-entropy (``cls_loss='ce'``) or Balanced Softmax
  (``'balanced_softmax'``: ``CE(z + log q, y)``) of the linear classifier
  (PaCo's centers) on the anchors, mean over the anchors of the global
  batch;
* ``L_con``: SupCon (Eq. 3, spec §2.1) of each anchor against the *same*
  sample bank as PaCo, ``F = [in-batch embeddings; queue]`` (the anchor
  itself excluded, empty queue slots, label -1, masked out), with its own
  softmax: the centers are **not** columns of it::

      v_ij = z_i . F_j / t (+ log q(label(F_j)))     (j != i, valid)
      l_i  = -1/|P(i)| sum_{j in P(i)} (v_ij - log sum_{m valid} exp v_im)
      L_con = (1 / #anchors with positives) sum_i r_{y_i} l_i

  - ``reweight``: ``r_y = mean_k(E_k) / E_y`` with the effective numbers
    ``E_k = (1 - beta^n_k) / (1 - beta)``, beta = 0.999 (the "re-weighting"
    rows of Tables 13/14; the same weights as ResCom's class-balanced
    SupCon, :func:`~ltcls.models.utils.effective_num_weights`); else
    ``r = 1``. These are *not* the released GPaCo code's weights: its
    ``cal_weight_for_classes`` works on a (1, C) tensor of counts and
    yields all-ones weights; ltcls implements the intended
    ``mean(E) / E_y``. The divisor stays the anchor count (as ResCom and the
    GPaCo code: ``(w * loss).mean()``), it is not a weighted mean;
  - ``contrastive_log_prior``: Table 13's "multi-task (CE + Balanced
    Softmax)", the Balanced-Softmax idea inside the *contrastive* softmax.
    Its form is not given in the paper; spec §2.9 / §8.12 decision: add
    ``log q(label of column)`` to every sample logit (numerator and
    denominator).
  - anchors without any positive in the bank contribute 0 and leave the
    mean (no NaN).

``cls_weight=0, supcon_weight=1`` is plain SupCon in the MoCo framework
(spec §2.1), which the ``supcon_two-stage`` stage-1 config uses; the
classifier then gets a zero gradient (it stays in the graph, so DDP sees
every parameter used).

The call signature is :class:`~ltcls.models.losses.PaCoLoss`'s, so the
``PaCo`` algorithm runs these baselines by swapping ``loss=dict(type=...)``
(same bank: local ``[q; k]`` by default, ``gather_bank`` / ``group_size``
as in PaCoLoss). Both reductions use the anchor count of the *global* batch
(:func:`reduce_anchor_loss`), so a W-process DDP run equals the 1-process
run whenever the bank is the same. ``forward`` returns
``dict(loss_cls=..., loss_con=...)`` (already weighted; their sum is L).
"""
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ltcls.models.utils.effective_num import effective_num_weights
from ltcls.models.utils.gather import concat_all_gather
from ltcls.registry import MODELS
from .class_prior import ClassCountsMixin, CountsType, offset_cross_entropy
from .contrast_blocks import (compute_dtype_of, in_batch_block,
                              memory_block_sums)
from .multi_positive_nce import (masked_logsumexp, nce_from_sums,
                                 reduce_anchor_loss)
from .utils import check_int, check_number

__all__ = [
    'multitask_supcon_per_anchor', 'multitask_contrastive_loss',
    'MultiTaskContrastiveLoss', 'MULTITASK_CLS_LOSSES'
]

MULTITASK_CLS_LOSSES = ('ce', 'balanced_softmax')
_NAME = 'MultiTaskContrastiveLoss'


def _check_labels(name: str, labels: torch.Tensor, rows: int) -> None:
    if labels.dim() != 1 or labels.shape[0] != rows:
        raise ValueError(f'{name} must be ({rows},), got '
                         f'{tuple(labels.shape)}')


def multitask_supcon_per_anchor(
    anchors: torch.Tensor,
    labels: torch.Tensor,
    keys: Optional[torch.Tensor] = None,
    key_labels: Optional[torch.Tensor] = None,
    queue_keys: Optional[torch.Tensor] = None,
    queue_labels: Optional[torch.Tensor] = None,
    temperature: float = 0.2,
    log_prior: Optional[torch.Tensor] = None,
    gather_bank: bool = False,
    group_size: Optional[int] = None,
    num_samples: Optional[int] = None,
    num_classes: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor SupCon over PaCo's bank (no centers), optionally with the
    log prior of each column's label added to its logit.

    Args:
        anchors (Tensor): (A, d) L2-normalised anchor embeddings.
        labels (Tensor): (A,) long anchor labels, >= 0.
        keys (Tensor, optional): (Kb, d) in-batch bank entries that are not
            anchors (PaCo: the momentum keys of the local batch).
        key_labels (Tensor, optional): (Kb,) long.
        queue_keys (Tensor, optional): (L, d) queue keys (no gradient).
        queue_labels (Tensor, optional): (L,) long, -1 = empty slot.
        temperature (float): t. Defaults to 0.2.
        log_prior (Tensor, optional): (n,) ``log q(k)`` added to every
            sample logit by the label of its column. None: plain SupCon.
        gather_bank (bool): In-batch block over all ranks. Default False.
        group_size (int, optional): Per-GPU bank emulation (local only).
        num_samples (int, optional): Local samples N (rows view-major).
        num_classes (int, optional): C > every anchor label, the size of
            the queue's per-class key sums; defaults to ``len(log_prior)``,
            else the anchors' largest label + 1 (a host read).

    Returns:
        tuple(Tensor, Tensor): loss (A,) float32 (float64 for float64
        inputs), 0 for anchors without positives, and has_pos (A,) bool.
    """
    if anchors.dim() != 2:
        raise ValueError(f'anchors must be (A, d), got '
                         f'{tuple(anchors.shape)}')
    _check_labels('labels', labels, anchors.shape[0])
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f'labels must be >= 0, got min {int(labels.min())}')
    if (queue_keys is None) != (queue_labels is None):
        raise ValueError('queue_keys and queue_labels must be given together')
    check_number(None, 'temperature', temperature)
    dtype = compute_dtype_of(anchors)
    logits, pos, valid = in_batch_block(anchors, labels, temperature, keys,
                                        key_labels, gather_bank, group_size,
                                        num_samples)
    n_cls = num_classes
    if log_prior is not None:
        # column labels in in_batch_block's order: [anchors; keys], each
        # gathered over the ranks with gather_bank
        col = [labels] if key_labels is None else [labels, key_labels]
        if gather_bank:
            col = [concat_all_gather(c.to(anchors.device)) for c in col]
        col = [c.to(anchors.device) for c in col]
        if queue_labels is not None:
            col.append(queue_labels.to(anchors.device))
        col = torch.cat(col)
        n_cls = log_prior.numel()
        if log_prior.dim() != 1 or int(col.max()) >= n_cls:
            raise ValueError(f'log_prior ({tuple(log_prior.shape)}) must be '
                             f'(n,) with n > every label ({int(col.max())})')
        log_prior = log_prior.to(device=anchors.device, dtype=dtype)
        # in-batch columns (no empty slot there)
        logits = logits + log_prior[col[:logits.shape[1]]].view(1, -1)
    if queue_keys is not None and n_cls is None:
        # the per-class sums need C: the anchors' largest label (one read)
        n_cls = int(labels.max()) + 1 if labels.numel() else 1
    # SupCon's 0/1 weights as row sums (nce_from_sums): the in-batch block
    # by its mask, the queue block by per-class key sums (contrast_blocks.memory_block_sums)
    w_sum = pos.sum(1).to(dtype)
    ws = torch.where(pos, logits, 0.0).sum(1)
    lses = [masked_logsumexp(logits, valid)]
    if queue_keys is not None:
        lse_q, w_q, ws_q = memory_block_sums(
            anchors,
            labels,
            queue_keys,
            queue_labels,
            temperature,
            n_cls,
            label_bias=log_prior)
        lses.append(lse_q)
        w_sum = w_sum + w_q
        ws = ws + ws_q
    lse = lses[0] if len(lses) == 1 else torch.logsumexp(
        torch.stack(lses, dim=1), dim=1)
    return nce_from_sums(lse, w_sum, ws)


def multitask_contrastive_loss(
        center_logits: torch.Tensor,
        anchors: torch.Tensor,
        labels: torch.Tensor,
        keys: Optional[torch.Tensor] = None,
        key_labels: Optional[torch.Tensor] = None,
        queue_keys: Optional[torch.Tensor] = None,
        queue_labels: Optional[torch.Tensor] = None,
        cls_weight: float = 1.0,
        supcon_weight: float = 0.05,
        temperature: float = 0.2,
        base_temperature: Optional[float] = None,
        cls_log_prior: Optional[torch.Tensor] = None,
        contrastive_log_prior: Optional[torch.Tensor] = None,
        class_weight: Optional[torch.Tensor] = None,
        gather_bank: bool = False,
        group_size: Optional[int] = None,
        num_samples: Optional[int] = None) -> Dict[str, torch.Tensor]:
    """Classifier loss + ``supcon_weight`` * SupCon (module docstring).

    Args:
        center_logits (Tensor): (A, n) classifier logits of the anchors.
        anchors, labels, keys, key_labels, queue_keys, queue_labels,
        temperature, gather_bank, group_size, num_samples: As
            :func:`multitask_supcon_per_anchor`.
        cls_weight (float): Weight of the classifier loss. Defaults to 1.
        supcon_weight (float): w. Defaults to 0.05.
        base_temperature (float, optional): SupCon times ``t / t_base``;
            None means 1.
        cls_log_prior (Tensor, optional): (n,) ``log q``: Balanced Softmax
            on the classifier; None: plain CE.
        contrastive_log_prior (Tensor, optional): (n,) ``log q`` added to
            the sample logits of the contrastive softmax.
        class_weight (Tensor, optional): (n,) per-class weights of the
            anchors' SupCon terms (effective-number re-weighting).

    Returns:
        dict: ``loss_cls`` (``cls_weight * L_cls``) and ``loss_con``
        (``supcon_weight * t / t_base * L_con``), scalars.
    """
    if center_logits.dim() != 2 or center_logits.shape[0] != anchors.shape[0]:
        raise ValueError(f'center_logits must be ({anchors.shape[0]}, n), got '
                         f'{tuple(center_logits.shape)}')
    n_cls = center_logits.shape[1]
    _check_labels('labels', labels, anchors.shape[0])
    if labels.numel() and (int(labels.min()) < 0
                           or int(labels.max()) >= n_cls):
        raise ValueError(f'labels must be in [0, {n_cls}), got min '
                         f'{int(labels.min())} max {int(labels.max())}')
    for name, vec in (('cls_log_prior', cls_log_prior),
                      ('contrastive_log_prior',
                       contrastive_log_prior), ('class_weight', class_weight)):
        if vec is not None and tuple(vec.shape) != (n_cls, ):
            raise ValueError(f'{name} must be ({n_cls},), got '
                             f'{tuple(vec.shape)}')
    dtype = compute_dtype_of(anchors)
    offset = cls_log_prior if cls_log_prior is not None else \
        torch.zeros(n_cls, dtype=torch.float64, device=center_logits.device)
    ce = offset_cross_entropy(
        center_logits.to(dtype), offset.to(center_logits.device),
        labels).to(dtype)
    loss_cls = reduce_anchor_loss(ce,
                                  torch.ones_like(labels, dtype=torch.bool))

    con, has_pos = multitask_supcon_per_anchor(anchors, labels, keys,
                                               key_labels, queue_keys,
                                               queue_labels, temperature,
                                               contrastive_log_prior,
                                               gather_bank, group_size,
                                               num_samples, n_cls)
    weight = None
    if class_weight is not None:
        weight = class_weight.to(device=con.device, dtype=con.dtype)[labels]
    loss_con = reduce_anchor_loss(con, has_pos, weight)
    if base_temperature is not None:
        loss_con = loss_con * (temperature / base_temperature)
    return dict(
        loss_cls=cls_weight * loss_cls, loss_con=supcon_weight * loss_con)


@MODELS.register_module()
class MultiTaskContrastiveLoss(ClassCountsMixin, nn.Module):
    """CE / Balanced Softmax on the classifier + w * SupCon over PaCo's
    bank (PaCo's multi-task baselines, spec_paco.md §2.9; module docstring).

    Args:
        cls_loss (str): ``'ce'`` (default) or ``'balanced_softmax'``.
        cls_weight (float): Weight of the classifier loss (>= 0). 0 with
            ``supcon_weight=1`` is plain MoCo-SupCon. Defaults to 1.0.
        supcon_weight (float): w (>= 0). Defaults to 0.05 (Table 7).
        temperature (float): t of the sample logits. Defaults to 0.2.
        base_temperature (float, optional): SupCon times ``t / t_base``;
            None means 1 (as PaCoLoss).
        reweight (bool): Multiply each anchor's SupCon term by the
            effective-number class weight. Defaults to False.
        reweight_beta (float): beta of the effective number, in [0, 1).
            Defaults to 0.999 (the GPaCo code's value; its weights are
            all ones, module docstring).
        contrastive_log_prior (bool): Add ``log q(label of column)`` to the
            sample logits (Table 13 "CE + Balanced Softmax"). Default False.
        gather_bank (bool): Global in-batch bank. Defaults to False.
        group_size (int, optional): Per-GPU bank emulation on one process.
        class_counts (Sequence[int], optional): Training counts (normally
            set by ``ClassCountsHook``); needed by ``balanced_softmax``,
            ``reweight`` and ``contrastive_log_prior``.
        num_classes (int, optional): Checked against the counts.

    Shapes (forward, as :class:`PaCoLoss`):
        center_logits (A, n); anchors (A, d); labels (A,); keys (Kb, d);
        key_labels (Kb,); queue_keys (L, d); queue_labels (L,) (-1 empty);
        output: ``dict(loss_cls=scalar, loss_con=scalar)``.
    """

    def __init__(self,
                 cls_loss: str = 'ce',
                 cls_weight: float = 1.0,
                 supcon_weight: float = 0.05,
                 temperature: float = 0.2,
                 base_temperature: Optional[float] = None,
                 reweight: bool = False,
                 reweight_beta: float = 0.999,
                 contrastive_log_prior: bool = False,
                 gather_bank: bool = False,
                 group_size: Optional[int] = None,
                 class_counts: Optional[CountsType] = None,
                 num_classes: Optional[int] = None):
        super().__init__()
        if cls_loss not in MULTITASK_CLS_LOSSES:
            raise ValueError(f'MultiTaskContrastiveLoss: cls_loss must be one '
                             f'of {MULTITASK_CLS_LOSSES}, got {cls_loss!r}')
        self.cls_loss = cls_loss
        self.cls_weight = check_number(
            _NAME, 'cls_weight', cls_weight, allow_zero=True)
        self.supcon_weight = check_number(
            _NAME, 'supcon_weight', supcon_weight, allow_zero=True)
        if self.cls_weight == 0 and self.supcon_weight == 0:
            raise ValueError('MultiTaskContrastiveLoss: cls_weight and '
                             'supcon_weight cannot both be 0')
        self.temperature = check_number(_NAME, 'temperature', temperature)
        self.base_temperature = None if base_temperature is None else \
            check_number(_NAME, 'base_temperature', base_temperature)
        self.reweight = bool(reweight)
        self.reweight_beta = check_number(
            _NAME, 'reweight_beta', reweight_beta, allow_zero=True)
        if not self.reweight_beta < 1.0:
            raise ValueError('MultiTaskContrastiveLoss: reweight_beta must '
                             f'be in [0, 1), got {reweight_beta}')
        self.contrastive_log_prior = bool(contrastive_log_prior)
        if gather_bank and group_size is not None:
            raise ValueError('MultiTaskContrastiveLoss: group_size (per-GPU '
                             'bank emulation) cannot be combined with '
                             'gather_bank=True')
        check_int(_NAME, 'group_size', group_size, low=1, allow_none=True)
        self.gather_bank = bool(gather_bank)
        self.group_size = group_size
        self.register_buffer(
            'class_weight',
            torch.zeros(0, dtype=torch.float64),
            persistent=False)
        self._init_class_counts(class_counts, num_classes)

    @property
    def needs_class_counts(self) -> bool:
        return self.cls_loss == 'balanced_softmax' or self.reweight or \
            self.contrastive_log_prior

    def _on_class_counts_set(self) -> None:
        self.class_weight = effective_num_weights(
            self.class_counts, self.reweight_beta,
            'mean').to(self.class_counts.device)

    def forward(self,
                center_logits: torch.Tensor,
                anchors: torch.Tensor,
                labels: torch.Tensor,
                keys: Optional[torch.Tensor] = None,
                key_labels: Optional[torch.Tensor] = None,
                queue_keys: Optional[torch.Tensor] = None,
                queue_labels: Optional[torch.Tensor] = None,
                num_samples: Optional[int] = None) -> Dict[str, torch.Tensor]:
        log_prior = class_weight = None
        if self.needs_class_counts:
            self._require_class_counts(center_logits.shape[1])
            log_prior = self.log_prior(compute_dtype_of(anchors))
            if self.reweight:
                class_weight = self.class_weight
        return multitask_contrastive_loss(
            center_logits,
            anchors,
            labels,
            keys,
            key_labels,
            queue_keys,
            queue_labels,
            cls_weight=self.cls_weight,
            supcon_weight=self.supcon_weight,
            temperature=self.temperature,
            base_temperature=self.base_temperature,
            cls_log_prior=log_prior
            if self.cls_loss == 'balanced_softmax' else None,
            contrastive_log_prior=log_prior
            if self.contrastive_log_prior else None,
            class_weight=class_weight,
            gather_bank=self.gather_bank,
            group_size=self.group_size,
            num_samples=num_samples)

    def extra_repr(self) -> str:
        return (f'cls_loss={self.cls_loss!r}, cls_weight={self.cls_weight}, '
                f'supcon_weight={self.supcon_weight}, temperature='
                f'{self.temperature}, reweight={self.reweight}, '
                f'reweight_beta={self.reweight_beta}, contrastive_log_prior='
                f'{self.contrastive_log_prior}, gather_bank='
                f'{self.gather_bank}, group_size={self.group_size}')
