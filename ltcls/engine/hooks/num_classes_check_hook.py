# Copyright (c) ltcls contributors. All rights reserved.
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ltcls.registry import HOOKS


def _dataset_classes(dataloader):
    dataset = getattr(dataloader, 'dataset', None)
    # unwrap RepeatDataset / ClassBalancedDataset style wrappers
    while dataset is not None and not hasattr(dataset, 'metainfo') and \
            hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    if dataset is None:
        return None, None
    classes = getattr(dataset, 'metainfo', {}).get('classes', None)
    return dataset, classes


@HOOKS.register_module()
class NumClassesCheckHook(Hook):
    """Fail early, with a clear message, if a classifier's ``num_classes``
    does not match the number of classes of the train / val / test dataset.

    Every module of the model that has an integer ``num_classes`` attribute
    (heads, and losses with per-class state such as LDAM or Balanced
    Softmax) is checked. mmdet has a hook of the same purpose for detectors
    (``NumClassCheckHook``); mmpretrain has none.
    """

    def _check(self, runner, dataloader, phase):
        dataset, classes = _dataset_classes(dataloader)
        if classes is None:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        for name, module in model.named_modules():
            n = getattr(module, 'num_classes', None)
            if not isinstance(n, int) or isinstance(n, bool):
                continue
            if name.startswith('data_preprocessor'):
                continue
            if n != len(classes):
                where = name or type(model).__name__
                raise ValueError(
                    f'num_classes mismatch: model.{where}.num_classes={n} but '
                    f'the {phase} dataset {type(dataset).__name__} has '
                    f'{len(classes)} classes. Set num_classes={len(classes)} '
                    'in the model config (e.g. --cfg-options '
                    f'model.head.num_classes={len(classes)}).')

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test')
