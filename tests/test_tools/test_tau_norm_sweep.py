"""tools/analysis_tools/tau_norm_sweep.py: exact sweep values and a CPU run
on DigitsLT with a tiny model."""
import json
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
import tau_norm_sweep  # noqa: E402

CFG = 'configs/tau_norm/tau-norm_resnet32_ce-pre_digits-lt-if50.py'


def test_sweep_tau_closed_form():
    # class 0 has a long weight (norm 4), class 1 a short one (norm 1)
    weight = torch.tensor([[4., 0.], [0., 1.]], dtype=torch.float64)
    feats = torch.tensor([[3., 0.], [0.5, 1.1], [0.1, 1.]],
                         dtype=torch.float64)
    labels = torch.tensor([0, 1, 1])
    rows = tau_norm_sweep.sweep_tau(feats, labels, weight, [200, 5],
                                    [0.0, 0.5, 1.0])
    # tau 0:  logits (12, 0), (2, 1.1), (0.4, 1)  -> 0, 0, 1
    # tau .5: W = ((2, 0), (0, 1)): (6, 0), (1, 1.1), (0.2, 1) -> 0, 1, 1
    # tau 1:  W = ((1, 0), (0, 1)): (3, 0), (0.5, 1.1), (0.1, 1) -> 0, 1, 1
    assert [r['tau'] for r in rows] == [0.0, 0.5, 1.0]
    assert abs(rows[0]['top1'] - 200 / 3) < 1e-9
    assert [r['top1'] for r in rows[1:]] == [100.0, 100.0]
    assert [r['many'] for r in rows] == [100.0, 100.0, 100.0]
    assert [r['few'] for r in rows] == [50.0, 100.0, 100.0]


@pytest.mark.slow
def test_cli_on_digits(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from ltcls.registry import MODELS
    opts = [
        'model.backbone.depth=20', 'model.backbone.base_channels=4',
        'model.head.in_channels=16'
    ]
    cfg = Config.fromfile(CFG)
    cfg.model.backbone.depth = 20
    cfg.model.backbone.base_channels = 4
    cfg.model.head.in_channels = 16
    init_default_scope('ltcls')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        model.head.fc.bias.zero_()
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = str(tmp_path / 'sweep.json')
    rows, best = tau_norm_sweep.main(
        [CFG, ckpt, '--out', out, '--cfg-options'] + opts)
    assert [r['tau'] for r in rows] == [round(0.1 * i, 1) for i in range(11)]
    dumped = json.load(open(out))
    assert dumped['best']['top1'] == max(r['top1'] for r in rows)
    # independent route: tools/test.py's Runner with the plain linear head;
    # with a zero bias it must equal tau = 0
    cfg.model.head.type = 'LinearClsHead'
    cfg.model.head.pop('tau')
    cfg.load_from = ckpt
    cfg.work_dir = str(tmp_path / 'runner')
    cfg.log_level = 'WARNING'
    metrics = Runner.from_cfg(cfg).test()
    for key in ('top1', 'many', 'medium', 'few'):
        assert abs(rows[0][key] - metrics[f'accuracy/{key}']) < 1e-4, key


def test_bad_arguments(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        tau_norm_sweep.main([CFG, str(tmp_path / 'missing.pth')])
    ckpt = tmp_path / 'x.pth'
    torch.save({'state_dict': {}}, ckpt)
    with pytest.raises(ValueError, match='--taus must be >= 0'):
        tau_norm_sweep.main([CFG, str(ckpt), '--taus', '-1'])
