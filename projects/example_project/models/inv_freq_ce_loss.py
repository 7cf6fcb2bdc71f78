"""Inverse-frequency weighted cross-entropy (example project)."""
import torch
import torch.nn.functional as F
from torch import nn

from ltcls.registry import MODELS


@MODELS.register_module()
class InvFreqCrossEntropyLoss(nn.Module):
    """Cross-entropy with class weights ``w_c = mean(n) / n_c``.

    Args:
        class_counts (list[int]): Training images per class; every count
            must be positive.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Shapes:
        cls_score: (N, C); label: (N,) -> scalar.
    """

    def __init__(self, class_counts, loss_weight: float = 1.0):
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float)
        if counts.dim() != 1 or (counts <= 0).any():
            raise ValueError('class_counts must be a list of positive counts, '
                             f'got {class_counts}')
        self.register_buffer('class_weight', counts.mean() / counts)
        self.loss_weight = loss_weight

    def forward(self, cls_score, label, weight=None, avg_factor=None,
                reduction_override=None, **kwargs):
        if cls_score.shape[1] != self.class_weight.numel():
            raise ValueError(
                f'cls_score has {cls_score.shape[1]} classes but class_counts '
                f'has {self.class_weight.numel()}')
        return self.loss_weight * F.cross_entropy(
            cls_score, label, weight=self.class_weight.to(cls_score.dtype))
