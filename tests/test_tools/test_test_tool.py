"""tools/test.py at parity with mmpretrain's: --out predictions pickle (read
by mmpretrain's analysis tools), --out-item, --out-metrics, --show-dir,
--tta; the checkpoint check stays."""
import json
import os
import os.path as osp
import pickle
import sys

import pytest
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _tools_testutils import QUICKSTART_CFG, run_tool  # noqa: E402

SUBSET = ['--cfg-options', 'test_dataloader.dataset.indices=100']


def _mmpretrain_tool(rel):
    import mmpretrain
    path = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools', rel)
    assert osp.isfile(path), path
    return path


@pytest.fixture(scope='module')
def tested(quickstart_run, tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('test_tool')
    preds, metrics = str(tmp / 'preds.pkl'), str(tmp / 'metrics.json')
    proc = run_tool([
        'tools/test.py', QUICKSTART_CFG, quickstart_run['checkpoint'],
        '--work-dir',
        str(tmp / 'work'), '--out', preds, '--out-metrics', metrics,
        '--show-dir',
        str(tmp / 'vis')
    ] + SUBSET, repo_root)
    return dict(tmp=tmp, preds=preds, metrics=metrics, proc=proc)


def test_out_is_mmpretrain_predictions_pickle(tested):
    with open(tested['preds'], 'rb') as f:
        preds = pickle.load(f)
    assert isinstance(preds, list) and len(preds) == 100
    assert {'pred_score', 'pred_label', 'gt_label'} <= set(preds[0])
    assert preds[0]['pred_score'].shape == (10, )
    with open(tested['metrics']) as f:
        metrics = json.load(f)
    # the metrics JSON keeps the long-tail groups
    assert {'accuracy/top1', 'accuracy/many', 'accuracy/medium',
            'accuracy/few'} <= set(metrics)
    # top-1 recomputed from the pickle (independently of the metric)
    correct = sum(
        int(p['pred_score'].argmax()) == int(p['gt_label'][0]) for p in preds)
    assert metrics['accuracy/top1'] == pytest.approx(correct, abs=1e-4)


def test_mmpretrain_eval_metric_reads_the_pickle(tested, repo_root):
    proc = run_tool([
        _mmpretrain_tool('analysis_tools/eval_metric.py'), tested['preds'],
        '--metric', 'type=Accuracy', 'topk=1'
    ], repo_root)
    with open(tested['metrics']) as f:
        top1 = json.load(f)['accuracy/top1']
    assert f"'accuracy/top1': {top1:.4g}"[:22] in proc.stdout.replace(
        '\n', '') or f'{top1:.4f}'[:5] in proc.stdout, proc.stdout


def test_mmpretrain_analyze_results_reads_the_pickle(tested, repo_root):
    """analyze_results.py builds the test dataset in the mmpretrain scope;
    ``_scope_=ltcls`` on the dataset reaches ltcls's DigitsLT."""
    out = str(tested['tmp'] / 'analysis')
    run_tool([
        _mmpretrain_tool('analysis_tools/analyze_results.py'),
        QUICKSTART_CFG, tested['preds'], '--out-dir', out, '--topk', '2',
        '--cfg-options', 'test_dataloader.dataset._scope_=ltcls'
    ], repo_root)
    assert osp.isdir(osp.join(out, 'success'))
    assert osp.isdir(osp.join(out, 'fail'))


def test_show_dir_writes_images(tested):
    pngs = [
        f for f in os.listdir(tested['tmp'] / 'vis') if f.endswith('.png')
    ]
    # one per test image (interval 1), named by sample index
    assert sorted(pngs) == sorted(f'{i}_0.png' for i in range(100))


def test_out_item_metrics_and_old_out_usage(quickstart_run, tmp_path,
                                           repo_root):
    out = str(tmp_path / 'm.json')
    run_tool([
        'tools/test.py', QUICKSTART_CFG, quickstart_run['checkpoint'],
        '--work-dir',
        str(tmp_path / 'w'), '--out', out, '--out-item', 'metrics'
    ] + SUBSET, repo_root)
    with open(out) as f:
        assert 'accuracy/few' in json.load(f)
    # --out used to be the metrics JSON: a clear error points to the flag
    proc = run_tool([
        'tools/test.py', QUICKSTART_CFG, quickstart_run['checkpoint'],
        '--out', out
    ], repo_root, expect_ok=False)
    assert proc.returncode != 0
    assert '--out-metrics' in proc.stderr and 'pickle' in proc.stderr
    proc = run_tool([
        'tools/test.py', QUICKSTART_CFG, quickstart_run['checkpoint'],
        '--out-item', 'pred'
    ], repo_root, expect_ok=False)
    assert 'Please use `--out`' in proc.stderr


def test_tta_averages_flipped_and_plain_scores(quickstart_run, tested,
                                               tmp_path, repo_root):
    preds = str(tmp_path / 'tta.pkl')
    run_tool([
        'tools/test.py', QUICKSTART_CFG, quickstart_run['checkpoint'],
        '--work-dir',
        str(tmp_path / 'w'), '--tta', '--out', preds
    ] + SUBSET, repo_root)
    with open(preds, 'rb') as f:
        tta = pickle.load(f)
    assert len(tta) == 100
    # independent: the average of the model's scores on the image and on
    # its horizontal flip
    from mmengine.config import Config

    from ltcls.apis import get_model
    from ltcls.registry import DATASETS
    cfg = Config.fromfile(osp.join(repo_root, QUICKSTART_CFG))
    model = get_model(cfg, pretrained=quickstart_run['checkpoint'])
    ds = DATASETS.build(
        dict(cfg.test_dataloader.dataset, pipeline=[], indices=100))
    for i in (0, 57):
        img = torch.from_numpy(ds[i]['img']).permute(2, 0, 1)
        with torch.no_grad():
            batch = model.data_preprocessor(
                dict(inputs=[img, img.flip(-1)]))['inputs']
            scores = model.head.predict(model.extract_feat(batch))
        ref = (scores[0].pred_score + scores[1].pred_score) / 2
        torch.testing.assert_close(tta[i]['pred_score'], ref)


def test_checkpoint_mismatch_check_is_kept(quickstart_run, tmp_path,
                                           repo_root):
    proc = run_tool([
        'tools/test.py', QUICKSTART_CFG, quickstart_run['checkpoint'],
        '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', 'model.backbone.depth=20'
    ], repo_root, expect_ok=False)
    assert proc.returncode != 0 and 'does not match' in proc.stderr
    assert 'unexpected key' in proc.stderr
