from .inv_freq_ce_loss import InvFreqCrossEntropyLoss

__all__ = ['InvFreqCrossEntropyLoss']
