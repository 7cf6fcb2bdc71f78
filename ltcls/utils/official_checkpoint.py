# Copyright (c) ltcls contributors. All rights reserved.
"""Convert the authors' released checkpoints into ltcls checkpoints.

One core for ``tools/model_converters/{paco,gpaco,bcl}_to_ltcls.py``: each
converter only declares its :class:`KeyRule` list (the official key layout,
learnt from the authors' model code) and calls :func:`convert_checkpoint`.

What happens, in order:

1. **Safe read.** The official file is read with ``weights_only=True``
   (:func:`ltcls.utils.safe_torch_load`). The authors' files are plain
   ``torch.save`` dicts: ``state_dict`` plus ``epoch`` (int), ``arch``
   (str), ``acc`` / ``best_acc`` / ``best_acc1`` (tensor or float) and the
   SGD ``optimizer`` state (tensors, numbers, lists). torch's default
   ``weights_only`` allow-list covers all of them, so nothing is added to it
   here; a file that pickles anything else is refused
   (:class:`~ltcls.utils.UnsafeCheckpointError`). Only ``state_dict`` is
   used; the names of the other fields are recorded in ``meta``.
2. **Unwrap.** DDP / DataParallel ``module.`` prefixes are removed; two
   keys that collide afterwards are an error.
3. **Map.** Every key must match exactly one rule (first match wins): a
   rule renames a prefix (``encoder_q.`` -> ``backbone.``), optionally
   transforms the tensor (BCL's ``(D, C)`` classifier is transposed) or
   marks a *recognised* training-only entry of the official model that
   ltcls does not keep (momentum encoder, queue, ...). A key no rule
   matches is an error that lists all of them: nothing is skipped
   silently.
4. **Check against the config's model.** The model is built from the
   config; every mapped key must exist in it with the same shape; every
   inference key of the model (backbone, head) must be provided; every
   training-only group the rules map (the projector) must be complete.
   Anything else is an error listing the keys (first ``max_listed``).
5. **Write.** Like ``tools/model_converters/publish_model.py`` the output
   is an inference checkpoint, ``{'state_dict': ..., 'meta': <plain
   dict>}``: the training-only entries (projector, see
   :mod:`ltcls.utils.training_state`) are dropped after being checked. It
   loads strictly into the ``ImageClassifier`` with the config's backbone,
   neck and head, and ``tools/test.py`` accepts it with the config (whose
   training-only parts ``predict`` does not use). The file is written
   atomically.
"""
import os
import os.path as osp
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import (Callable, Dict, List, Mapping, Optional, Sequence, Tuple)

import torch
from torch import nn

from .checkpoint import sha256sum
from .safe_load import safe_torch_load
from .training_state import is_training_only_key, training_only_group

__all__ = [
    'ConversionError', 'KeyRule', 'load_official_state_dict',
    'map_official_state_dict', 'check_against_model', 'build_model',
    'convert_checkpoint', 'transpose'
]

WRAPPER_PREFIX = 'module.'

#: Plain fields of the official file recorded in the output ``meta``.
SOURCE_INFO_KEYS = ('epoch', 'arch')


class ConversionError(ValueError):
    """The official checkpoint does not fit the converter or the config."""


def transpose(tensor: torch.Tensor) -> torch.Tensor:
    """``(D, C)`` -> ``(C, D)`` (BCL / PaCo ``NormedLinear`` weights)."""
    if tensor.dim() != 2:
        raise ConversionError(
            f'expected a 2-D classifier weight to transpose, got shape '
            f'{tuple(tensor.shape)}')
    return tensor.t().contiguous()


