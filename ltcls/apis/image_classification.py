# Copyright (c) ltcls contributors. All rights reserved.
"""mmpretrain's ``ImageClassificationInferencer`` / ``FeatureExtractor``
for ltcls models.

They are mmpretrain's classes with two changes (the rest, preprocessing,
batching, visualisation, post-processing, is theirs):

* a model name / config / Config is built by :func:`ltcls.apis.get_model`
  (ltcls scope; strict checkpoint check) instead of mmpretrain's, which
  builds in the mmpretrain scope where ltcls types do not exist;
* the test pipeline is built in the ltcls scope, and *every* image-loading
  transform is dropped from it (the inferencer loads the image itself):
  mmpretrain only drops ``LoadImageFromFile``, so ltcls's
  ``LoadImageFromFileStrict`` (ImageNet-LT, Places-LT, iNat configs) would
  try to read a file path that the inferencer's input does not have.
"""
from typing import Callable, Union

from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmpretrain.apis import \
    FeatureExtractor as _MMPretrainFeatureExtractor  # noqa: N813
from mmpretrain.apis import \
    ImageClassificationInferencer as \
    _MMPretrainImageClassificationInferencer  # noqa: N813

from .model import get_model, list_models

__all__ = ['ImageClassificationInferencer', 'FeatureExtractor']

#: transforms that read the image from ``img_path``; the inferencer gives
#: ``img`` directly
LOADING_TRANSFORMS = ('LoadImageFromFile', 'LoadImageFromFileStrict',
                      'mmpretrain.LoadImageFromFile',
                      'ltcls.LoadImageFromFileStrict')


class _LtclsInferencerMixin:
    """Builds the model with :func:`ltcls.apis.get_model` and the pipeline
    in the ltcls scope; see the module docstring."""

    def __init__(self,
                 model,
                 pretrained: Union[bool, str] = True,
                 device=None,
                 **kwargs) -> None:
        if not isinstance(model, BaseModel):
            model = get_model(model, pretrained, device=device)
            pretrained = False  # loaded (and checked) by get_model
        elif isinstance(pretrained, str):
            from .model import _load_checkpoint
            meta = _load_checkpoint(model, pretrained)
            if (meta.get('dataset_meta') or {}).get('classes'):
                model._dataset_meta = dict(meta['dataset_meta'])
            pretrained = False
        if not hasattr(model, '_config'):
            raise ValueError(
                f'{type(model).__name__} has no `_config`; build it with '
                'ltcls.apis.get_model / init_model (or pass a config path)')
        super().__init__(model, pretrained, device=device, **kwargs)

    def _init_pipeline(self, cfg: Config) -> Callable:
        from ltcls.registry import TRANSFORMS
        if not cfg.get('test_dataloader', None):
            raise ValueError(
                'the config has no test_dataloader (a stage-1 config?); the '
                'inferencer uses test_dataloader.dataset.pipeline')
        pipeline = [
            t for t in cfg.test_dataloader.dataset.pipeline
            if t.get('type') not in LOADING_TRANSFORMS
        ]
        with DefaultScope.overwrite_default_scope('ltcls'):
            return Compose([TRANSFORMS.build(t) for t in pipeline])

    @staticmethod
    def list_models(pattern=None):
        """Names of the ltcls model-index (:func:`ltcls.apis.list_models`).
        """
        return list_models(pattern=pattern)


class ImageClassificationInferencer(_LtclsInferencerMixin,
                                    _MMPretrainImageClassificationInferencer):
    """Classify images with any ltcls model (config path, Config, model
    name or built model) and a Runner or published checkpoint.

    Args:
        model (BaseModel | str | Config): A config path, a Config, a name of
            ``list_models()`` or a model from :func:`ltcls.apis.get_model`.
        pretrained (bool | str): The checkpoint (path), or True for the
            model's published weights. Defaults to True.
        device (str | torch.device, optional): Defaults to the model's /
            CPU.
        classes (Sequence[str], optional): Class names; default: those in
            the checkpoint's meta, else the dataset's.

    Example:
        >>> from ltcls.apis import ImageClassificationInferencer
        >>> inferencer = ImageClassificationInferencer(
        ...     'configs/quickstart/resnet32_ce_digits-lt.py',
        ...     pretrained='work_dirs/quickstart/epoch_30.pth')
        >>> inferencer('demo/digits_lt_3.png')[0]['pred_class']
        '3'
    """


class FeatureExtractor(_LtclsInferencerMixin, _MMPretrainFeatureExtractor):
    """Extract features (``model.extract_feat``) of images with any ltcls
    model; arguments as :class:`ImageClassificationInferencer`. Keyword
    arguments of the call go to ``extract_feat`` (e.g. ``stage='neck'``).

    Example:
        >>> from ltcls.apis import FeatureExtractor
        >>> extractor = FeatureExtractor(
        ...     'configs/quickstart/resnet32_ce_digits-lt.py',
        ...     pretrained='work_dirs/quickstart/epoch_30.pth')
        >>> extractor('demo/digits_lt_3.png')[0][0].shape
        torch.Size([64])
    """

