# Copyright (c) ltcls contributors. All rights reserved.
"""ResCom: rebalanced Siamese contrastive mining (Zhong et al., 2022).

Total loss (spec_rescom.md §2.6): ``L = L_cls + lambda * L_con`` with

* ``L_cls``: Siamese Balanced Softmax (Eq. 6), the mean over both views'
  rows of ``BalancedSoftmaxLoss`` on the shared classifier (``cls_loss``;
  ``siamese_cls=False`` uses view 1 only, the single-view ablation);
* ``L_con``: class-balanced supervised contrastive loss with hard pair
  mining over a class-balanced queue (Eqs. 2-5).

Two variants (spec §2.7; ``variant`` sets the defaults, each can be
overridden):

============================  =======================  ===================
                              ``'code'`` (default)     ``'paper'`` (Alg. 1)
============================  =======================  ===================
anchors (``anchor_views``)    both views (2B)          view 1 (B)
in-batch contrast             yes, local 2B-1 others   no
class weight (``weight_norm``) ``mean(E) / E_y``       ``1 / E_y``
============================  =======================  ===================

For anchor a with label y and columns ``[in-batch j != a | Q_p mined
positives | Q_n mined negatives]`` (logits ``z_a . z_j / t``)::

    l_a = - sum_j m_aj log softmax_j(logits_a) / sum_j m_aj
    L_con = (1 / #anchors) sum_a w_{y_a} l_a

``m_aj`` = same label (in-batch), 1 (mined positives), 0 (mined
negatives). Mining
(:func:`~ltcls.models.losses.hard_pair_mining.mine_hard_pairs`) keeps the
``num_pos`` least similar own-class queue keys and the ``num_neg`` most
similar other-class keys; selection is not differentiated and the queue is
detached. Empty queue slots (label -1, ``init='empty'`` queues) are never
selected; anchors without any positive contribute 0 and leave the mean.

The effective-number weights ``w`` come from the training counts
(``ClassCountsHook`` or ``class_counts``), see
:func:`~ltcls.models.utils.effective_num_weights`.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ltcls.models.utils.effective_num import (EFFECTIVE_NUM_NORMS,
                                              effective_num_weights)
from ltcls.registry import MODELS
from .autocast import autocast_off
from .class_prior import ClassCountsMixin, CountsType
from .contrast_blocks import compute_dtype_of, in_batch_block
from .hard_pair_mining import mine_hard_pairs
from .multi_positive_nce import multi_positive_nce, reduce_anchor_loss
from .utils import check_choice, check_int, check_number

__all__ = [
    'rescom_contrastive_per_anchor', 'rescom_contrastive_loss', 'ResComLoss',
    'RESCOM_VARIANTS'
]

RESCOM_VARIANTS = {
    'code':
    dict(anchor_views='both', in_batch_contrast=True, weight_norm='mean'),
    'paper':
    dict(anchor_views='first', in_batch_contrast=False, weight_norm='none'),
}
ANCHOR_VIEWS = ('both', 'first')
MINING_ORDER = 'index'


@autocast_off
def rescom_contrastive_per_anchor(
    anchors: torch.Tensor,
    labels: torch.Tensor,
    queue_keys: torch.Tensor,
    queue_labels: torch.Tensor,
    temperature: float = 0.2,
    num_pos: int = 1,
    num_neg: int = 400,
    in_batch: bool = True,
    in_batch_keys: Optional[torch.Tensor] = None,
    in_batch_key_labels: Optional[torch.Tensor] = None,
    gather: bool = False,
    group_size: Optional[int] = None,
    num_samples: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor SPM loss with optional in-batch contrast (unweighted).

    Args:
        anchors (Tensor): (A, d) L2-normalised anchors.
        labels (Tensor): (A,) long.
        queue_keys (Tensor): (L, d) queue keys (detached here).
        queue_labels (Tensor): (L,) long, -1 = empty slot.
        temperature (float): t. Defaults to 0.2.
        num_pos (int): Q_p hardest positives. Defaults to 1.
        num_neg (int): Q_n hardest negatives. Defaults to 400.
        in_batch (bool): Add the in-batch block ``[anchors; in_batch_keys]``
            minus the anchor itself. Defaults to True.
        in_batch_keys (Tensor, optional): (Kb, d) in-batch entries that are
            not anchors (e.g. view 2 when only view 1 anchors).
        in_batch_key_labels (Tensor, optional): (Kb,).
        gather (bool): In-batch block over all ranks. Defaults to False
            (local, official code).
        group_size (int, optional): Per-GPU in-batch emulation.
        num_samples (int, optional): Local samples N (view-major rows).

    Returns:
        tuple(Tensor, Tensor): loss (A,) and has_pos (A,) bool.
    """
    if anchors.dim() != 2 or labels.shape != (anchors.shape[0], ):
        raise ValueError(f'anchors must be (A, d) with labels (A,), got '
                         f'{tuple(anchors.shape)} and {tuple(labels.shape)}')
    if queue_keys.dim() != 2 or queue_keys.shape[1] != anchors.shape[1] or \
            queue_labels.shape != (queue_keys.shape[0], ):
        raise ValueError(
            f'queue_keys must be (L, {anchors.shape[1]}) with queue_labels '
            f'(L,), got {tuple(queue_keys.shape)} and '
            f'{tuple(queue_labels.shape)}')
    check_number(None, 'temperature', temperature)
    dtype = compute_dtype_of(anchors)
    z = anchors.to(dtype)
    keys = queue_keys.detach().to(device=z.device, dtype=dtype)
    sim = z @ keys.t()  # (A, L)
    # index order: the loss is a log-sum-exp / sum over the columns, so
    # the stable-sort order of the mined keys is not needed (no (A, Q) sort)
    pos_sim, pos_valid, neg_sim, neg_valid = mine_hard_pairs(
        sim, labels, queue_labels.to(z.device), num_pos, num_neg,
        order=MINING_ORDER)
    logits = [pos_sim / temperature, neg_sim / temperature]
    pos = [pos_valid, torch.zeros_like(neg_valid)]
    valid = [pos_valid, neg_valid]
    if in_batch:
        b_logits, b_pos, b_valid = in_batch_block(z, labels, temperature,
                                                  in_batch_keys,
                                                  in_batch_key_labels, gather,
                                                  group_size, num_samples)
        logits.insert(0, b_logits)
        pos.insert(0, b_pos)
        valid.insert(0, b_valid)
    return multi_positive_nce(
        torch.cat(logits, 1), torch.cat(pos, 1), torch.cat(valid, 1))


