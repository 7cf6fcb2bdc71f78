# Copyright (c) ltcls contributors. All rights reserved.
"""The functional core shared by every contrastive loss in ltcls.

SupCon / FCL, KCL, PaCo, ResCom (SPM + in-batch), SBCL and Hybrid-SC are all
instances of one weighted multi-positive InfoNCE over a block of columns::

    l_i = - sum_j w_ij * log( exp(s_ij) / sum_{m valid} exp(s_im) ) / sum_j w_ij

with ``s`` the (already temperature-scaled) logits, ``w >= 0`` the positive
weights and ``valid`` the columns that enter the softmax (empty queue slots,
the anchor itself, ... are masked out). Each method only builds ``s``, ``w``
and ``valid``; the numerics live here once.

Edge cases, by decision:

* an anchor whose positive weights sum to 0 (no positive) has loss 0 and is
  left out of the mean (the SupContrast reference code instead gives such
  an anchor 0 and keeps it in the mean, see :mod:`.supcon_loss`);
* a row with no valid column at all is treated the same way;
* a NaN / +inf logit among an anchor's valid columns makes its loss
  non-finite (never masked to a finite value), so the non-finite-loss
  check stops the run;
* no data-dependent Python branch: nothing is read back from the device
  (``check_weights`` aside), so a CUDA step is not stalled here;
* half-precision inputs are computed in float32 and the loss returned in
  float32 (a log-sum-exp over thousands of fp16 logits overflows).
"""
from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch.autograd.function import once_differentiable

from .utils import compute_dtype_of


