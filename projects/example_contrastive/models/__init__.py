from .mwc import MemoryWeightedContrast
from .mwc_loss import MemoryWeightedContrastLoss, mwc_loss_per_anchor

__all__ = [
    'MemoryWeightedContrast', 'MemoryWeightedContrastLoss',
    'mwc_loss_per_anchor'
]