def rescom_contrastive_loss(anchors: torch.Tensor,
                            labels: torch.Tensor,
                            queue_keys: torch.Tensor,
                            queue_labels: torch.Tensor,
                            class_weight: Optional[torch.Tensor] = None,
                            **kwargs) -> torch.Tensor:
    """``mean_a w_{y_a} l_a`` over the anchors with positives of the global
    batch; ``class_weight`` (K,) or None (all 1). Other arguments as
    :func:`rescom_contrastive_per_anchor`.

    Returns:
        Tensor: scalar.
    """
    loss, has_pos = rescom_contrastive_per_anchor(anchors, labels, queue_keys,
                                                  queue_labels, **kwargs)
    weight = None
    if class_weight is not None:
        weight = class_weight.to(device=loss.device, dtype=loss.dtype)[labels]
    return reduce_anchor_loss(loss, has_pos, weight)


@MODELS.register_module()
class ResComLoss(ClassCountsMixin, nn.Module):
    """ResCom's total loss: Siamese Balanced Softmax + lambda * SPM.

    Args:
        variant (str): ``'code'`` (official implementation, default) or
            ``'paper'`` (Algorithm 1 / Eqs. 5, 7); sets the defaults of
            ``anchor_views``, ``in_batch_contrast`` and ``weight_norm``.
        temperature (float): t. Defaults to 0.2.
        con_weight (float): lambda. Defaults to 0.5.
        num_pos (int): Q_p. Defaults to 1.
        num_neg (int): Q_n. Defaults to 400.
        effective_num_beta (float): beta of the class weights; 0 disables
            the re-weighting. Defaults to 0.99 (ImageNet-LT optimum).
        weight_norm (str, optional): ``'mean'``, ``'none'`` or ``'sum'``.
        anchor_views (str, optional): ``'both'`` or ``'first'``.
        in_batch_contrast (bool, optional): Add the in-batch block.
        gather_in_batch (bool): In-batch block over all ranks. Defaults to
            False (local, official code).
        group_size (int, optional): Per-GPU in-batch emulation on one
            process.
        cls_loss (dict): Classification loss. Defaults to
            ``dict(type='BalancedSoftmaxLoss')``.
        siamese_cls (bool): Classification loss on both views (SiamBS).
            Defaults to True.
        class_counts (Sequence[int], optional): Training counts.
        num_classes (int, optional): Checked against the counts.

    Shapes (forward):
        cls_score (V*N, K) and embeddings (V*N, d), view-major (row
        ``v * N + i`` = view v of sample i); labels (N,); queue_keys (L, d);
        queue_labels (L,) with -1 = empty. Returns
        ``dict(loss_cls=..., loss_con=lambda * L_con)``.
    """

    def __init__(self,
                 variant: str = 'code',
                 temperature: float = 0.2,
                 con_weight: float = 0.5,
                 num_pos: int = 1,
                 num_neg: int = 400,
                 effective_num_beta: float = 0.99,
                 weight_norm: Optional[str] = None,
                 anchor_views: Optional[str] = None,
                 in_batch_contrast: Optional[bool] = None,
                 gather_in_batch: bool = False,
                 group_size: Optional[int] = None,
                 cls_loss: dict = dict(type='BalancedSoftmaxLoss'),
                 siamese_cls: bool = True,
                 class_counts: Optional[CountsType] = None,
                 num_classes: Optional[int] = None):
        super().__init__()
        check_choice('ResComLoss', 'variant', variant,
                     tuple(RESCOM_VARIANTS))
        defaults = RESCOM_VARIANTS[variant]
        self.variant = variant
        self.anchor_views = defaults['anchor_views'] \
            if anchor_views is None else anchor_views
        check_choice('ResComLoss', 'anchor_views', self.anchor_views,
                     ANCHOR_VIEWS)
        self.in_batch_contrast = defaults['in_batch_contrast'] \
            if in_batch_contrast is None else bool(in_batch_contrast)
        self.weight_norm = defaults['weight_norm'] \
            if weight_norm is None else weight_norm
        check_choice('ResComLoss', 'weight_norm', self.weight_norm,
                     EFFECTIVE_NUM_NORMS)
        check_number('ResComLoss', 'temperature', temperature)
        if float(con_weight) < 0:
            raise ValueError(
                f'ResComLoss: con_weight must be >= 0, got {con_weight}')
        for name, value in (('num_pos', num_pos), ('num_neg', num_neg)):
            check_int('ResComLoss', name, value)
        if int(num_pos) == 0 and not self.in_batch_contrast:
            raise ValueError('ResComLoss: num_pos=0 without in-batch '
                             'contrast leaves no positive pair')
        if not 0.0 <= float(effective_num_beta) < 1.0:
            raise ValueError('ResComLoss: effective_num_beta must be in '
                             f'[0, 1), got {effective_num_beta}')
        if gather_in_batch and group_size is not None:
            raise ValueError('ResComLoss: group_size cannot be combined with '
                             'gather_in_batch=True')
        self.temperature = float(temperature)
        self.con_weight = float(con_weight)
        self.num_pos = int(num_pos)
        self.num_neg = int(num_neg)
        self.effective_num_beta = float(effective_num_beta)
        self.gather_in_batch = bool(gather_in_batch)
        self.group_size = group_size
        self.siamese_cls = bool(siamese_cls)
        self.cls_loss = MODELS.build(cls_loss) if isinstance(
            cls_loss, dict) else cls_loss
        self.register_buffer(
            'class_weight',
            torch.zeros(0, dtype=torch.float64),
            persistent=False)
        self._init_class_counts(class_counts, num_classes)

    def _on_class_counts_set(self) -> None:
        self.class_weight = effective_num_weights(
            self.class_counts, self.effective_num_beta,
            self.weight_norm).to(self.class_counts.device)
        if callable(getattr(self.cls_loss, 'set_class_counts', None)):
            self.cls_loss.set_class_counts(self.class_counts)

    def contrastive(self, embeddings: torch.Tensor, labels: torch.Tensor,
                    queue_keys: torch.Tensor,
                    queue_labels: torch.Tensor) -> torch.Tensor:
        """Unscaled L_con (without lambda). Shapes as :meth:`forward`."""
        n = labels.numel()
        if embeddings.dim() != 2 or embeddings.shape[0] % max(n, 1) != 0:
            raise ValueError(
                f'ResComLoss: embeddings must be (V*{n}, d) view-major, got '
                f'{tuple(embeddings.shape)}')
        num_views = embeddings.shape[0] // max(n, 1)
        if self.anchor_views == 'both':
            anchors = embeddings
            anchor_labels = labels.repeat(num_views)
            keys = key_labels = None
        else:
            anchors, anchor_labels = embeddings[:n], labels
            keys = embeddings[n:] if num_views > 1 else None
            key_labels = labels.repeat(num_views - 1) \
                if num_views > 1 else None
        class_weight = None
        if self.effective_num_beta > 0:
            if not self.has_class_counts:
                self._require_class_counts(0)  # raises, naming the hook
            if labels.numel() and int(labels.max()) >= \
                    self.class_weight.numel():
                raise ValueError(
                    f'ResComLoss: label {int(labels.max())} is out of range '
                    f'for {self.class_weight.numel()} class counts')
            class_weight = self.class_weight
        return rescom_contrastive_loss(
            anchors,
            anchor_labels,
            queue_keys,
            queue_labels,
            class_weight=class_weight,
            temperature=self.temperature,
            num_pos=self.num_pos,
            num_neg=self.num_neg,
            in_batch=self.in_batch_contrast,
            in_batch_keys=keys,
            in_batch_key_labels=key_labels,
            gather=self.gather_in_batch,
            group_size=self.group_size,
            num_samples=n)

    def forward(self, cls_score: torch.Tensor, embeddings: torch.Tensor,
                labels: torch.Tensor, queue_keys: torch.Tensor,
                queue_labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        n = labels.numel()
        if cls_score.dim() != 2 or cls_score.shape[0] != embeddings.shape[0]:
            raise ValueError(
                f'ResComLoss: cls_score must be ({embeddings.shape[0]}, K) '
                f'(one row per view), got {tuple(cls_score.shape)}')
        num_views = cls_score.shape[0] // max(n, 1)
        if self.siamese_cls:
            loss_cls = self.cls_loss(cls_score, labels.repeat(num_views))
        else:
            loss_cls = self.cls_loss(cls_score[:n], labels)
        loss_con = self.contrastive(embeddings, labels, queue_keys,
                                    queue_labels)
        return dict(loss_cls=loss_cls, loss_con=self.con_weight * loss_con)

    def extra_repr(self) -> str:
        return (f'variant={self.variant!r}, anchor_views='
                f'{self.anchor_views!r}, in_batch_contrast='
                f'{self.in_batch_contrast}, weight_norm={self.weight_norm!r}, '
                f'temperature={self.temperature}, con_weight='
                f'{self.con_weight}, num_pos={self.num_pos}, num_neg='
                f'{self.num_neg}, effective_num_beta='
                f'{self.effective_num_beta}')
