import torch
import torch.nn.functional as F
from mmengine.config import Config

from ltcls.datasets import DigitsLT


def test_inv_freq_ce_matches_closed_form():
    from projects.example_project.models import InvFreqCrossEntropyLoss
    counts = [8, 4, 2, 1]
    loss = InvFreqCrossEntropyLoss(counts)
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 3, 0])
    w = torch.tensor([3.75 / c for c in counts], dtype=torch.float64)
    logp = F.log_softmax(x, 1)
    num = sum(-w[y[i]] * logp[i, y[i]] for i in range(6))
    den = sum(w[y[i]] for i in range(6))
    assert torch.allclose(loss(x, y), num / den, atol=1e-12)


def test_example_config_counts_match_dataset(repo_root):
    cfg = Config.fromfile(
        f'{repo_root}/projects/example_project/configs/'
        'resnet32_inv-freq-ce_digits-lt.py')
    counts = cfg.model.head.loss.class_counts
    assert counts == DigitsLT(imbalance_factor=10).class_counts.tolist()
