# Table 14 "multi-task (Balanced Softmax + re-weighting)", ImageNet-LT,
# ResNeXt-50 32x4d, RandAugment, 400 epochs (spec_paco.md §2.9; paper 57.0
# at w = 0.05, 56.9-57.2 over w in 0.05...1.0, PaCo 58.2): Balanced Softmax
# on the classifier + w * SupCon over PaCo's bank, each anchor's SupCon term
# times the effective-number weight mean(E) / E_y (beta 0.999). The rest is
# the PaCo ResNeXt-50 recipe it is compared with (tau 0.07 of the official
# X50 script, StackedRandAugment query / SimAugment key, lr 0.02).
# The Table 14 sweep, one run per weight:
#   --cfg-options model.loss.supcon_weight=0.1   (0.2, 0.3, 0.5, 0.8, 1.0)
_base_ = './paco_resnext50-32x4d_4xb32-400e_imagenet-lt.py'

model = dict(
    loss=dict(
        _delete_=True,
        type='MultiTaskContrastiveLoss',
        cls_loss='balanced_softmax',
        supcon_weight=0.05,
        temperature=_base_.model.loss.temperature,  # 0.07 (X50 script)
        reweight=True,
        reweight_beta=0.999,
        gather_bank=_base_.model.loss.gather_bank))
