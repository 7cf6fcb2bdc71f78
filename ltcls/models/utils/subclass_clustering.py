# Copyright (c) ltcls contributors. All rights reserved.
"""Subclass-balancing adaptive clustering of SBCL (Hou et al., ICCV 2023).

Every class ``c`` with ``n_c`` training samples is split into
``m_c = max(1, floor(n_c / M))`` subclasses with ``M = max(n_min, delta)``
(``n_min`` the smallest class size; spec_sbcl §3.1), by k-means on the
L2-normalised embeddings of the class (cosine similarity). Subclass ids are
made globally unique: ``id = offset_c + local_id`` with
``offset_c = sum_{c' < c} m_c'`` (§3.6), so equal subclass ids imply equal
class labels. Nothing assumes the samples are sorted by class (§9.14).

Two assignment rules (§3.2, §3.3):

* ``'kmeans'``: plain spherical k-means (the released code's default):
  nearest centre by cosine, centres = normalised means, an empty cluster is
  re-seeded with the sample farthest from its centre.
* ``'balanced_greedy'`` (the paper's Algorithm 1, default): the globally
  most similar (sample, open centre) pair is assigned first and a centre
  closes when full. Capacities follow §3.2's decision: every centre takes
  ``floor(n_c / m_c)`` samples, then the ``n_c mod m_c`` left-over samples
  are assigned greedily with at most one extra sample per centre, so sizes
  are ``floor`` or ``ceil`` of ``n_c / m_c`` and every sample is assigned.

Speed. All classes run at once: classes with ``m_c > 1`` are grouped into a
few buckets of similar size (``floor(log2 n_c)``), padded into
``(B, n_max, d)`` tensors and processed with batched matrix products; a
class that has converged is frozen, so the result equals running every
class on its own from the same initial centres. The greedy assignment is
computed with *deferred acceptance* (samples propose to their most similar
centre not yet tried, centres keep their ``cap`` most similar proposers):
with preferences from a common similarity score the capacitated stable
matching is unique and equals the greedy matching, so the result is the
greedy one while every round is a vectorised sort over all classes
(``tests/test_models/test_utils/test_subclass_clustering.py`` checks it
against a plain greedy loop).
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    'num_subclasses_per_class', 'subclass_offsets', 'cluster_subclasses',
    'class_temperature', 'batched_spherical_kmeans', 'balanced_assign',
    'greedy_capacity_assign', 'SubclassClusteringResult'
]

CLUSTER_ALGOS = ('balanced_greedy', 'kmeans')
INIT_METHODS = ('kmeans++', 'random')
TEMPERATURE_MODES = ('exp', 'linear', 'fixed')

ArrayLike = Union[Sequence[int], np.ndarray, torch.Tensor]


def num_subclasses_per_class(class_counts: ArrayLike,
                             delta: int,
                             n_min: Optional[int] = None) -> np.ndarray:
    """Number of subclasses of every class (spec_sbcl §3.1).

    ``m_c = max(1, floor(n_c / max(n_min, delta)))``.

    Args:
        class_counts (array-like): (C,) training samples per class.
        delta (int): Lower bound δ of the subclass size (10 on CIFAR-100-LT,
            20 on ImageNet-LT / iNaturalist 2018).
        n_min (int, optional): Tail size ``n_C``. Defaults to the smallest
            non-zero count.

    Returns:
        np.ndarray: (C,) int64, ``m_c >= 1``.

    Example:
        >>> from ltcls.datasets import long_tail_counts
        >>> num_subclasses_per_class(long_tail_counts(500, 100, 100), 10).sum()
        1051
    """
    counts = np.asarray(
        class_counts.cpu()
        if isinstance(class_counts, torch.Tensor) else class_counts,
        dtype=np.int64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError('class_counts must be a non-empty 1-D array, got '
                         f'shape {counts.shape}')
    if (counts < 0).any():
        raise ValueError(f'class_counts must be >= 0, got {counts.min()}')
    if not counts.any():
        raise ValueError('class_counts are all zero')
    if int(delta) < 1:
        raise ValueError(f'delta must be >= 1, got {delta}')
    if n_min is None:
        n_min = int(counts[counts > 0].min())
    elif int(n_min) < 1:
        raise ValueError(f'n_min must be >= 1, got {n_min}')
    cap = max(int(n_min), int(delta))
    return np.maximum(1, counts // cap).astype(np.int64)


def subclass_offsets(num_subclasses: ArrayLike) -> np.ndarray:
    """(C,) first global subclass id of every class (exclusive cumsum)."""
    m = np.asarray(num_subclasses, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(m)[:-1]]).astype(np.int64)


class SubclassClusteringResult(NamedTuple):
    """Output of :func:`cluster_subclasses`.

    Attributes:
        sub_labels (Tensor): (N,) long, global subclass id of every sample.
        num_subclasses (Tensor): (C,) long, ``m_c``.
        offsets (Tensor): (C,) long, first global id of every class.
        sizes (Tensor): (sum m_c,) long, samples in every subclass.
        iterations (Tensor): (C,) long, Lloyd iterations run per class (0
            for classes that are a single subclass).
    """
    sub_labels: torch.Tensor
    num_subclasses: torch.Tensor
    offsets: torch.Tensor
    sizes: torch.Tensor
    iterations: torch.Tensor


# ---------------------------------------------------------------------------
# greedy capacity-limited assignment (Algorithm 1's inner step)
# ---------------------------------------------------------------------------
def _sortable_key(score: torch.Tensor) -> torch.Tensor:
    """Map float32 scores to int64 keys in ``[0, 2**32)`` with the same
    order (IEEE-754 bit trick), so that ties can be broken exactly."""
    bits = score.to(torch.float32).contiguous().view(torch.int32).long()
    key = torch.where(bits < 0, -(bits + 2**31) - 1, bits)
    return key + 2**31


def _sort_by_group(group: torch.Tensor, prio: torch.Tensor) -> torch.Tensor:
    """Permutation sorting 1-D ``group`` ascending, then ``prio``
    descending (two stable sorts)."""
    order = torch.sort(prio, descending=True, stable=True)[1]
    return order[torch.sort(group[order], stable=True)[1]]


def greedy_capacity_assign(sim: torch.Tensor,
                           row: torch.Tensor,
                           caps: torch.Tensor,
                           proposers: Optional[torch.Tensor] = None,
                           max_rounds: Optional[int] = None) -> torch.Tensor:
    """Greedy capacity-limited assignment of many classes at once.

    For every class (``row``), equivalent to: repeatedly take the most
    similar (unassigned proposer, open centre) pair (ties: lower sample
    index, then lower centre index), assign it, and close the centre once it
    holds ``caps`` samples; stop when no pair is left. Similarities are
    compared in float32.

    Computed as sample-proposing deferred acceptance, which returns the same
    matching: when both sides rank pairs by one common score the
    capacitated stable matching is unique, and the greedy matching is
    stable. Every round, the samples rejected so far propose to their next
    most similar centre; a centre keeps its ``cap`` best proposers (held
    ones included) and evicts the rest. After the first round a round costs
    O(proposals x K): the held set of every centre is a sorted row of a
    ``(R * K, max cap)`` table and new proposals are ranked against it with
    ``searchsorted``; the number of rounds does not depend on the number of
    classes.

    Args:
        sim (Tensor): (S, K) similarity of every sample to the K centres of
            its class.
        row (Tensor): (S,) long, class (row of ``caps``) of every sample.
            Samples of a class keep their relative order for tie-breaking.
        caps (Tensor): (R, K) long, capacity of every centre (0 = unused).
        proposers (Tensor, optional): (S,) bool, samples to assign.
            Defaults to all.
        max_rounds (int, optional): Safety bound, default ``S * K + 1``.

    Returns:
        Tensor: (S,) long, centre in ``[0, K)`` of every assigned sample, -1
        for samples that are not proposers or found no open centre.
    """
    S, K = sim.shape
    device = sim.device
    caps = caps.to(torch.long)
    row = row.to(torch.long)
    if proposers is None:
        proposers = torch.ones(S, dtype=torch.bool, device=device)
    sim = sim.to(torch.float32)
    closed = caps <= 0  # (R, K), masked lazily on the proposers' rows
    n_open = (~closed).sum(1)[row]  # (S,)
    assign = torch.full((S, ), -1, dtype=torch.long, device=device)
    if S == 0:
        return assign
    idx_bits = max(1, (S - 1).bit_length())
    idx_mask = (1 << idx_bits) - 1
    C = max(int(caps.max()), 1)
    flat_caps = caps.reshape(-1)
    held = torch.full((caps.numel(), C), -1, dtype=torch.long, device=device)
    held_cnt = torch.zeros(caps.numel(), dtype=torch.long, device=device)
    tried = torch.zeros(S, dtype=torch.long, device=device)
    last = torch.full((S, ), -1, dtype=torch.long, device=device)
    cols = torch.arange(K, device=device)
    ccols = torch.arange(C, device=device)
    ps = torch.nonzero(proposers & (n_open > 0)).squeeze(1)
    if max_rounds is None:
        max_rounds = S * K + 1
    for it in range(max_rounds):
        ps = ps[tried[ps] < n_open[ps]]
        if ps.numel() == 0:
            return assign
        rs = sim[ps].masked_fill(closed[row[ps]], float('-inf'))  # (M, K)
        if it == 0:  # nobody has proposed yet: most similar open centre
            ch = rs.argmax(1)
        else:
            # next centre: the best one after the last tried, in the order
            # (similarity desc, centre index asc)
            lp = last[ps]
            s_last = rs.gather(1, lp[:, None])
            allowed = (rs < s_last) | ((rs == s_last) & (cols > lp[:, None]))
            ch = rs.masked_fill(~allowed, float('-inf')).argmax(1)
        last[ps] = ch
        tried[ps] += 1
        g = row[ps] * K + ch
        # priority: float32 score bits, then lower sample index first
        prio = (_sortable_key(rs.gather(1, ch[:, None]).squeeze(1)) <<
                idx_bits) | (
                    S - 1 - ps)
        if it == 0:
            better_held = torch.zeros_like(prio)
        else:  # held entries (ascending, -1 padding in front) beating prio
            better_held = C - torch.searchsorted(
                held[g], prio[:, None], right=True).squeeze(1)
        order = _sort_by_group(g, prio)
        g_sorted = g[order]
        first = torch.ones_like(g_sorted, dtype=torch.bool)
        first[1:] = g_sorted[1:] != g_sorted[:-1]
        pos = torch.arange(len(g), device=device)
        start = torch.cummax(
            torch.where(first, pos, torch.zeros_like(pos)), 0)[0]
        rank_new = torch.empty_like(g)
        rank_new[order] = pos - start
        acc = (better_held + rank_new) < flat_caps[g]
        nxt = [ps[~acc]]  # rejected proposals move on
        if bool(acc.any()):
            ga, pa, ra = g[acc], prio[acc], rank_new[acc]
            rows, inv = torch.unique(ga, return_inverse=True)
            n_acc = torch.bincount(inv, minlength=len(rows))
            h = held_cnt[rows]
            evict = (h + n_acc - flat_caps[rows]).clamp(min=0)
            lo = (C - h)[:, None]
            ev_mask = (ccols[None] >= lo) & (ccols[None] < lo + evict[:, None])
            old = held[rows]
            ev_p = old[ev_mask]
            if ev_p.numel():  # the weakest held samples are displaced
                ev_s = S - 1 - (ev_p & idx_mask)
                assign[ev_s] = -1
                nxt.append(ev_s)
            new = torch.full((len(rows), int(n_acc.max())),
                             -1,
                             dtype=torch.long,
                             device=device)
            new[inv, ra] = pa
            merged = torch.sort(
                torch.cat([old.masked_fill(ev_mask, -1), new], 1), dim=1)[0]
            held[rows] = merged[:, -C:]
            held_cnt[rows] = h + n_acc - evict
            assign[ps[acc]] = ch[acc]
        ps = torch.cat(nxt)
    raise RuntimeError('greedy_capacity_assign did not converge in '
                       f'{max_rounds} rounds')


def balanced_assign(sim: torch.Tensor,
                    caps: torch.Tensor,
                    proposers: Optional[torch.Tensor] = None) -> torch.Tensor:
    """:func:`greedy_capacity_assign` on a padded batch of classes.

    Args:
        sim (Tensor): (B, n, K) similarities.
        caps (Tensor): (B, K) long capacities (0 = unused centre).
        proposers (Tensor, optional): (B, n) bool. Defaults to all.

    Returns:
        Tensor: (B, n) long centre ids, -1 where unassigned.
    """
    B, n, K = sim.shape
    row = torch.arange(B, device=sim.device).repeat_interleave(n)
    if proposers is not None:
        proposers = proposers.reshape(-1)
    return greedy_capacity_assign(sim.reshape(B * n, K), row, caps,
                                  proposers).view(B, n)


def _balanced_two_phase(sim: torch.Tensor, row: torch.Tensor, k: torch.Tensor,
                        n_c: torch.Tensor) -> torch.Tensor:
    """§3.2 decision: cap ``floor(n_c/m_c)`` for every centre, then the
    ``n_c mod m_c`` left-over samples with one extra slot per centre.
    ``sim`` (S, K) flat, ``row`` (S,), ``k`` and ``n_c`` (R,)."""
    K = sim.shape[1]
    centre_ok = torch.arange(K, device=sim.device)[None] < k[:, None]
    base = torch.where(centre_ok, (n_c // k.clamp(min=1))[:, None],
                       torch.zeros_like(centre_ok, dtype=torch.long))
    assign = greedy_capacity_assign(sim, row, base)
    left = assign < 0
    if bool(left.any()):
        extra = greedy_capacity_assign(sim, row, centre_ok.long(), left)
        assign = torch.where(left, extra, assign)
    return assign


# ---------------------------------------------------------------------------
# batched spherical k-means over buckets of padded classes
# ---------------------------------------------------------------------------
def _init_centres(x: torch.Tensor, valid: torch.Tensor, K: int, init: str,
                  generator: torch.Generator) -> torch.Tensor:
    """(B, K, d) initial centres drawn from the valid samples of every
    class (all classes at once; centres beyond a class's k are unused)."""
    B, n, d = x.shape
    bidx = torch.arange(B, device=x.device)
    u = torch.rand(B, n, generator=generator).to(x.device)
    if init == 'random':
        # distinct samples: smallest random keys among the valid ones
        keys = u.masked_fill(~valid, 2.0)
        idx = torch.argsort(keys, dim=1)[:, :K]
        if idx.shape[1] < K:
            idx = torch.cat([idx, idx[:, :1].expand(B, K - idx.shape[1])], 1)
        return x[bidx[:, None], idx]
    # k-means++ (distance 1 - cos, probability ~ D^2); sampling by the
    # exponential race: argmax_i (log w_i + Gumbel_i)
    centres = x.new_zeros(B, K, d)
    first = u.masked_fill(~valid, -1.0).argmax(1)
    centres[:, 0] = x[bidx, first]
    dmin = (1 - torch.einsum('bnd,bd->bn', x, centres[:, 0])).clamp(min=0)
    if K > 1:
        gumbel = -torch.log(-torch.log(
            torch.rand(K - 1, B, n, generator=generator).clamp(
                1e-12, 1 - 1e-7))).to(x.device)
    for j in range(1, K):
        w = (dmin**2) * valid
        flat = w.sum(1, keepdim=True) <= 0  # all points on the centres
        w = torch.where(flat, valid.to(w.dtype), w)
        pick = (torch.log(w) + gumbel[j - 1]).argmax(1)
        centres[:, j] = x[bidx, pick]
        d_new = (1 - torch.einsum('bnd,bd->bn', x, centres[:, j])).clamp(min=0)
        dmin = torch.minimum(dmin, d_new)
    return centres


class _Bucket:
    """State of one padded batch of classes during :func:`_kmeans_buckets`.

    x (B, n, d), valid (B, n), k (B,), centres (B, K, d), assign (B, n),
    n_iters (B,), act (indices of classes that have not converged)."""

    def __init__(self, x, valid, k, centres):
        B, n, _ = x.shape
        self.x, self.valid, self.k = x, valid, k
        self.centres = F.normalize(centres, dim=-1)
        K = centres.shape[1]
        self.centre_ok = torch.arange(K, device=x.device)[None] < k[:, None]
        self.assign = torch.full((B, n), -1, dtype=torch.long, device=x.device)
        self.n_iters = torch.zeros(B, dtype=torch.long, device=x.device)
        self.act = torch.arange(B, device=x.device)


def _kmeans_buckets(buckets: List[_Bucket], algo: str, max_iters: int,
                    tol: float) -> None:
    """Lloyd iterations of all buckets in lock-step (in place).

    Per iteration: one ``bmm`` per bucket for the similarities, one greedy
    assignment for *all* buckets together (``'balanced_greedy'``), one
    ``index_add`` per bucket for the centres. Classes whose centres moved by
    ``(sum_j ||c_j - c_j_prev||)^2 < tol`` are frozen and dropped."""
    for _ in range(max(int(max_iters), 1)):
        live = [b for b in buckets if b.act.numel() > 0]
        if not live:
            return
        steps = []
        for b in live:
            full = b.act.numel() == b.x.shape[0]
            xa = b.x if full else b.x[b.act]
            va = b.valid if full else b.valid[b.act]
            ka = b.k if full else b.k[b.act]
            Ka = int(ka.max())
            ca, oka = b.centres[b.act, :Ka], b.centre_ok[b.act, :Ka]
            sim = torch.bmm(xa, ca.transpose(1, 2))  # (Ba, n, Ka)
            sim = sim.masked_fill(~oka[:, None, :], float('-inf'))
            steps.append([b, xa, va, ka, ca, oka, sim, None])
        if algo == 'kmeans':
            for st in steps:
                st[7] = st[6].argmax(2)
        else:
            _assign_all_balanced(steps)
        for b, xa, va, ka, ca, oka, sim, assign in steps:
            assign = assign.masked_fill(~va, -1)
            new_c = _update_centres(xa, va, ca, oka, sim, assign)
            b.assign[b.act] = assign
            b.n_iters[b.act] += 1
            shift = ((new_c - ca).norm(dim=2) * oka).sum(1)**2
            b.centres[b.act, :ca.shape[1]] = new_c
            b.act = b.act[shift >= tol]


def _assign_all_balanced(steps: list) -> None:
    """Greedy balanced assignment of every live bucket in one call (the
    valid samples of all buckets flattened, K padded to the largest)."""
    K = max(st[6].shape[2] for st in steps)
    where = [torch.nonzero(st[2], as_tuple=True) for st in steps]
    S = sum(len(bi) for bi, _ in where)
    sims = steps[0][6].new_full((S, K), float('-inf'))
    rows, ks, ncs = [], [], []
    i0 = r0 = 0
    for (_, _, va, ka, _, _, sim, _), (bi, ni) in zip(steps, where):
        sims[i0:i0 + len(bi), :sim.shape[2]] = sim[bi, ni]
        rows.append(bi + r0)
        ks.append(ka)
        ncs.append(va.sum(1))
        i0 += len(bi)
        r0 += sim.shape[0]
    flat = _balanced_two_phase(sims, torch.cat(rows), torch.cat(ks),
                               torch.cat(ncs))
    i0 = 0
    for st, (bi, ni) in zip(steps, where):
        a = torch.full(st[2].shape, -1, dtype=torch.long, device=st[6].device)
        a[bi, ni] = flat[i0:i0 + len(bi)]
        i0 += len(bi)
        st[7] = a


def _update_centres(x: torch.Tensor, valid: torch.Tensor,
                    centres: torch.Tensor, centre_ok: torch.Tensor,
                    sim: torch.Tensor, assign: torch.Tensor) -> torch.Tensor:
    """Normalised member means (index_add, O(n d)); an empty cluster is
    re-seeded with the sample farthest from its centre (the e-th empty
    cluster of a class takes the e-th farthest sample)."""
    B, n, d = x.shape
    K = centres.shape[1]
    bidx = torch.arange(B, device=x.device)
    flat = (bidx[:, None] * K + assign.clamp(min=0)).reshape(-1)
    w = valid.reshape(-1).to(x.dtype)
    sums = x.new_zeros(B * K, d).index_add_(0, flat,
                                            x.reshape(-1, d) * w[:, None])
    cnt = x.new_zeros(B * K).index_add_(0, flat, w).view(B, K)
    sums = sums.view(B, K, d)
    empty = centre_ok & (cnt == 0)
    if bool(empty.any()):
        own = sim.gather(2, assign.clamp(min=0)[..., None]).squeeze(2)
        own = own.masked_fill(~valid, float('inf'))
        far = torch.argsort(own, dim=1, stable=True)  # least similar first
        e_rank = (torch.cumsum(empty.long(), 1) - 1).clamp(min=0, max=n - 1)
        seeds = x[bidx[:, None], far.gather(1, e_rank)]  # (B, K, d)
        sums = torch.where(empty[..., None], seeds, sums)
    new_centres = F.normalize(sums, dim=-1)
    return torch.where(centre_ok[..., None], new_centres, centres)


def _make_bucket(x, valid, k, init, generator) -> _Bucket:
    B, n, d = x.shape
    k = k.to(torch.long)
    n_c = valid.sum(1)
    if bool(((k < 1) | (k > n_c)).any()):
        bad = int(torch.nonzero((k < 1) | (k > n_c))[0])
        raise ValueError(f'class {bad} of the batch asks for {int(k[bad])} '
                         f'clusters but has {int(n_c[bad])} samples')
    K = int(k.max())
    x = x.float().masked_fill(~valid[..., None], 0.0)
    if isinstance(init, torch.Tensor):
        if tuple(init.shape) != (B, K, d):
            raise ValueError(f'init centres must be {(B, K, d)}, got '
                             f'{tuple(init.shape)}')
        centres = init.to(x)
    elif init in INIT_METHODS:
        centres = _init_centres(x, valid, K, init, generator)
    else:
        raise ValueError(f'init must be one of {INIT_METHODS} or a tensor, '
                         f'got {init!r}')
    return _Bucket(x, valid, k, centres)


def batched_spherical_kmeans(
    x: torch.Tensor,
    valid: torch.Tensor,
    k: torch.Tensor,
    algo: str = 'balanced_greedy',
    init: Union[str, torch.Tensor] = 'kmeans++',
    max_iters: int = 35,
    tol: float = 1e-3,
    generator: Optional[torch.Generator] = None
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cosine k-means of B classes at once, each with its own ``k``.

    Args:
        x (Tensor): (B, n, d) L2-normalised features, padded (any value) where
            ``valid`` is False.
        valid (Tensor): (B, n) bool.
        k (Tensor): (B,) long, clusters per class, ``1 <= k_b <= n_b``.
        algo (str): ``'balanced_greedy'`` or ``'kmeans'``.
        init (str | Tensor): ``'kmeans++'``, ``'random'`` or (B, max k, d)
            initial centres.
        max_iters (int): Maximum Lloyd iterations.
        tol (float): A class stops when ``(sum_j ||c_j - c_j_prev||)^2 <
            tol`` (the released code's criterion).
        generator (torch.Generator, optional): RNG of the initialisation.

    Returns:
        tuple(Tensor, Tensor, Tensor): assignment (B, n) long in
        ``[0, k_b)``, -1 on padding; centres (B, K, d); Lloyd iterations run
        per class (B,).
    """
    if algo not in CLUSTER_ALGOS:
        raise ValueError(f'algo must be one of {CLUSTER_ALGOS}, got {algo!r}')
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    b = _make_bucket(x, valid, k, init, generator)
    _kmeans_buckets([b], algo, max_iters, tol)
    return b.assign, b.centres, b.n_iters


def _group_by_class(
        labels: torch.Tensor,
        num_classes: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample indices grouped by class without assuming sorted labels.

    Returns ``order`` (N,) (indices sorted by class, stable), ``counts``
    (C,) and ``starts`` (C,) (position of every class in ``order``)."""
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    return order, counts, starts


def _buckets(cls: np.ndarray, counts: np.ndarray, m: np.ndarray,
             max_elems: int) -> List[np.ndarray]:
    """Split classes into buckets of similar size (floor(log2 n_c)) whose
    padded similarity tensor B * n_max * K_max stays below ``max_elems``."""
    out = []
    keys = np.floor(np.log2(counts[cls])).astype(np.int64)
    for key in np.unique(keys):
        members = cls[keys == key]
        members = members[np.argsort(-counts[members], kind='stable')]
        per_class = int(counts[members].max()) * int(m[members].max())
        step = max(1, max_elems // max(per_class, 1))
        out.extend(members[i:i + step] for i in range(0, len(members), step))
    return out


@torch.no_grad()
def cluster_subclasses(
        features: torch.Tensor,
        labels: torch.Tensor,
        num_classes: int,
        delta: int,
        algo: str = 'balanced_greedy',
        init: str = 'kmeans++',
        max_iters: int = 50,
        tol: float = 1e-3,
        seed: int = 0,
        class_counts: Optional[ArrayLike] = None,
        n_min: Optional[int] = None,
        max_bucket_elems: int = 2**24) -> SubclassClusteringResult:
    """Split every class into subclasses (spec_sbcl §3).

    Args:
        features (Tensor): (N, d) embeddings; L2-normalised here.
        labels (Tensor): (N,) long class labels in ``[0, num_classes)``, in
            any order.
        num_classes (int): C.
        delta (int): δ of :func:`num_subclasses_per_class`.
        algo (str): ``'balanced_greedy'`` (paper, Alg. 1) or ``'kmeans'``
            (released code's default).
        init (str): ``'kmeans++'`` or ``'random'``.
        max_iters (int): Lloyd iterations per class (50 balanced / 35
            k-means in the released code).
        tol (float): Convergence tolerance, see
            :func:`batched_spherical_kmeans`.
        seed (int): Seed of the initialisation (the result is a
            deterministic function of the inputs and the seed).
        class_counts (array-like, optional): (C,) counts used for ``m_c``;
            defaults to the counts of ``labels``.
        n_min (int, optional): Passed to :func:`num_subclasses_per_class`.
        max_bucket_elems (int): Memory bound of one padded bucket
            (elements of its (B, n, K) similarity tensor).

    Returns:
        SubclassClusteringResult
    """
    if features.dim() != 2:
        raise ValueError('features must be (N, d), got '
                         f'{tuple(features.shape)}')
    labels = labels.to(torch.long).reshape(-1)
    if labels.numel() != features.shape[0]:
        raise ValueError(f'labels has {labels.numel()} entries but features '
                         f'has {features.shape[0]} rows')
    if labels.numel() == 0:
        raise ValueError('cannot cluster an empty feature set')
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f'labels must be in [0, {num_classes}), got range '
                         f'[{int(labels.min())}, {int(labels.max())}]')
    if algo not in CLUSTER_ALGOS:
        raise ValueError(f'algo must be one of {CLUSTER_ALGOS}, got {algo!r}')
    if init not in INIT_METHODS:
        raise ValueError(f'init must be one of {INIT_METHODS}, got {init!r}')
    if not torch.isfinite(features).all():
        raise ValueError('features contain NaN or Inf')
    device = features.device
    x_all = F.normalize(features.detach().float(), dim=1)
    order, counts_t, starts_t = _group_by_class(labels, num_classes)
    counts = counts_t.cpu().numpy()
    if class_counts is None:
        class_counts = counts
    m = num_subclasses_per_class(class_counts, delta, n_min)
    if len(m) != num_classes:
        raise ValueError(f'class_counts has {len(m)} entries, expected '
                         f'num_classes={num_classes}')
    # a class cannot have more clusters than samples present
    m_eff = np.minimum(m, np.maximum(counts, 1))
    offsets = subclass_offsets(m)
    generator = torch.Generator().manual_seed(int(seed))
    starts = starts_t.cpu().numpy()
    groups, buckets = _buckets(
        np.flatnonzero(m_eff > 1), counts, m_eff, max_bucket_elems), []
    for cls in groups:
        n_max = int(counts[cls].max())
        ar = torch.arange(n_max, device=device)
        valid = ar[None] < torch.as_tensor(counts[cls], device=device)[:, None]
        pos = torch.as_tensor(starts[cls], device=device)[:, None] + ar
        idx = order[pos.clamp(max=labels.numel() - 1)]  # (B, n_max)
        b = _make_bucket(x_all[idx], valid,
                         torch.as_tensor(m_eff[cls], device=device), init,
                         generator)
        b.idx, b.cls = idx, torch.as_tensor(cls, device=device)
        buckets.append(b)
    _kmeans_buckets(buckets, algo, max_iters, tol)
    local = torch.zeros(labels.numel(), dtype=torch.long, device=device)
    n_iters = torch.zeros(num_classes, dtype=torch.long, device=device)
    for b in buckets:
        local[b.idx[b.valid]] = b.assign[b.valid]
        n_iters[b.cls] = b.n_iters
    sub = torch.as_tensor(offsets, device=device)[labels] + local
    sizes = torch.bincount(sub, minlength=int(m.sum()))
    return SubclassClusteringResult(sub, torch.as_tensor(m),
                                    torch.as_tensor(offsets), sizes.cpu(),
                                    n_iters.cpu())


@torch.no_grad()
def class_temperature(features: torch.Tensor,
                      labels: torch.Tensor,
                      num_classes: int,
                      tau1: float,
                      mode: str = 'exp',
                      alpha: float = 10.0,
                      clip_percentiles: Optional[Tuple[float, float]] = None,
                      fixed_tau2: Optional[float] = None,
                      num_subclasses: Optional[ArrayLike] = None,
                      tail_tau2: str = 'dynamic') -> torch.Tensor:
    """Per-class temperature τ2(c) of the class-level term (§2.4).

    ``phi(c) = mean_i ||z_i - t_c|| / log(n_c + alpha)`` with ``t_c`` the
    mean normalised embedding of class c (Eq. 5), then

    * ``'exp'`` (paper Eq. 6): ``tau2 = tau1 * exp(phi / mean phi)``;
    * ``'linear'`` (released CIFAR code): ``tau2 = tau1 * phi / mean phi``;
    * ``'fixed'``: ``tau2 = fixed_tau2`` (released ImageNet code, 0.12).

    ``mean phi`` is over the classes with samples (after optional clipping
    of phi to the ``clip_percentiles`` of the classes).

    Args:
        features (Tensor): (N, d) embeddings, L2-normalised here.
        labels (Tensor): (N,) long.
        num_classes (int): C.
        tau1 (float): Subclass-level temperature.
        mode (str): ``'exp'``, ``'linear'`` or ``'fixed'``.
        alpha (float): Smoothing α of Eq. 5 (10 in the code).
        clip_percentiles (tuple, optional): e.g. ``(20, 80)`` (code).
        fixed_tau2 (float, optional): Needed by ``'fixed'``.
        num_subclasses (array-like, optional): (C,) ``m_c``; with
            ``tail_tau2='tau1'`` classes with ``m_c == 1`` get ``tau1``.
        tail_tau2 (str): ``'dynamic'`` (paper) or ``'tau1'`` (code).

    Returns:
        Tensor: (C,) float32 on the device of ``features``; classes without
        samples get ``tau1``.
    """
    if mode not in TEMPERATURE_MODES:
        raise ValueError(f'mode must be one of {TEMPERATURE_MODES}, got '
                         f'{mode!r}')
    if tail_tau2 not in ('dynamic', 'tau1'):
        raise ValueError("tail_tau2 must be 'dynamic' or 'tau1', got "
                         f'{tail_tau2!r}')
    if tau1 <= 0:
        raise ValueError(f'tau1 must be > 0, got {tau1}')
    device = features.device
    if mode == 'fixed':
        if fixed_tau2 is None or fixed_tau2 <= 0:
            raise ValueError("mode='fixed' needs fixed_tau2 > 0, got "
                             f'{fixed_tau2}')
        tau2 = torch.full((num_classes, ), float(fixed_tau2), device=device)
    else:
        z = F.normalize(features.detach().double(), dim=1)
        labels = labels.to(torch.long)
        cnt = torch.bincount(labels, minlength=num_classes).double()
        cent = z.new_zeros(num_classes, z.shape[1]).index_add_(0, labels, z)
        cent = cent / cnt.clamp(min=1)[:, None]
        dist = (z - cent[labels]).norm(dim=1)
        phi = z.new_zeros(num_classes).index_add_(0, labels, dist)
        phi = phi / cnt.clamp(min=1) / torch.log(cnt + alpha)
        has = cnt > 0
        if clip_percentiles is not None:
            lo, hi = clip_percentiles
            if not 0 <= lo <= hi <= 100:
                raise ValueError('clip_percentiles must satisfy 0 <= lo <= '
                                 f'hi <= 100, got {clip_percentiles}')
            vals = phi[has].cpu().numpy()
            p_lo, p_hi = np.percentile(vals, [lo, hi])
            phi = phi.clamp(min=float(p_lo), max=float(p_hi))
        mean_phi = phi[has].mean()
        if not float(mean_phi) > 0:  # every class collapsed to a point
            ratio = torch.ones_like(phi)
        else:
            ratio = phi / mean_phi
        tau2 = tau1 * (torch.exp(ratio) if mode == 'exp' else ratio)
        tau2 = torch.where(has, tau2, torch.full_like(tau2, tau1))
        tau2 = tau2.float()
    if tail_tau2 == 'tau1' and num_subclasses is not None:
        m = torch.as_tensor(np.asarray(num_subclasses), device=device)
        if m.numel() != num_classes:
            raise ValueError(f'num_subclasses has {m.numel()} entries, '
                             f'expected {num_classes}')
        tau2 = torch.where(m <= 1, torch.full_like(tau2, tau1), tau2)
    return tau2
