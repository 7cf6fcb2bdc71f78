# PaCo's multi-task baseline on ImageNet-LT, ResNet-50, no RandAugment
# (spec_paco.md §2.9, Table 13 setting): CE on the linear classifier + w *
# SupCon over PaCo's bank (local [q; k] + 8192-key queue, tau 0.2), SupCon
# with its own softmax (no centers in it). Everything else is the
# PaCo-dagger recipe it is compared with (Table 1 / 13: 51.0): momentum
# encoder, SimAugment on both views, lr 0.02, 400 epochs.
# w is not given for Table 13; assumption: 0.05, the weight of the full-
# ImageNet multi-task (Table 7) and the first row of Table 14. Sweep it with
#   --cfg-options model.loss.supcon_weight=0.1
# Variants: multitask-reweight_* (CE + re-weighting, Table 13: 49.0),
# multitask-contrast-bs_* (CE + Balanced Softmax in the contrast, 48.6).
_base_ = './paco-dagger_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(
    loss=dict(
        _delete_=True,
        type='MultiTaskContrastiveLoss',
        cls_loss='ce',
        supcon_weight=0.05,
        temperature=_base_.model.loss.temperature,  # 0.2
        gather_bank=_base_.model.loss.gather_bank))  # per-GPU bank
