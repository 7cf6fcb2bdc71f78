"""Every config in configs/ loads, and every `type` it names in its model,
datasets, samplers, transforms, hooks and evaluators is registered."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True)
    if '_base_' not in p.split(osp.sep))

# config field -> registry (ltcls scope; mmdet scope handled separately)
FIELDS = {
    'model': 'MODELS',
    'train_dataloader': 'DATASETS',
    'val_dataloader': 'DATASETS',
    'test_dataloader': 'DATASETS',
    'custom_hooks': 'HOOKS',
    'val_evaluator': 'METRICS',
    'test_evaluator': 'METRICS',
}


def _types(obj, path=''):
    """Yield (path, type_name, scope) for every dict with a string `type`."""
    if isinstance(obj, dict):
        t = obj.get('type')
        if isinstance(t, str):
            yield path, t, obj.get('_scope_')
        for k, v in obj.items():
            yield from _types(v, f'{path}.{k}')
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _types(v, f'{path}[{i}]')


def _registry_for(path, default):
    import ltcls.registry as R
    if '.sampler' in path or 'batch_sampler' in path:
        return R.DATA_SAMPLERS
    if 'pipeline' in path or '.transforms' in path:
        return R.TRANSFORMS
    if path.startswith('model') and ('init_cfg' in path):
        return None
    if 'param_scheduler' in path:
        return R.PARAM_SCHEDULERS
    if '.loss' in path or path.startswith('model'):
        return R.MODELS
    return getattr(R, default)


def test_found_configs():
    assert len(CONFIGS) >= 1
    assert osp.join(REPO, 'configs', 'quickstart',
                    'resnet32_ce_digits-lt.py') in CONFIGS


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_loads_and_types_exist(path):
    cfg = Config.fromfile(path)
    scope = cfg.get('default_scope', None)
    if scope == 'mmdet':
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        import mmdet.registry as R
        model_reg = R.MODELS
        for p, t, s in _types(cfg.model, 'model'):
            # roi_layer types are mmcv ops looked up by name, not registered
            if 'init_cfg' in p or 'roi_layer' in p or '.nms' in p or \
                    s not in (None, 'mmdet'):
                continue
            found = model_reg.get(t) or R.TASK_UTILS.get(t)
            assert found is not None, f'{p}: {t} not registered'
        return
    assert scope == 'ltcls', f'{path}: default_scope must be ltcls'
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('ltcls'):
        for field, default in FIELDS.items():
            if cfg.get(field, None) is None:
                continue
            for p, t, s in _types(cfg[field], field):
                reg = _registry_for(p, default)
                if reg is None or s not in (None, 'ltcls'):
                    continue
                if t in ('default_collate', 'pseudo_collate'):
                    continue
                assert reg.get(t) is not None, \
                    f'{osp.relpath(path, REPO)}: {p} type={t!r} is not ' \
                    f'registered in {reg.name}'
