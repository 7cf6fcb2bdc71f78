# Copyright (c) ltcls contributors. All rights reserved.
"""Build ltcls models by config, config path or model-zoo name.

These are mmpretrain's ``get_model`` / ``init_model`` / ``list_models`` /
``inference_model`` for ltcls. mmpretrain's versions cannot be used as they
are, for two reasons:

* ``mmpretrain.apis.get_model`` builds the model inside
  ``DefaultScope.overwrite_default_scope('mmpretrain')``, so every ltcls type
  (``ResNet32CIFAR``, ``PaCoClassifier``, the nested ``ProjectionMLP``, the
  ``MultiViewClsDataPreprocessor``) is missing, also after
  ``register_all_modules()``. Here the model config carries
  ``_scope_='ltcls'``, which mmengine's ``build_from_cfg`` switches to for
  the whole (nested) build; mmpretrain's ``get_model`` then does the rest.
* mmpretrain's ``ModelHub`` only reads mmpretrain's own model-index, and its
  ``list_models`` / ``inference_model`` use that hub directly. ltcls keeps a
  hub of its own (:class:`ModelHub`, a subclass with a separate registry of
  names) fed by ltcls's ``model-index.yml``.

Checkpoints are loaded strictly except for the training-only weights that a
published checkpoint lacks (projector, momentum encoder, queues; see
``tools/model_converters/publish_model.py``), so a checkpoint of another
config is an error that says what differs rather than a silently
half-loaded model.
"""
import copy
import fnmatch
import os.path as osp
import warnings
from os import PathLike
from pathlib import Path
from typing import List, Optional, Union

from mmengine.config import Config
from mmpretrain.apis import get_model as _mmpretrain_get_model
from mmpretrain.apis.model import ModelHub as _MMPretrainModelHub

__all__ = [
    'ModelHub', 'get_model', 'init_model', 'list_models', 'inference_model'
]


def model_index_path() -> str:
    """The ltcls ``model-index.yml``: ``ltcls/.mim/model-index.yml`` of an
    installed package, else the one at the root of a source checkout."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for path in (osp.join(pkg, '.mim', 'model-index.yml'),
                 osp.join(osp.dirname(pkg), 'model-index.yml')):
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'ltcls model-index.yml not found ({pkg}/.mim/ or the repository '
        'root); reinstall ltcls (pip install .) or run from a checkout')


class ModelHub(_MMPretrainModelHub):
    """mmpretrain's model hub, holding the models of ltcls's
    ``model-index.yml`` instead of mmpretrain's."""
    _models_dict = {}
    _ltcls_registered = False

    @classmethod
    def _register_mmpretrain_models(cls):
        # called by ModelHub.get: register ltcls's index, not mmpretrain's
        if not cls._ltcls_registered:
            path = model_index_path()
            cls.register_model_index(path, config_prefix=osp.dirname(path))
            cls._ltcls_registered = True

    @classmethod
    def get(cls, model_name):
        try:
            return super().get(model_name)
        except ValueError:
            raise ValueError(
                f'Failed to find model "{model_name}" in the ltcls '
                'model-index; ltcls.apis.list_models() gives the available '
                'names') from None


def _to_config(model, pretrained):
    """(Config, pretrained, metainfo) from a name, a path or a Config."""
    metainfo = None
    if isinstance(model, Config):
        config = copy.deepcopy(model)
    elif isinstance(model, (str, PathLike)) and Path(model).suffix == '.py':
        if not osp.isfile(model):
            raise FileNotFoundError(f'config file not found: {model}')
        config = Config.fromfile(model)
    elif isinstance(model, str):
        metainfo = ModelHub.get(model)
        config = metainfo.config
        if pretrained is True and metainfo.weights is not None:
            pretrained = metainfo.weights
    else:
        raise TypeError('model must be a model name, a config path or a '
                        f'Config, got {type(model).__name__}')
    if pretrained is True and config.get('load_from', None):
        pretrained = config.load_from
    if pretrained is True:
        warnings.warn(f'{model}: no published weights (model-index '
                      '`Weights` or `load_from`); the model is randomly '
                      'initialised')
        pretrained = None
    elif pretrained is False:
        pretrained = None
    return config, pretrained, metainfo


def _dataset_meta(config, checkpoint_meta) -> dict:
    """Class names: the checkpoint's, else the ``METAINFO`` of the test (val,
    train) dataset type, else ``'0'..'C-1'`` from the dataset's
    ``NUM_CLASSES``, the head or the data preprocessor."""
    meta = dict((checkpoint_meta or {}).get('dataset_meta') or {})
    if meta.get('classes'):
        return meta
    from ltcls.registry import DATASETS
    counts = []
    for split in ('test', 'val', 'train'):
        loader = config.get(f'{split}_dataloader', None) or {}
        dataset = loader.get('dataset', None) or {}
        dataset_type = dataset.get('type', None)
        if not isinstance(dataset_type, str):
            continue
        dataset_cls = DATASETS.get(dataset_type)
        classes = (getattr(dataset_cls, 'METAINFO', None) or {}).get('classes')
        if classes:
            return dict(classes=tuple(classes))
        counts.append(getattr(dataset_cls, 'NUM_CLASSES', None))
    counts += [(node or {}).get('num_classes', None)
               for node in (config.model.get('head', None),
                            config.model.get('data_preprocessor', None),
                            config.get('data_preprocessor', None))]
    for num_classes in counts:
        if isinstance(num_classes, int):
            return dict(classes=tuple(str(i) for i in range(num_classes)))
    return {}


