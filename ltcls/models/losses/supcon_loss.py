# Copyright (c) ltcls contributors. All rights reserved.
"""Supervised contrastive loss (SupCon, Khosla et al. 2020) = FCL.

For anchor i (a view in the local batch) with label y_i::

    l_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / t)
                                         / sum_{a in A(i)} exp(z_i.z_a / t) )

* ``A(i)``: every view of the *global* batch (all ranks, gathered with
  exact gradients) except the anchor itself, plus every *filled* slot of an
  optional labelled queue (empty slots, label -1, are masked out);
* ``P(i)``: the members of ``A(i)`` with label y_i (all of them: "full"
  positives, which is what KCL's paper calls FCL);
* anchors without positives contribute 0 and are left out of the mean.
  The current SupCon reference code (``SupContrast/losses.py``: the
  positive count is replaced by 1 where it is 0) also gives them 0 but
  keeps them in its mean over all anchors, so where some anchor has no
  positive its loss is ltcls' times (#anchors with positives / #anchors);
  only its first release divided by 0 and returned NaN there;
* the reduction is the mean over the anchors with positives of the whole
  global batch (``reduce_anchor_loss``), so a W-process DDP run equals the
  1-process run on the same global batch, loss and gradients.

The columns are :mod:`~ltcls.models.losses.contrast_blocks`'
``batch_block`` (over ``gather_bank``, self masked) and ``memory_block_of``;
the numerics (masked log-sum-exp, fp16 handling) are
:func:`~ltcls.models.losses.multi_positive_nce`. Reduction: the anchor
contract of :mod:`~ltcls.models.losses.utils`.

In-batch KCL (``pos_k``; spec_kcl.md §9 item 1, decision [D])
-------------------------------------------------------------
With ``pos_k=k`` the positive set is capped: ``P(i)`` becomes at most k of
the same-class members of ``A(i)``, chosen per anchor by KCL's own rule
(:func:`~ltcls.models.losses.kcl_loss.select_positives`: a deterministic,
rank-invariant hash draw by default, ``pos_selection='topk'`` for the
official code's ``topk``), and::

    l_i = -1/|S(i)| * sum_{p in S(i)} log softmax_{A(i)}(z_i.z_a / t)_p

The denominator follows KCLLoss's ``variant``: ``'v1'`` keeps every member
of ``A(i)`` (unselected same-class views are negatives), ``'v2'`` sets the
similarity of the unselected same-class members to 0 (logit 0, not
removed). ``pos_k=None`` is plain SupCon / FCL. Anchors without any
same-class candidate (a class with one view in the global batch) have no
positive: loss 0, left out of the mean, as above. There is no "own key":
the other views of the anchor's image are same-class candidates like any
other (spec: "positives = same-class samples in the batch, capped at k").

Why here and not as a mode of ``KCLLoss``: in-batch FCL *is* SupCon, so the
in-batch KCL is SupCon with a capped positive set. Everything else (the
cross-rank gather with exact gradients, self exclusion, the optional queue
block, the global-mean reduction) is this function's, while the structure
of ``KCLLoss`` (a per-anchor own-key column that is always a positive, the
1/(1 + |S|) weight, keys without gradient) does not exist in-batch. The
only KCL pieces, the selection rule and the ``v2`` rule, are imported from
:mod:`~ltcls.models.losses.kcl_loss`, so there is one code path for each.

Rank invariance of the selection: the draw depends on the *global* index
of the anchor and the column, and ``topk`` on the column order. With
(N, V, d) features every rank flattens its own views view-major, so the
gathered rows are rank-major ``[rank 0: v0, v1, rank 1: v0, v1]``; they are
re-ordered into the canonical order of a single process holding the whole
global batch, ``v * N_global + global sample index``, before the logits
are formed (``contrast_blocks.gather_bank``). Hence a W-process run
selects the same positives as the 1-process run on the concatenated batch,
and loss and gradients agree.
(N, d) features (``num_views=1``) use the gathered order as is.
"""
from typing import Optional, Tuple