@dataclass(frozen=True)
class KeyRule:
    """Where an official state-dict key goes.

    Args:
        src (str): Official key prefix (or the exact key with ``exact``),
            after removing ``module.``.
        dst (str, optional): ltcls prefix (or exact key) replacing ``src``.
            None: a recognised training-only entry of the official model
            that the ltcls checkpoint does not keep (dropped, counted).
        group (str): Name used in reports, e.g. ``'backbone'``.
        exact (bool): Match the whole key instead of a prefix.
        transform (callable, optional): Applied to the tensor.
    """
    src: str
    dst: Optional[str]
    group: str
    exact: bool = False
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None

    def matches(self, key: str) -> bool:
        return key == self.src if self.exact else key.startswith(self.src)

    def target(self, key: str) -> str:
        assert self.dst is not None
        return self.dst if self.exact else self.dst + key[len(self.src):]


def _strip_wrapper(key: str) -> str:
    while key.startswith(WRAPPER_PREFIX):
        key = key[len(WRAPPER_PREFIX):]
    return key


def _listed(keys: Sequence[str], max_listed: int) -> str:
    keys = list(keys)
    more = f' ... (+{len(keys) - max_listed} more)' \
        if len(keys) > max_listed else ''
    return ', '.join(keys[:max_listed]) + more


def load_official_state_dict(
        filename: str) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Read an official checkpoint safely and unwrap its ``state_dict``.

    Returns:
        tuple: ``(state_dict, info)``: the tensors without ``module.``
        prefixes (file order) and ``info`` = the plain ``epoch`` / ``arch``
        values plus ``fields``, the sorted names of all top-level fields.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the file pickles a non-allow-listed type.
        ConversionError: no ``state_dict`` of tensors, or keys collide once
            ``module.`` is removed.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'official checkpoint not found: {filename}')
    ckpt = safe_torch_load(filename, map_location='cpu')
    if not isinstance(ckpt, Mapping):
        raise ConversionError(f'{filename} holds a {type(ckpt).__name__}, '
                              'not a checkpoint dict')
    state = ckpt['state_dict'] if 'state_dict' in ckpt else ckpt
    if not isinstance(state, Mapping) or not state:
        raise ConversionError(f"{filename}: 'state_dict' is not a non-empty "
                              f'dict (top-level fields: {sorted(ckpt)})')
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ConversionError(
            f'{filename}: {len(bad)} state_dict entries are not tensors, '
            f'e.g. {sorted(map(str, bad))[:5]}')
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    origin = {}
    for key, value in state.items():
        name = _strip_wrapper(key)
        if name in out:
            raise ConversionError(
                f'{filename}: keys {origin[name]!r} and {key!r} are the same '
                'weight once the module. prefixes are removed')
        out[name] = value
        origin[name] = key
    info = {'fields': sorted(str(k) for k in ckpt)} \
        if 'state_dict' in ckpt else {'fields': []}
    for key in SOURCE_INFO_KEYS:
        value = ckpt.get(key) if 'state_dict' in ckpt else None
        if isinstance(value, (bool, int, float, str)):
            info[key] = value
    return out, info


def map_official_state_dict(
    state: Mapping[str, torch.Tensor],
    rules: Sequence[KeyRule],
    filename: str = '<checkpoint>',
    max_listed: int = 10,
    hint: str = ''
) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, int], Dict[str, int],
           Dict[str, str]]:
    """Apply ``rules`` to every key of ``state``.

    Returns:
        tuple: ``(mapped, mapped_counts, dropped_counts, origin)``:
        ltcls key -> tensor, the number of mapped / dropped keys per rule
        group, and ltcls key -> official key.

    Raises:
        ConversionError: keys no rule matches (all listed), or two official
            keys mapped onto the same ltcls key.
    """
    mapped: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    origin: Dict[str, str] = {}
    counts: Dict[str, int] = {}
    dropped: Dict[str, int] = {}
    unknown: List[str] = []
    for key, value in state.items():
        rule = next((r for r in rules if r.matches(key)), None)
        if rule is None:
            unknown.append(key)
            continue
        if rule.dst is None:
            dropped[rule.group] = dropped.get(rule.group, 0) + 1
            continue
        target = rule.target(key)
        if target in mapped:
            raise ConversionError(
                f'{filename}: official keys {origin[target]!r} and {key!r} '
                f'both map to {target!r}')
        mapped[target] = rule.transform(value) if rule.transform else value
        origin[target] = key
        counts[rule.group] = counts.get(rule.group, 0) + 1
    if unknown:
        known = ', '.join(
            repr(r.src) + ('' if r.exact else '*') for r in rules)
        raise ConversionError(
            f'{filename}: {len(unknown)} key(s) of the official checkpoint '
            f'fit no rule of this converter: {_listed(unknown, max_listed)}. '
            f'Known official keys: {known}.' + (f' {hint}' if hint else ''))
    return mapped, counts, dropped, origin