def get_model(model: Union[str, Config],
              pretrained: Union[str, bool] = False,
              device=None,
              **kwargs):
    """Build an ltcls model from a model name, a config path or a Config.

    Args:
        model (str | Config): A name of ``list_models()``, a config file path
            or a Config.
        pretrained (bool | str): A checkpoint path (a Runner checkpoint or a
            published one), or True for the model's published weights (the
            config's ``load_from``). Defaults to False (random weights).
        device (str | torch.device, optional): Move the model there.
        **kwargs: Overrides of the model config (``head=dict(...)``), or
            ``device_map`` / ``offload_folder`` / ``url_mapping`` of
            mmpretrain's ``get_model``.

    Returns:
        mmengine.model.BaseModel: The model in eval mode, with
        ``_config`` (the whole config), ``_dataset_meta`` (``classes``)
        and ``_metainfo`` (the model-index entry, or None), as mmpretrain's.

    Raises:
        CheckpointMismatchError: the checkpoint's keys / shapes do not fit
            the model (beyond missing training-only weights).

    Example:
        >>> from ltcls.apis import get_model
        >>> model = get_model(
        ...     'configs/quickstart/resnet32_ce_digits-lt.py',
        ...     pretrained='work_dirs/quickstart/epoch_30.pth')
    """
    config, pretrained, metainfo = _to_config(model, pretrained)
    mm_kwargs = {
        k: kwargs.pop(k)
        for k in ('device_map', 'offload_folder', 'url_mapping')
        if k in kwargs
    }
    if kwargs:
        config.merge_from_dict({'model': kwargs})
    # the whole (nested) build runs in the ltcls scope, see module docstring
    config.model.setdefault('_scope_', 'ltcls')
    # mmpretrain reads test_dataloader.dataset.type when it is present;
    # stage-1 contrastive configs set it to None
    mm_config = copy.copy(config)
    if 'test_dataloader' in mm_config and not mm_config.test_dataloader:
        mm_config.pop('test_dataloader')
    net = _mmpretrain_get_model(mm_config, False, device, **mm_kwargs)
    net._config = config
    checkpoint_meta = None
    if pretrained:
        checkpoint_meta = _load_checkpoint(net, pretrained)
    net._dataset_meta = _dataset_meta(config, checkpoint_meta)
    net._metainfo = metainfo
    if device is not None:
        net.to(device)
    net.eval()
    return net


def _load_checkpoint(model, filename: str) -> dict:
    """Load strictly, except for the training-only weights a published
    checkpoint drops; returns the checkpoint's ``meta``."""
    from mmengine.runner import load_checkpoint

    from ltcls.utils.checkpoint import check_checkpoint_matches
    from ltcls.utils.training_state import is_training_only_key
    if osp.isfile(filename):
        check_checkpoint_matches(
            model, filename, ignore_missing=is_training_only_key)
    checkpoint = load_checkpoint(
        model, filename, map_location='cpu', strict=False, logger='silent')
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    if 'CLASSES' in meta and 'dataset_meta' not in meta:
        meta = dict(meta, dataset_meta=dict(classes=meta['CLASSES']))
    return meta


def init_model(config, checkpoint=None, device=None, **kwargs):
    """Build a model from a config and load ``checkpoint`` (mmpretrain's
    ``init_model``: the same as :func:`get_model`)."""
    return get_model(config, checkpoint, device, **kwargs)


def list_models(pattern: Optional[str] = None,
                exclude_patterns: Optional[List[str]] = None,
                task: Optional[str] = None) -> List[str]:
    """Names of the ltcls model-index, as mmpretrain's ``list_models``.

    Args:
        pattern (str, optional): A wildcard pattern; any suffix matches
            (``'paco*digits'`` matches ``paco_..._digits-lt-if50``).
        exclude_patterns (list[str], optional): Wildcard patterns to drop.
        task (str, optional): Keep models with results for this task
            (``'Image Classification'``); ``'null'`` keeps those without
            results.

    Returns:
        list[str]: Sorted model names.

    Example:
        >>> from ltcls.apis import list_models
        >>> list_models('*digits-lt*', exclude_patterns=['*2view'])
    """
    ModelHub._register_mmpretrain_models()
    names = set(ModelHub._models_dict)
    if pattern is not None:
        names = set(fnmatch.filter(names, pattern + '*'))
    for exclude in exclude_patterns or []:
        names -= set(fnmatch.filter(names, exclude + '*'))
    if task is not None:
        kept = set()
        for name in names:
            results = ModelHub._models_dict[name].results
            if results is None:
                if task == 'null':
                    kept.add(name)
            elif task in [r.task for r in results]:
                kept.add(name)
        names = kept
    return sorted(names)


def inference_model(model, *args, **kwargs):
    """Classify images with an ltcls model (mmpretrain's
    ``inference_model``).

    Every ltcls model is an image classifier, so this always uses
    :class:`ltcls.apis.ImageClassificationInferencer` (mmpretrain's picks
    the inferencer from the task of the model-index results, which ltcls's
    index leaves ``null`` until a run is published).

    Args:
        model (BaseModel | str | Config): A built model, a model name or a
            config path.
        *args: The image(s) (path or array) and other call arguments.
        **kwargs: ``pretrained``, ``device``, ``classes`` go to the
            inferencer, the rest to its call (``show_dir``, ...).

    Returns:
        dict: ``pred_label``, ``pred_score``, ``pred_scores``, ``pred_class``
        of the first image.
    """
    from .image_classification import ImageClassificationInferencer
    init_kwargs = {
        k: kwargs.pop(k)
        for k in ('pretrained', 'device', 'classes') if k in kwargs
    }
    inferencer = ImageClassificationInferencer(model, **init_kwargs)
    return inferencer(*args, **kwargs)[0]
