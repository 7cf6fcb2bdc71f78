"""model-index.yml (mmpretrain's model-zoo index) and the metafiles it
imports are consistent with the files in configs/.

tests/test_configs.py already checks that every config under configs/ loads
and names registered types; this file checks the index itself: every
metafile is imported, every `Config:` path exists and loads, model names are
unique, cross-references resolve, and no result or weight is invented
(`Results` is null or holds real numbers, `Weights` is absent or a URL).
"""
import glob
import numbers
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
INDEX = osp.join(REPO, 'model-index.yml')


def _load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def _imports():
    index = _load_yaml(INDEX)
    assert isinstance(index, dict) and list(index) == ['Import'], \
        'model-index.yml must hold a single `Import:` list'
    imports = index['Import']
    assert isinstance(imports, list) and imports
    return imports


def _models():
    """(metafile, model entry) for every model of every imported metafile."""
    out = []
    for rel in _imports():
        meta = _load_yaml(osp.join(REPO, rel))
        for model in meta.get('Models') or []:
            out.append((rel, model))
    return out


def test_index_imports_every_metafile():
    imports = _imports()
    assert len(imports) == len(set(imports)), 'duplicate Import entries'
    for rel in imports:
        assert osp.isfile(osp.join(REPO, rel)), f'{rel} does not exist'
    present = {
        osp.relpath(p, REPO).replace(osp.sep, '/')
        for p in glob.glob(
            osp.join(REPO, 'configs', '**', 'metafile.yml'), recursive=True)
    }
    assert present, 'no metafile found under configs/'
    assert set(imports) == present, (
        f'not imported: {sorted(present - set(imports))}; '
        f'imported but missing: {sorted(set(imports) - present)}')


def test_collections():
    names = []
    for rel in _imports():
        meta = _load_yaml(osp.join(REPO, rel))
        collections = meta.get('Collections') or []
        assert collections, f'{rel}: no Collections'
        for col in collections:
            names.append(col['Name'])
            readme = col.get('README')
            assert readme and osp.isfile(osp.join(REPO, readme)), \
                f'{rel}: README {readme!r} does not exist'
            url = (col.get('Paper') or {}).get('URL', '')
            assert url.startswith('https://'), f'{rel}: paper URL {url!r}'
        models = meta.get('Models') or []
        assert models, f'{rel}: no Models'
        own = {c['Name'] for c in collections}
        for model in models:
            assert model.get('In Collection') in own, \
                f'{rel}: {model.get("Name")} is in an unknown collection'
    assert len(names) == len(set(names)), f'duplicate collections: {names}'


def test_model_names_unique_and_match_configs():
    seen = {}
    for rel, model in _models():
        name = model['Name']
        assert name not in seen, f'{name} in both {seen[name]} and {rel}'
        seen[name] = rel
        # mmpretrain convention: the model name is the config's stem
        stem = osp.splitext(osp.basename(model['Config']))[0]
        assert name == stem, f'{rel}: Name {name} != config stem {stem}'


def test_downstream_names_resolve():
    names = {model['Name'] for _, model in _models()}
    for rel, model in _models():
        for down in model.get('Downstream') or []:
            assert down in names, \
                f'{rel}: {model["Name"]} lists unknown downstream {down}'


def test_no_invented_results_or_weights():
    for rel, model in _models():
        weights = model.get('Weights')
        assert weights is None or (
            isinstance(weights, str) and weights.startswith('https://')), \
            f'{rel}: {model["Name"]}: Weights must be absent or a URL'
        results = model.get('Results')
        if results is None:
            continue
        # a result entry is a measured number, never a placeholder
        assert isinstance(results, list) and results, (rel, model['Name'])
        for res in results:
            assert res.get('Task') and res.get('Dataset'), (rel, res)
            metrics = res.get('Metrics') or {}
            assert metrics, (rel, model['Name'], res)
            for key, value in metrics.items():
                assert isinstance(value, numbers.Number) and not isinstance(
                    value, bool), (f'{rel}: {model["Name"]}: metric {key} = '
                                   f'{value!r}; use `Results: null` until '
                                   'the model is trained')


def _config_paths():
    return sorted({model['Config'] for _, model in _models()})


@pytest.mark.parametrize('config', _config_paths())
def test_config_exists_and_loads(config):
    path = osp.join(REPO, config)
    assert osp.isfile(path), f'{config} does not exist'
    assert config.startswith('configs/') and config.endswith('.py'), config
    cfg = Config.fromfile(path)
    assert 'model' in cfg, f'{config} defines no model'


def test_converted_models():
    """mmpretrain's ``Converted From`` convention for the released models of
    other codebases (``*_released`` configs): ``Code`` is the official
    repository, ``Weights`` (when the official README gives one) the
    official download; their ``Results`` are the authors' figures and must
    say so (``Source``), and every released config has such an entry."""
    entries = set()
    for rel, model in _models():
        name = model['Name']
        conv = model.get('Converted From')
        if name.endswith('_released'):
            assert conv, f'{rel}: {name} has no `Converted From`'
        if conv is None:
            continue
        entries.add(model['Config'])
        assert set(conv) <= {'Weights', 'Code'}, (rel, name, conv)
        assert str(conv.get('Code', '')).startswith('https://github.com/'), \
            f'{rel}: {name}: Converted From Code must be the repository URL'
        weights = conv.get('Weights')
        assert weights is None or str(weights).startswith('https://'), \
            f'{rel}: {name}: Converted From Weights must be a URL'
        for res in model.get('Results') or []:
            assert "authors' figures" in str(res.get('Source', '')), (
                f'{rel}: {name}: a converted model reports the authors\' '
                'figures; say so in Results[].Source')
    released = {
        osp.relpath(p, REPO).replace(osp.sep, '/')
        for p in glob.glob(
            osp.join(REPO, 'configs', '**', '*_released.py'), recursive=True)
    }
    assert released == entries, (
        f'released configs without a metafile entry: '
        f'{sorted(released - entries)}')