def multi_positive_nce(
    logits: torch.Tensor,
    pos_weight: torch.Tensor,
    valid_mask: Optional[torch.Tensor] = None,
    check_weights: bool = True,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor weighted multi-positive InfoNCE.

    Args:
        logits (Tensor): (N, M) similarities already divided by the
            temperature (plus any additive adjustment such as a log-prior).
        pos_weight (Tensor): (N, M) non-negative positive weights; a plain
            multi-positive loss uses the 0/1 positive mask.
        valid_mask (Tensor, optional): (N, M) or (M,) bool, True for
            columns that enter the softmax denominator. Positive weights on
            invalid columns are ignored. Defaults to all valid.
        check_weights (bool): Raise if a float ``pos_weight`` has a
            negative entry. The check reads a device value (a host sync per
            call on an accelerator); callers whose weights are non-negative
            by construction (a bool mask times a scalar checked >= 0) pass
            False. Bool weights are never checked. Defaults to True.

    Returns:
        tuple(Tensor, Tensor): ``loss`` (N,) float32, 0 for anchors without
        positives, and ``has_pos`` (N,) bool.
    """
    if logits.dim() != 2:
        raise ValueError(f'logits must be (N, M), got {tuple(logits.shape)}')
    if pos_weight.shape != logits.shape:
        raise ValueError(f'pos_weight {tuple(pos_weight.shape)} must match '
                         f'logits {tuple(logits.shape)}')
    if valid_mask is not None and valid_mask.shape not in (logits.shape[1:],
                                                           logits.shape):
        raise ValueError(f'valid_mask {tuple(valid_mask.shape)} must be '
                         f'(M,) or match logits {tuple(logits.shape)}')
    compute_dtype = compute_dtype_of(logits)
    logits = logits.to(compute_dtype)
    # Few full-size (N, M) temporaries (each fresh one costs page faults on
    # a CPU): a (M,) valid_mask broadcasts instead of being expanded, a bool
    # pos_weight stays bool (its row sum is an exact count), and nothing is
    # read back from the device (``check_weights`` aside).
    if valid_mask is not None:
        valid_mask = valid_mask.to(torch.bool)
        masked = torch.where(valid_mask, logits, float('-inf'))
    else:
        masked = logits
    if pos_weight.dtype == torch.bool:
        pos = pos_weight if valid_mask is None else pos_weight & valid_mask
        w_sum = pos.sum(dim=1).to(compute_dtype)
        # s_ij only where j is a positive (a caller may pass -inf logits
        # elsewhere); the sum of 1 * s_ij as before
        ws = torch.where(pos, logits, 0.0).sum(dim=1)
    else:
        weight = pos_weight.to(compute_dtype)
        if valid_mask is not None:
            weight = torch.where(valid_mask, weight, 0.0)
        # (weights on invalid columns are ignored, their sign too)
        if check_weights and (weight < 0).any():
            raise ValueError('pos_weight must be non-negative')
        w_sum = weight.sum(dim=1)
        # 0 * -inf would be NaN: w_ij s_ij only where w_ij != 0
        ws = torch.where(weight != 0, weight * logits, 0.0).sum(dim=1)
    # w_sum > 0 implies a valid column (weights on invalid ones are zeroed)
    return nce_from_sums(torch.logsumexp(masked, dim=1), w_sum, ws)


def nce_from_sums(lse: torch.Tensor, w_sum: torch.Tensor,
                  ws: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The loss of :func:`multi_positive_nce` from its three row sums.

    ``l_i = sum_j w_ij (lse_i - s_ij) / sum_j w_ij = (W_i lse_i - S_i) /
    W_i``: callers that get the sums without the (N, M) weight matrix (e.g.
    positives by label equality summed per class,
    :func:`~ltcls.models.losses.contrast_blocks.memory_block_sums`) use the
    same numerics.

    Args:
        lse (Tensor): (N,) log-sum-exp over the valid columns (``-inf`` for
            a row without any).
        w_sum (Tensor): (N,) ``W_i = sum_j w_ij`` over the valid columns.
        ws (Tensor): (N,) ``S_i = sum_j w_ij s_ij``.

    Returns:
        tuple(Tensor, Tensor): ``loss`` (N,), 0 where ``W_i = 0``, and
        ``has_pos`` (N,) bool (``W_i > 0``).
    """
    has_pos = w_sum > 0
    # a row without any valid column has lse = -inf (its loss is 0 below);
    # NaN / +inf stay, so that a non-finite input gives a non-finite loss
    lse = lse.masked_fill(lse == float('-inf'), 0.0)
    # sum_j w_ij (s_ij - lse_i) = w_sum_i lse_i - (w s)_i: no (N, M)
    # log-prob temporary (the memory of a 65,536-key queue); no
    # data-dependent branch, so no host sync.
    num = w_sum * lse - ws
    loss = torch.where(has_pos, num / w_sum.clamp_min(1e-12),
                       torch.zeros_like(num))
    return loss, has_pos


def own_plus_block_nce(
    sim: torch.Tensor,
    pos: torch.Tensor,
    valid: torch.Tensor,
    temperature,
    own: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`multi_positive_nce` over ``[own column, block]`` from row
    sums, without concatenating the own column to an (A, 1 + L) matrix.

    The own column (MoCo's own key: a positive in the softmax), if given,
    enters through ``logaddexp`` and the sums; the block costs one scaled
    copy of ``sim`` (masked in place) and one masked row sum, whatever the
    temperature (scalar or per anchor).

    Args:
        sim (Tensor): (A, L) unscaled similarities.
        pos (Tensor): (A, L) bool positives (only valid ones count).
        valid (Tensor): (A, L) or (L,) bool, the block's softmax columns.
        temperature (float or Tensor): t, scalar or (A,) per anchor.
        own (Tensor, optional): (A,) unscaled own-column similarity, a
            valid positive of every anchor; None: no own column.

    Returns:
        tuple(Tensor, Tensor): ``loss`` (A,) and ``has_pos`` (A,) as
        :func:`multi_positive_nce`.
    """
    t = temperature.view(-1, 1) if torch.is_tensor(temperature) else \
        temperature
    pos = pos & valid
    logits = sim / t
    keep = valid
    if own is None:
        # a row without any valid column: finite logits for a zero (not
        # NaN) log-sum-exp gradient, -inf after (as masked_logsumexp)
        any_valid = torch.broadcast_to(valid, sim.shape).any(dim=1)
        keep = valid | ~any_valid.unsqueeze(1)
    logits.masked_fill_(~keep, float('-inf'))  # in place: one (A, L) copy
    lse = torch.logsumexp(logits, dim=1)
    w_sum = pos.sum(dim=1).to(sim.dtype)
    ws = torch.where(pos, sim, 0.0).sum(dim=1) / (
        t.view(-1) if torch.is_tensor(t) else t)
    if own is None:
        lse = torch.where(any_valid, lse, float('-inf'))
    else:
        own = own / (t.view(-1) if torch.is_tensor(t) else t)
        lse = torch.logaddexp(own, lse)
        w_sum = w_sum + 1
        ws = ws + own
    return nce_from_sums(lse, w_sum, ws)


class _ProductLSE(torch.autograd.Function):
    """Row log-sum-exp of ``s = scale * q K^T + b`` (some columns of some
    rows left out) and the values of picked columns, owning its (A, L)
    buffer; the one kernel behind :func:`block_lse` and
    :func:`excluded_lse`.

    Forward: one ``mm`` / ``addmm`` writes ``s``, the picked (A, E)
    columns are gathered, the excluded ones set to ``-inf`` by an (A, E)
    scatter, then ``amax`` and, in place, ``sub_`` / ``exp_`` / row sum:
    the buffer ends as ``e_ij = exp(s_ij - m_i)`` (``m_i`` the row max, 0
    where it is infinite, as ``torch.logsumexp``) and is the only saved
    (A, L) tensor. Backward does not modify it: the softmax is ``e_ij /
    S_i``, so with ``w = g / S`` ``dq = scale (E K w + sum_e g'_ie
    k_{c_ie})``, ``dK = E^T (q' w) + scatter(g' q')``, ``db = w^T E +
    scatter(g')`` (``q' = scale q``, ``g'`` the picked columns'
    gradient): one product per input that needs a gradient, no
    softmax-sized temporary, and a second backward (``retain_graph``) reads
    the same buffer.
    """

    @staticmethod
    def forward(ctx, q, keys, col, cols, exclude, scale):
        qs = q * scale if scale != 1.0 else q  # (A, d): no (A, L) scaling
        buf = torch.mm(qs, keys.t()) if col is None else torch.addmm(
            col, qs, keys.t())
        picked = buf.gather(1, cols)  # (A, E)
        if exclude is not None:
            buf.scatter_(
                1, cols,
                torch.where(exclude[:, None],
                            torch.full_like(picked, float('-inf')), picked))
        m = buf.amax(dim=1, keepdim=True)
        m = m.masked_fill(m.isinf(), 0.0)
        s = buf.sub_(m).exp_().sum(dim=1)
        lse = s.log() + m.view(-1)
        ctx.save_for_backward(qs, keys, buf, s, cols)
        ctx.scale = scale
        return lse, picked

    @staticmethod
    @once_differentiable
    def backward(ctx, g_lse, g_picked):
        qs, keys, buf, s, cols = ctx.saved_tensors
        w = (g_lse / s).unsqueeze(1)  # (A, 1): softmax = e / s
        picks = cols.shape[1] > 0  # a shape, not a device value
        gq = gk = gb = None
        if ctx.needs_input_grad[0]:
            gq = (buf @ keys) * w
            if picks:
                gq = gq + (g_picked.unsqueeze(2) * keys[cols]).sum(dim=1)
            if ctx.scale != 1.0:
                gq = gq * ctx.scale
        flat = cols.reshape(-1)
        if ctx.needs_input_grad[1]:
            gk = buf.t() @ (qs * w)
            if picks:
                gk.index_add_(0, flat, (g_picked.unsqueeze(2) *
                                        qs.unsqueeze(1)).reshape(
                                            -1, qs.shape[1]))
        if ctx.needs_input_grad[2]:
            gb = (w.t() @ buf).view(-1)
            if picks:
                gb.index_add_(0, flat, g_picked.reshape(-1))
        return gq, gk, gb, None, None, None


def block_lse(z: torch.Tensor,
              keys: torch.Tensor,
              col: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(A,) ``log sum_j exp(z_i . k_j + b_j)`` with one (A, L) buffer.

    The same values as ``torch.logsumexp(torch.addmm(col, z, keys.t()),
    dim=1)`` (float rounding of the summation order aside) and their
    gradients, but autograd keeps neither the logits nor a softmax-sized
    gradient: the function owns its product buffer (exponentiated in
    place, reused by the backward products). ``-inf`` entries of ``col``
    (masked columns) drop out; a row whose columns are all ``-inf`` gives
    ``-inf`` (and a NaN gradient, as ``torch.logsumexp``: callers mask such
    rows, see :func:`~ltcls.models.losses.contrast_blocks.memory_block_lse`);
    NaN / +inf propagate. Double backward is refused
    (``once_differentiable``).

    Args:
        z (Tensor): (A, d) anchors, already divided by the temperature
            (a per-anchor temperature scales the rows).
        keys (Tensor): (L, d) keys in ``z``'s dtype and device.
        col (Tensor, optional): (L,) column bias in ``z``'s dtype
            (``-inf``: the column is out of the softmax). Defaults to 0.

    Returns:
        Tensor: (A,).
    """
    no_cols = torch.empty(z.shape[0], 0, dtype=torch.long, device=z.device)
    return _ProductLSE.apply(z, keys, col, no_cols, None, 1.0)[0]


def masked_logsumexp(logits: torch.Tensor,
                     valid: torch.Tensor) -> torch.Tensor:
    """(N,) log-sum-exp over the valid columns of each row; ``-inf`` for a
    row without any, with a zero (not NaN) gradient there.

    Args:
        logits (Tensor): (N, M).
        valid (Tensor): (N, M) bool.
    """
    any_valid = valid.any(dim=1)
    keep = valid | ~any_valid.unsqueeze(1)
    lse = torch.logsumexp(torch.where(keep, logits, float('-inf')), dim=1)
    return torch.where(any_valid, lse, float('-inf'))


def reduce_anchor_loss(loss: torch.Tensor,
                       has_pos: torch.Tensor,
                       sample_weight: Optional[torch.Tensor] = None,
                       global_average: bool = True) -> torch.Tensor:
    """Mean of per-anchor losses over the anchors that have positives.

    With ``global_average`` and an initialised process group, the divisor is
    the number of such anchors over *all* ranks divided by the world size,
    so that DDP's gradient averaging yields exactly the mean over the
    global batch (a W-process run equals the 1-process run on the same
    global batch even when ranks have different numbers of valid anchors).

    Args:
        loss (Tensor): (N,) per-anchor losses (0 where ``has_pos`` is False).
        has_pos (Tensor): (N,) bool.
        sample_weight (Tensor, optional): (N,) per-anchor weights.

    Returns:
        Tensor: scalar.
    """
    if sample_weight is not None:
        loss = loss * sample_weight.to(loss.dtype)
    count = has_pos.sum().to(loss.dtype)
    if global_average and dist.is_available() and dist.is_initialized() \
            and dist.get_world_size() > 1:
        count = count.detach().clone()
        dist.all_reduce(count)
        count = count / dist.get_world_size()
    # no anchor has a positive: 0, graph kept. torch.where instead of an
    # ``if`` on count: no host sync (same values and gradients as the if)
    has_any = count > 0
    out = loss.sum() / torch.where(has_any, count, torch.ones_like(count))
    return torch.where(has_any, out, out * 0.0)


class _UnitNormalize(torch.autograd.Function):
    """``x / max(||x||, eps)`` over the last dim with a closed-form
    backward (see :func:`unit_normalize`)."""

    @staticmethod
    def forward(ctx, x, eps):
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        # F.normalize's clamp_min passes the gradient where norm >= eps
        unclamped = norm >= eps
        norm = norm.clamp_min_(eps)
        y = x / norm
        ctx.save_for_backward(y, norm, unclamped)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        y, norm, unclamped = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        # d(x / ||x||) = (g - y (y . g)) / ||x||; a clamped norm is a
        # constant eps (no projection), as autograd through F.normalize
        dot = (y * grad).sum(dim=-1, keepdim=True)
        dot = torch.where(unclamped, dot, torch.zeros_like(dot))
        return torch.addcmul(grad, y, dot, value=-1).div_(norm), None


def unit_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``F.normalize(x, dim=-1, eps=eps)`` with a closed-form backward.

    Same values as ``F.normalize``; the input gradient
    ``(g - y (y . g)) / max(||x||, eps)`` (``g / eps`` where the norm is
    clamped) equals autograd's through ``F.normalize`` to rounding, in
    three elementwise passes instead of autograd's division, expand and
    norm backward (the cost of a large prototype bank). Not twice
    differentiable.

    Args:
        x (Tensor): (..., D) floating tensor.
        eps (float): Lower bound of the norm. Defaults to 1e-12.

    Returns:
        Tensor: (..., D) rows of unit norm (0 for a zero row).
    """
    return _UnitNormalize.apply(x, eps)


def excluded_lse(
    q: torch.Tensor,
    k: torch.Tensor,
    cols: torch.Tensor,
    scale: float = 1.0,
    exclude: Optional[torch.Tensor] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Log-sum-exp of the rows of ``s = scale * q @ k.T`` without some
    columns, and the values of those columns, in one fused pass.

    ::

        picked_ie = s_{i, cols_ie}
        lse_i     = logsumexp_{j not in cols_i} s_ij   (exclude_i True)
                  = logsumexp_j s_ij                   (exclude_i False)

    (PSC's Eq. 4 denominator: the positive prototypes left out.) The same
    kernel as :func:`block_lse` (``_ProductLSE``): the (N, K) logits are one
    buffer owned by the function (1 / temperature applied to the (N, D)
    queries), the excluded columns set to ``-inf`` by an (N, E) scatter and
    the buffer exponentiated in place and kept for the backward, which
    returns the gradients to ``q`` and ``k`` by one matmul each (plus the
    picked columns' (N, E) terms), so autograd never holds a second (N, K)
    tensor. Values and gradients equal ``torch.logsumexp`` / ``gather``
    over ``q @ k.T * scale`` to rounding; a NaN / +inf logit in a row's
    kept columns gives a non-finite ``lse``. Not twice differentiable.

    Args:
        q (Tensor): (N, D) queries.
        k (Tensor): (K, D) keys, same dtype.
        cols (Tensor): (N, E) int64 column indices in ``[0, K)``, distinct
            within a row.
        scale (float): Multiplier of the logits (1 / temperature).
            Defaults to 1.
        exclude (Tensor, optional): (N,) bool, the rows whose ``cols`` are
            left out of the log-sum-exp (a row must keep one column).
            None: no row excludes (``cols`` only picked).

    Returns:
        tuple(Tensor, Tensor): ``lse`` (N,) and ``picked`` (N, E).
    """
    if q.dim() != 2 or k.dim() != 2 or q.size(1) != k.size(1):
        raise ValueError(f'excluded_lse: q (N, D) and k (K, D) expected, '
                         f'got {tuple(q.shape)} and {tuple(k.shape)}')
    if cols.dim() != 2 or cols.size(0) != q.size(0):
        raise ValueError(f'excluded_lse: cols must be ({q.size(0)}, E), got '
                         f'{tuple(cols.shape)}')
    return _ProductLSE.apply(q, k, None, cols.long(), exclude, float(scale))