import torch
from torch import nn

from ltcls.registry import MODELS
from .autocast import autocast_off
from .contrast_blocks import (batch_block, concat_blocks, gather_bank,
                              match_labels, memory_block_of)
from .kcl_loss import KCL_VARIANTS, POS_SELECTIONS, select_positives
from .multi_positive_nce import multi_positive_nce, reduce_anchor_loss
from .utils import (check_choice, check_int, check_int_labels, check_number,
                    compute_dtype_of)

__all__ = [
    'supcon_loss', 'supcon_loss_per_anchor', 'SupConLoss', 'flatten_views'
]


def flatten_views(features: torch.Tensor,
                  labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N, V, d) features and (N,) labels -> view-major (V*N, d) and
    (V*N,) (row ``v * N + i`` is view v of sample i, as in SupCon's code).
    (N, d) features are returned unchanged."""
    if features.dim() == 2:
        return features, labels
    if features.dim() != 3:
        raise ValueError('features must be (N, d) or (N, V, d), got '
                         f'{tuple(features.shape)}')
    n, v, d = features.shape
    return features.transpose(0, 1).reshape(v * n, d), labels.repeat(v)


def _check_inputs(features, labels, queue_keys, queue_labels, temperature):
    if features.dim() != 2:
        raise ValueError(f'features must be (N, d), got '
                         f'{tuple(features.shape)}')
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f'labels must be ({features.shape[0]},), got '
                         f'{tuple(labels.shape)}')
    check_int_labels(None, 'labels', labels)
    if queue_labels is not None:
        check_int_labels(None, 'queue_labels', queue_labels)
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError('labels must be >= 0, got min '
                         f'{int(labels.min())}')
    check_number(None, 'temperature', temperature)
    if (queue_keys is None) != (queue_labels is None):
        raise ValueError('queue_keys and queue_labels must be given together')
    if queue_keys is not None:
        if queue_keys.dim() != 2 or queue_keys.shape[1] != features.shape[1]:
            raise ValueError(f'queue_keys must be (K, {features.shape[1]}), '
                             f'got {tuple(queue_keys.shape)}')
        if queue_labels.dim() != 1 or \
                queue_labels.shape[0] != queue_keys.shape[0]:
            raise ValueError(f'queue_labels must be ({queue_keys.shape[0]},) '
                             f'(class labels, -1 = empty), got '
                             f'{tuple(queue_labels.shape)}')


def _check_selection(pos_k, pos_selection, variant, owner='supcon_loss'):
    check_int(owner, 'pos_k', pos_k, allow_none=True)
    check_choice(owner, 'pos_selection', pos_selection, POS_SELECTIONS)
    check_choice(owner, 'variant', variant, KCL_VARIANTS)


@autocast_off
def supcon_loss_per_anchor(
    features: torch.Tensor,
    labels: torch.Tensor,
    queue_keys: Optional[torch.Tensor] = None,
    queue_labels: Optional[torch.Tensor] = None,
    temperature: float = 0.07,
    gather: bool = True,
    pos_k: Optional[int] = None,
    pos_selection: str = 'random',
    variant: str = 'v1',
    seed: int = 0,
    step: int = 0,
    num_views: int = 1,
    return_num_selected: bool = False,
) -> Tuple[torch.Tensor, ...]:
    """Per-anchor SupCon loss of the local anchors.

    Args:
        features (Tensor): (N, d) L2-normalised embeddings of the local
            views (use :func:`flatten_views` for (N, V, d)).
        labels (Tensor): (N,) class labels >= 0.
        queue_keys (Tensor, optional): (K, d) extra contrast keys (no
            gradient flows into them).
        queue_labels (Tensor, optional): (K,) their labels, -1 = empty slot.
        temperature (float): t. Defaults to 0.07.
        gather (bool): Contrast against the views of all ranks
            (``all_gather_with_grad``). Defaults to True.
        pos_k (int, optional): In-batch KCL: at most ``pos_k`` positives
            per anchor (module docstring). None (default) = all (SupCon).
        pos_selection (str): ``'random'`` (default) or ``'topk'``, as
            :func:`~ltcls.models.losses.kcl_loss.select_positives`.
        variant (str): ``'v1'`` (default) or ``'v2'``, as ``KCLLoss``.
        seed (int), step (int): Random-selection seed and step.
        num_views (int): The N rows are ``num_views`` view-major blocks of
            N / num_views samples (what :func:`flatten_views` returns);
            only the canonical cross-rank order depends on it (module
            docstring). Defaults to 1.
        return_num_selected (bool): Also return the (N,) number of
            positives per anchor.

    Returns:
        tuple(Tensor, Tensor): loss (N,) float32/float64 (0 for anchors
        without positives) and has_pos (N,) bool (and num_selected (N,)
        long with ``return_num_selected``).
    """
    _check_inputs(features, labels, queue_keys, queue_labels, temperature)
    _check_selection(pos_k, pos_selection, variant)
    feats = features.to(compute_dtype_of(features))
    bank = gather_bank(feats, (labels, ), gather, num_views)
    # scale the (N, d) anchors, not the (N, M) logits; the queue block is a
    # separate product, so the (K, d) queue is never copied
    scaled = feats / temperature
    blocks = [batch_block(scaled, bank)]
    if queue_keys is not None:
        blocks.append(memory_block_of(scaled, queue_keys, (queue_labels, )))
    logits, valid = concat_blocks(blocks)
    pos = match_labels(blocks, labels)
    if pos_k is not None:
        chosen = select_positives(
            pos, pos_k, pos_selection, seed, step, row_ids=bank.self_cols)
        if variant == 'v2':
            logits = logits.masked_fill(pos & ~chosen, 0.0)
        pos = chosen
    loss, has_pos = multi_positive_nce(logits, pos, valid)
    if return_num_selected:
        return loss, has_pos, pos.sum(dim=1)
    return loss, has_pos


def supcon_loss(features: torch.Tensor,
                labels: torch.Tensor,
                queue_keys: Optional[torch.Tensor] = None,
                queue_labels: Optional[torch.Tensor] = None,
                temperature: float = 0.07,
                base_temperature: Optional[float] = None,
                gather: bool = True,
                sample_weight: Optional[torch.Tensor] = None,
                pos_k: Optional[int] = None,
                pos_selection: str = 'random',
                variant: str = 'v1',
                seed: int = 0,
                step: int = 0,
                return_num_selected: bool = False):
    """SupCon / FCL loss averaged over the anchors with positives of the
    global batch (see module docstring); with ``pos_k``, in-batch KCL.

    Args:
        features (Tensor): (N, d) or (N, V, d) normalised embeddings.
        labels (Tensor): (N,) labels (repeated over views for (N, V, d)).
        queue_keys, queue_labels: optional (K, d) keys and (K,) labels.
        temperature (float): t.
        base_temperature (float, optional): SupCon's code multiplies the
            loss by ``t / base_temperature``; None means 1.
        gather (bool): In-batch contrast over all ranks.
        sample_weight (Tensor, optional): (N,) or (N*V,) per-anchor weights.
        pos_k, pos_selection, variant, seed, step: in-batch KCL, see
            :func:`supcon_loss_per_anchor`.
        return_num_selected (bool): Also return the (N*V,) number of
            positives per anchor (view-major).

    Returns:
        Tensor: scalar (and num_selected with ``return_num_selected``).
    """
    num_views = 1 if features.dim() == 2 else features.shape[1]
    features, labels = flatten_views(features, labels)
    loss, has_pos, num_sel = supcon_loss_per_anchor(
        features,
        labels,
        queue_keys,
        queue_labels,
        temperature,
        gather,
        pos_k=pos_k,
        pos_selection=pos_selection,
        variant=variant,
        seed=seed,
        step=step,
        num_views=num_views,
        return_num_selected=True)
    if sample_weight is not None:
        sample_weight = sample_weight.reshape(-1)
        if loss.numel() % max(sample_weight.numel(), 1) != 0:
            raise ValueError(
                f'sample_weight has {sample_weight.numel()} entries; expected '
                f'{loss.numel()} (one per view) or a divisor of it (one per '
                'sample, repeated over views)')
        sample_weight = sample_weight.repeat(loss.numel() //
                                             sample_weight.numel())
    out = reduce_anchor_loss(
        loss, has_pos, sample_weight, global_average=gather)
    if base_temperature is not None:
        out = out * (temperature / base_temperature)
    return (out, num_sel) if return_num_selected else out


@MODELS.register_module()
class SupConLoss(nn.Module):
    """Supervised contrastive loss (SupCon) / FCL, in-batch across ranks,
    optionally with labelled queue keys; with ``pos_k``, in-batch KCL (at
    most k positives per anchor, module docstring). See
    :func:`supcon_loss`.

    Args:
        temperature (float): Defaults to 0.07.
        base_temperature (float, optional): Defaults to None (factor 1).
        gather (bool): Contrast against the global batch. Defaults to True.
        loss_weight (float): Defaults to 1.0.
        pos_k (int, optional): Positives per anchor (in-batch KCL; k = 6 in
            the paper). Defaults to None: every same-class view (SupCon).
        pos_selection (str): ``'random'`` (default; deterministic given
            ``seed`` and the ``step`` passed to :meth:`forward`,
            rank-invariant) or ``'topk'`` (the official KCL code).
        variant (str): ``'v1'`` (default) or ``'v2'``, as ``KCLLoss``.
        seed (int): Seed of the random selection. Defaults to 0.

    Shapes:
        features: (N, d) or (N, V, d); labels: (N,);
        queue_keys: (K, d); queue_labels: (K,), -1 marks empty slots.
    """

    def __init__(self,
                 temperature: float = 0.07,
                 base_temperature: Optional[float] = None,
                 gather: bool = True,
                 loss_weight: float = 1.0,
                 pos_k: Optional[int] = None,
                 pos_selection: str = 'random',
                 variant: str = 'v1',
                 seed: int = 0):
        super().__init__()
        check_number('SupConLoss', 'temperature', temperature)
        if base_temperature is not None:
            check_number('SupConLoss', 'base_temperature', base_temperature)
        _check_selection(pos_k, pos_selection, variant, 'SupConLoss')
        self.temperature = float(temperature)
        self.base_temperature = base_temperature
        self.gather = gather
        self.loss_weight = loss_weight
        self.pos_k = pos_k
        self.pos_selection = pos_selection
        self.variant = variant
        self.seed = int(seed)

    def forward(self,
                features: torch.Tensor,
                labels: torch.Tensor,
                queue_keys: Optional[torch.Tensor] = None,
                queue_labels: Optional[torch.Tensor] = None,
                sample_weight: Optional[torch.Tensor] = None,
                step: int = 0,
                return_num_selected: bool = False):
        """Returns the scalar loss, and with ``return_num_selected`` also
        the (N*V,) number of positives per anchor. ``step`` (the training
        iteration) changes the random positive draw of ``pos_k``."""
        loss, num_sel = supcon_loss(
            features,
            labels,
            queue_keys,
            queue_labels,
            self.temperature,
            self.base_temperature,
            self.gather,
            sample_weight,
            pos_k=self.pos_k,
            pos_selection=self.pos_selection,
            variant=self.variant,
            seed=self.seed,
            step=step,
            return_num_selected=True)
        loss = self.loss_weight * loss
        return (loss, num_sel) if return_num_selected else loss

    def extra_repr(self) -> str:
        out = (f'temperature={self.temperature}, '
               f'base_temperature={self.base_temperature}, '
               f'gather={self.gather}, loss_weight={self.loss_weight}')
        if self.pos_k is not None:
            out += (f', pos_k={self.pos_k}, '
                    f'pos_selection={self.pos_selection!r}, '
                    f'variant={self.variant!r}, seed={self.seed}')
        return out