def check_against_model(mapped: Mapping[str, torch.Tensor],
                        model_state: Mapping[str, torch.Tensor],
                        origin: Optional[Mapping[str, str]] = None,
                        filename: str = '<checkpoint>',
                        config: str = '<config>',
                        max_listed: int = 10) -> None:
    """Raise :class:`ConversionError` unless ``mapped`` fits the model.

    * every mapped key exists in the model, with the same shape;
    * every inference key of the model (not training-only) is mapped;
    * for each training-only group that ``mapped`` provides (e.g. the
      projector), the model's keys of that group are all mapped.

    Training-only groups the mapping does not provide at all (ltcls's
    momentum encoder copy ``encoder_k.*``, ``queue.*``) may be missing.
    """
    origin = origin or {}
    unexpected = [k for k in mapped if k not in model_state]
    shapes = [
        f'{k} (official {origin.get(k, k)}): {tuple(v.shape)} vs model '
        f'{tuple(model_state[k].shape)}' for k, v in mapped.items()
        if k in model_state and tuple(v.shape) != tuple(model_state[k].shape)
    ]
    provided_groups = {training_only_group(k) for k in mapped} - {None}
    missing = [
        k for k in model_state if k not in mapped and (
            not is_training_only_key(k)
            or training_only_group(k) in provided_groups)
    ]
    if not (unexpected or shapes or missing):
        return
    lines = [f'{filename} does not fit the model built from {config}:']
    if shapes:
        lines.append(f'  {len(shapes)} shape mismatch(es): '
                     f'{_listed(shapes, max_listed)}')
    if missing:
        lines.append(f'  {len(missing)} model key(s) the checkpoint does not '
                     f'provide: {_listed(missing, max_listed)}')
    if unexpected:
        lines.append(
            f'  {len(unexpected)} mapped key(s) the model does not have: ' +
            _listed([f'{k} (official {origin.get(k, k)})'
                     for k in unexpected], max_listed))
    lines.append('  Is the config the one of this released model (backbone '
                 'depth / groups / width, num_classes, projector layers)?')
    raise ConversionError('\n'.join(lines))


def build_model(config: str, cfg_options: Optional[dict] = None):
    """Build ``cfg.model`` of an ltcls config on the CPU (no weights are
    loaded; ``init_cfg`` is not run). Returns ``(model, cfg)``."""
    from mmengine.config import Config

    from ltcls.registry import MODELS
    from ltcls.utils.setup_env import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    # the runner would add the config's data preprocessor; the converter
    # only needs the weights' names and shapes
    return MODELS.build(cfg.model.copy()), cfg


