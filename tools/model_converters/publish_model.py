# Copyright (c) ltcls contributors. All rights reserved.
"""Process a checkpoint to be published (model zoo), as mmpretrain's
``tools/model_converters/publish_model.py`` does.

* the source is read with ``weights_only=True``
  (:func:`ltcls.utils.safe_torch_load`), never unpickling arbitrary objects;
* only the ``state_dict`` is kept, plus a small ``meta`` of plain Python
  values (versions, epoch / iter, the dataset's class names, what was
  dropped); ``optimizer``, ``message_hub``, ``param_schedulers``,
  ``ema_state_dict`` and the rest of the Runner's state are dropped;
* training-only weights are dropped (``projector.*``, ``encoder_k.*``,
  ``queue.*``, loss modules, SBCL's subclass state; see
  :mod:`ltcls.utils.training_state`), unless ``--keep-training-state``:
  the result loads strictly into the ``ImageClassifier`` with the same
  backbone / neck / head (PaCo's centers are the head and are kept), and
  ``tools/test.py`` accepts it with the training config;
* the file is saved as ``OUT_NAME-<first 8 hex of its sha256>.pth``.

Example::

    python tools/model_converters/publish_model.py \\
        work_dirs/paco_resnet32_1xb32-coslr-40e_digits-lt-if50/epoch_40.pth \\
        paco_resnet32_digits-lt.pth
    # -> paco_resnet32_digits-lt-1a2b3c4d.pth
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
from collections import OrderedDict
from typing import Mapping

import torch

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from ltcls.utils.checkpoint import sha256sum  # noqa: E402
from ltcls.utils.safe_load import safe_torch_load  # noqa: E402
from ltcls.utils.training_state import split_training_state  # noqa: E402

#: DDP adds this prefix when a wrapped model is saved; it is removed.
WRAPPER_PREFIX = 'module.'

#: Plain values of the source ``meta`` that the published file keeps.
SOURCE_META_KEYS = ('epoch', 'iter', 'seed', 'experiment_name', 'time',
                    'mmengine_version', 'mmengine')


class NoStateDictError(ValueError):
    """The file holds no ``state_dict`` of tensors."""


def _plain(value) -> bool:
    """Whether ``value`` is made of None, bool, int, float and str only."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _to_plain(value):
    """Tuples become lists (``weights_only`` loads both, lists are what JSON
    and YAML tools expect); returns None if ``value`` is not plain."""
    if not _plain(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def get_state_dict(ckpt, filename: str = '<checkpoint>') -> Mapping:
    """The tensor ``state_dict`` of a loaded checkpoint.

    Accepts a Runner checkpoint (``{'state_dict': ..., 'meta': ...}``) or a
    bare state dict (every value a tensor).

    Raises:
        NoStateDictError: anything else, e.g. a file with only ``meta`` /
            ``optimizer``.
    """
    if not isinstance(ckpt, Mapping):
        raise NoStateDictError(f'{filename} holds a {type(ckpt).__name__}, '
                               'not a checkpoint dict with a state_dict')
    if 'state_dict' in ckpt:
        state = ckpt['state_dict']
        if not isinstance(state, Mapping):
            raise NoStateDictError(f"{filename}: 'state_dict' is a "
                                   f'{type(state).__name__}, not a dict')
        bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise NoStateDictError(
                f"{filename}: 'state_dict' has {len(bad)} non-tensor "
                f'entries, e.g. {sorted(map(str, bad))[:5]}')
        if not state:
            raise NoStateDictError(f"{filename}: 'state_dict' is empty")
        return state
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt  # a bare state dict
    raise NoStateDictError(
        f"{filename} has no 'state_dict' (top-level keys: "
        f'{sorted(map(str, ckpt))[:10]}) and is not a bare state dict of '
        'tensors; is it a model checkpoint?')


def publish_checkpoint(ckpt: Mapping,
                       filename: str = '<checkpoint>',
                       keep_training_state: bool = False) -> dict:
    """Build the published checkpoint from a loaded one.

    Args:
        ckpt (Mapping): The loaded source checkpoint.
        filename (str): Used in messages and ``meta['source']``.
        keep_training_state (bool): Keep the training-only weights.

    Returns:
        dict: ``{'state_dict': OrderedDict, 'meta': dict}`` with
        ``meta['dropped_weights']`` (count per group) and
        ``meta['dropped_fields']`` (top-level checkpoint fields).
    """
    state = get_state_dict(ckpt, filename)
    unwrapped = OrderedDict()
    for key, value in state.items():
        name = key
        while name.startswith(WRAPPER_PREFIX):
            name = name[len(WRAPPER_PREFIX):]
        if name in unwrapped:
            raise ValueError(f'{filename}: {key!r} collides with another key '
                             f"once the DDP '{WRAPPER_PREFIX}' prefix is "
                             'removed (wrapped and unwrapped weights mixed)')
        unwrapped[name] = value
    if keep_training_state:
        kept, dropped = unwrapped, {}
    else:
        kept, dropped = split_training_state(unwrapped)
    if not kept:
        raise NoStateDictError(f'{filename}: every weight is training-only '
                               f'({dropped}); nothing to publish')
    # clone: torch.save writes whole storages, so a view would drag along
    # the storage it shares with a dropped entry.
    kept = OrderedDict((k, v.detach().clone()) for k, v in kept.items())

    has_state_dict = 'state_dict' in ckpt
    src_meta = ckpt.get('meta', {}) if has_state_dict else {}
    if not isinstance(src_meta, Mapping):
        src_meta = {}
    import mmengine
    import mmpretrain

    from ltcls import __version__ as ltcls_version
    meta = dict(
        ltcls_version=ltcls_version,
        mmpretrain_version=mmpretrain.__version__,
        mmengine_version=mmengine.__version__,
        torch_version=torch.__version__.split('+')[0],
        publisher='ltcls tools/model_converters/publish_model.py',
        source=osp.basename(filename),
        training_state_kept=bool(keep_training_state),
        dropped_weights={
            k: int(v)
            for k, v in sorted(dropped.items())
        },
        dropped_fields=sorted(
            str(k) for k in ckpt
            if k not in ('state_dict', 'meta')) if has_state_dict else [])
    for key in SOURCE_META_KEYS:
        value = _to_plain(src_meta.get(key))
        if value is not None:
            meta.setdefault(key, value)
    dataset_meta = _to_plain(src_meta.get('dataset_meta'))
    if dataset_meta:
        meta['dataset_meta'] = dataset_meta
    return dict(state_dict=kept, meta=meta)


def process_checkpoint(in_file: str,
                       out_file: str,
                       keep_training_state: bool = False):
    """Read ``in_file``, write ``<out_file stem>-<sha8>.pth``.

    Returns:
        tuple[str, dict, str]: The final file name, the written checkpoint
        and the file's full sha256.
    """
    if not osp.isfile(in_file):
        raise FileNotFoundError(f'checkpoint not found: {in_file}')
    ckpt = safe_torch_load(in_file, map_location='cpu')
    out = publish_checkpoint(ckpt, in_file, keep_training_state)

    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    out_dir = osp.dirname(osp.abspath(stem))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.publish_', suffix='.pth', dir=out_dir)
    os.close(fd)
    try:
        torch.save(out, tmp)
        sha = sha256sum(tmp)
        final_file = f'{stem}-{sha[:8]}.pth'
        if osp.exists(final_file) and osp.samefile(in_file, final_file):
            raise ValueError(
                f'refusing to overwrite the source checkpoint {in_file}')
        os.replace(tmp, final_file)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return final_file, out, sha


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Process a checkpoint to be published: keep the '
        'state_dict (without training-only weights) and a plain meta, '
        'save as OUT_NAME-<sha256[:8]>.pth')
    parser.add_argument('in_file', help='input checkpoint filename')
    parser.add_argument(
        'out_file',
        help='output checkpoint filename; the first 8 hex digits of the '
        "file's sha256 are appended to its stem")
    parser.add_argument(
        '--keep-training-state',
        action='store_true',
        help='keep the training-only weights (projector, momentum encoder, '
        'queues, loss modules, SBCL subclass state), e.g. to publish a '
        'checkpoint to continue training from')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    final_file, out, sha = process_checkpoint(args.in_file, args.out_file,
                                              args.keep_training_state)
    meta = out['meta']
    num = sum(v.numel() for v in out['state_dict'].values())
    print(f'kept {len(out["state_dict"])} tensors ({num} elements) of the '
          'state_dict')
    dropped = ', '.join(f'{k}.* ({n})' if k not in ('subclass_labels',
                                                    'class_tau2',
                                                    'cluster_ready') else k
                        for k, n in meta['dropped_weights'].items())
    print('dropped training-only weights: ' + (dropped or 'none'))
    print('dropped checkpoint fields: ' +
          (', '.join(meta['dropped_fields']) or 'none'))
    print(f'sha256: {sha}')
    print(f'Successfully generated the publish-ckpt as {final_file}.')
    return final_file


if __name__ == '__main__':
    main()
