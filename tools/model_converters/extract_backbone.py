# Copyright (c) ltcls contributors. All rights reserved.
"""Extract a clean backbone ``state_dict`` from any ltcls checkpoint.

Works on every checkpoint ltcls writes: stage 1 (``ContrastiveClassifier``
with projector, momentum encoder ``encoder_k``, ``LabelledQueue``, class
centres / prototypes) or stage 2 / plain ``ImageClassifier`` (``neck``,
``head``), saved by the Runner (with ``meta``, ``message_hub``, optimizer
state) or as a bare state dict, with or without DDP's ``module.`` prefix.
Only the online backbone is kept; momentum / EMA copies (``encoder_k.*``,
``momentum_encoder.*``, ``ema*``), queues, centres, projector, neck and head
are dropped. The source is read with ``weights_only=True``
(:func:`ltcls.utils.safe_torch_load`); the output holds tensors and plain
Python values only, so it loads with ``torch.load(weights_only=True)`` on
any torch, without ltcls.

Output: ``{'state_dict': {<prefix><name>: tensor}, 'meta': {...}}`` where
``<name>`` is the standard ResNet name (``conv1.weight``,
``layer4.2.bn3.running_var``, ...), identical for mmpretrain's and mmdet's
``ResNet``.

Examples::

    # bare names: mmdet ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``
    # (launchers: PREFIX=none tools/benchmarks/mmdetection/dist_train_fpn.sh)
    python tools/model_converters/extract_backbone.py \\
        work_dirs/kcl/epoch_200.pth kcl_r50_backbone.pth

    # keep ``backbone.``: loads into an mmpretrain ImageClassifier, or with
    # ``init_cfg=dict(..., prefix='backbone.')`` (the launchers' default)
    python tools/model_converters/extract_backbone.py \\
        work_dirs/kcl/epoch_200.pth kcl_r50_backbone.pth --prefix backbone.
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter, OrderedDict
from typing import Dict, Mapping, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from ltcls.utils.checkpoint import sha256sum  # noqa: E402
from ltcls.utils.safe_load import safe_torch_load  # noqa: E402

#: Wrapper prefixes added by (Distributed)DataParallel when a model is saved
#: without unwrapping it; removed (repeatedly) before selecting the backbone.
WRAPPER_PREFIX = 'module.'

#: Keys of the source ``meta`` copied into the output when they are plain.
_SOURCE_META_KEYS = ('epoch', 'iter', 'seed', 'experiment_name',
                     'mmengine_version', 'time')


class NoBackboneError(ValueError):
    """The checkpoint holds no weights under the backbone prefix."""


def get_state_dict(ckpt, filename: str = '<checkpoint>') -> Mapping:
    """Return the tensor ``state_dict`` of a loaded checkpoint.

    Accepts an mmengine checkpoint (``{'state_dict': ..., 'meta': ...}``) or
    a bare state dict (``{name: tensor}``).

    Raises:
        ValueError: ``ckpt`` is not a dict, or holds no dict of tensors.
    """
    if not isinstance(ckpt, Mapping):
        raise ValueError(f'{filename} holds a {type(ckpt).__name__}, not a '
                         'checkpoint dict')
    if 'state_dict' in ckpt:
        state = ckpt['state_dict']
        if not isinstance(state, Mapping):
            raise ValueError(f"{filename}: 'state_dict' is a "
                             f'{type(state).__name__}, not a dict')
    else:
        state = ckpt
    non_tensors = [k for k, v in state.items()
                   if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise ValueError(
            f'{filename} has no state_dict of tensors: {len(non_tensors)} '
            f'entries are not tensors, e.g. {sorted(non_tensors)[:5]} '
            f'(top-level keys: {sorted(ckpt)[:10]})')
    return state


def _strip_wrapper(key: str) -> str:
    while key.startswith(WRAPPER_PREFIX):
        key = key[len(WRAPPER_PREFIX):]
    return key


def extract_backbone(
    state_dict: Mapping[str, torch.Tensor],
    src_prefix: str = 'backbone.',
    filename: str = '<checkpoint>',
) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, int]]:
    """Select the online backbone of a state dict.

    Every key is first stripped of DDP ``module.`` prefixes; the keys that
    then start with ``src_prefix`` form the backbone (prefix removed).
    Everything else is dropped, in particular the momentum / EMA encoder
    copies (``encoder_k.module.0.*``, ``momentum_encoder.module.0.*``),
    queues, centres, projector, neck and head.

    Args:
        state_dict (Mapping[str, Tensor]): The model's state dict.
        src_prefix (str): Prefix of the backbone in the model. Defaults to
            ``'backbone.'`` (mmpretrain / ltcls classifiers).
        filename (str): Used in error messages.

    Returns:
        tuple: ``(backbone, dropped)``: the backbone state dict (standard
        names, source order, tensors shared with the input) and the number
        of dropped keys per top-level group (e.g. ``{'encoder_k': 122}``).

    Raises:
        NoBackboneError: no key starts with ``src_prefix``.
        ValueError: ``src_prefix`` is empty, or two keys collide once the
            ``module.`` prefixes are removed.
    """
    if not src_prefix:
        raise ValueError('src_prefix must be a non-empty prefix such as '
                         "'backbone.', got an empty string")
    if not src_prefix.endswith('.'):
        src_prefix += '.'
    backbone = OrderedDict()
    origin = {}
    dropped = Counter()
    for key, value in state_dict.items():
        name = _strip_wrapper(key)
        if not name.startswith(src_prefix):
            dropped[name.split('.', 1)[0]] += 1
            continue
        sub = name[len(src_prefix):]
        if not sub:
            raise ValueError(f'{filename}: key {key!r} has nothing after the '
                             f'backbone prefix {src_prefix!r}')
        if sub in backbone:
            raise ValueError(
                f'{filename}: keys {origin[sub]!r} and {key!r} both give the '
                f'backbone weight {sub!r} once DDP prefixes are removed; '
                'the checkpoint mixes wrapped and unwrapped models')
        backbone[sub] = value
        origin[sub] = key
    if not backbone:
        groups = sorted(dropped)
        raise NoBackboneError(
            f'{filename} has no backbone: none of its {len(state_dict)} '
            f'state_dict keys starts with {src_prefix!r} (after removing '
            f"'{WRAPPER_PREFIX}' prefixes). Top-level groups found: "
            f'{groups[:20]}. Is it a model checkpoint of an ltcls / '
            'mmpretrain classifier? If its backbone lives under another '
            'name, pass --src-prefix.')
    return backbone, dict(dropped)


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def convert(src: str,
            dst: str,
            prefix: str = '',
            src_prefix: str = 'backbone.') -> dict:
    """Read ``src`` (an ltcls checkpoint), write the backbone to ``dst``.

    Args:
        src (str): Source checkpoint (read with ``weights_only=True``).
        dst (str): Output file.
        prefix (str): Prefix of the output names: ``''`` (default, bare
            ResNet names for mmdet's ``init_cfg`` without ``prefix``) or
            ``'backbone.'`` (mmpretrain ``ImageClassifier`` layout).
        src_prefix (str): Prefix of the backbone in the source model.

    Returns:
        dict: The written checkpoint.
    """
    if not osp.isfile(src):
        raise FileNotFoundError(f'checkpoint not found: {src}')
    if osp.exists(dst) and osp.samefile(src, dst):
        raise ValueError(f'refusing to overwrite the source checkpoint {src}')
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    ckpt = safe_torch_load(src, map_location='cpu')
    state = get_state_dict(ckpt, src)
    backbone, dropped = extract_backbone(state, src_prefix, src)

    # clone: the output holds the backbone tensors only, not storages they
    # might share with dropped entries
    out_state = OrderedDict(
        (prefix + k, v.detach().clone()) for k, v in backbone.items())
    source_meta = ckpt.get('meta', {}) if 'state_dict' in ckpt else {}
    if not isinstance(source_meta, Mapping):
        source_meta = {}
    try:
        from ltcls import __version__ as ltcls_version
    except ImportError:  # pragma: no cover
        ltcls_version = 'unknown'
    meta = dict(
        converter='ltcls tools/model_converters/extract_backbone.py',
        ltcls_version=ltcls_version,
        source=osp.basename(src),
        source_sha256=sha256sum(src),
        source_prefix=src_prefix,
        prefix=prefix,
        num_tensors=len(out_state),
        num_elements=int(sum(v.numel() for v in out_state.values())),
        dropped={k: int(v) for k, v in sorted(dropped.items())},
        source_meta={
            k: source_meta[k]
            for k in _SOURCE_META_KEYS
            if k in source_meta and _plain(source_meta[k])
        })
    out = dict(state_dict=out_state, meta=meta)
    dst_dir = osp.dirname(osp.abspath(dst))
    os.makedirs(dst_dir, exist_ok=True)
    torch.save(out, dst)
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract the backbone of an ltcls checkpoint (stage 1 '
        'or 2) as a clean state_dict for mmdet / mmpretrain.')
    parser.add_argument('src', help='ltcls checkpoint (.pth)')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--prefix',
        default='',
        help="prefix of the output weight names: '' (default; bare ResNet "
        "names, for mmdet init_cfg without prefix) or 'backbone.' (loads "
        'into an mmpretrain ImageClassifier / init_cfg prefix=backbone.)')
    parser.add_argument(
        '--src-prefix',
        default='backbone.',
        help="prefix of the backbone in the source model (default "
        "'backbone.')")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = convert(args.src, args.dst, args.prefix, args.src_prefix)
    meta = out['meta']
    dropped = ', '.join(f'{k} ({n})' for k, n in meta['dropped'].items())
    print(f'{args.src} -> {args.dst}: {meta["num_tensors"]} backbone tensors '
          f'({meta["num_elements"]} elements), names prefixed '
          f'with {meta["prefix"]!r}; dropped: {dropped or "nothing"}')
    return out


if __name__ == '__main__':
    main()