def _save_atomic(obj, dst: str) -> None:
    out_dir = osp.dirname(osp.abspath(dst))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.convert_', suffix='.pth', dir=out_dir)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def convert_checkpoint(src: str,
                       config: str,
                       dst: str,
                       rules: Sequence[KeyRule],
                       converter: str,
                       cfg_options: Optional[dict] = None,
                       model: Optional[nn.Module] = None,
                       hint: str = '') -> dict:
    """Convert the official checkpoint ``src`` for ``config``; write ``dst``.

    Args:
        src (str): Official checkpoint.
        config (str): ltcls config of the released model.
        dst (str): Output file.
        rules (Sequence[KeyRule]): The converter's key layout.
        converter (str): Recorded in ``meta``.
        cfg_options (dict, optional): Overrides merged into the config.
        model (nn.Module, optional): The model built from ``config``
            (built here if None).
        hint (str): Appended to the unknown-key error.

    Returns:
        dict: The written checkpoint ``{'state_dict', 'meta'}``.
    """
    if osp.exists(dst) and osp.exists(src) and osp.samefile(src, dst):
        raise ValueError(f'refusing to overwrite the source checkpoint {src}')
    state, info = load_official_state_dict(src)
    mapped, counts, dropped, origin = map_official_state_dict(
        state, rules, src, hint=hint)
    if model is None:
        model, _ = build_model(config, cfg_options)
    model_state = model.state_dict()
    check_against_model(mapped, model_state, origin, src, config)

    # model order; the checked training-only entries (projector) are not
    # written, as publish_model.py does for ltcls-trained models
    out_state: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    checked_not_kept: Dict[str, int] = {}
    for key in model_state:
        if key not in mapped:
            continue
        if is_training_only_key(key):
            group = training_only_group(key)
            checked_not_kept[group] = checked_not_kept.get(group, 0) + 1
            continue
        out_state[key] = mapped[key].detach().clone().contiguous().to(
            model_state[key].dtype)
    # the inference part loads strictly (training-only keys aside)
    result = model.load_state_dict(out_state, strict=False)
    bad_missing = [k for k in result.missing_keys
                   if not is_training_only_key(k)]
    if bad_missing or result.unexpected_keys:  # pragma: no cover (checked)
        raise ConversionError(
            f'internal error: missing {bad_missing[:5]}, unexpected '
            f'{result.unexpected_keys[:5]}')

    from ltcls import __version__ as ltcls_version
    meta = dict(
        converter=converter,
        ltcls_version=ltcls_version,
        torch_version=torch.__version__.split('+')[0],
        config=config,
        source=osp.basename(src),
        source_sha256=sha256sum(src),
        source_epoch=info.get('epoch'),
        source_arch=info.get('arch'),
        source_fields=info['fields'],
        num_tensors=len(out_state),
        num_elements=int(sum(v.numel() for v in out_state.values())),
        mapped={k: int(v)
                for k, v in sorted(counts.items())},
        checked_not_kept={k: int(v)
                          for k, v in sorted(checked_not_kept.items())},
        dropped_official={k: int(v)
                          for k, v in sorted(dropped.items())})
    meta = {k: v for k, v in meta.items() if v is not None}
    out = dict(state_dict=out_state, meta=meta)
    _save_atomic(out, dst)
    return out


def run_converter(argv: Optional[Sequence[str]], rules: Sequence[KeyRule],
                  name: str, description: str, hint: str = '') -> dict:
    """The command line shared by the converters:
    ``CONFIG SRC DST [--cfg-options k=v ...]``."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='ltcls config of the released model')
    parser.add_argument('src', help='official checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='output ltcls checkpoint (.pth)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    out = convert_checkpoint(
        args.src,
        args.config,
        args.dst,
        rules,
        converter=name,
        cfg_options=args.cfg_options,
        hint=hint)
    meta = out['meta']
    mapped = ', '.join(f'{k} {v}' for k, v in meta['mapped'].items())
    print(f'{args.src} -> {args.dst}: {sum(meta["mapped"].values())} '
          f'official tensors mapped ({mapped}); {meta["num_tensors"]} '
          f'written ({meta["num_elements"]} elements)')
    checked = ', '.join(f'{k} {v}'
                        for k, v in meta['checked_not_kept'].items())
    print('checked, not kept (training-only): ' + (checked or 'none'))
    dropped = ', '.join(f'{k} {v}'
                        for k, v in meta['dropped_official'].items())
    print('official training-only entries dropped: ' + (dropped or 'none'))
    print(f'source sha256: {meta["source_sha256"]}')
    return out
