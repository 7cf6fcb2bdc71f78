# PaCo's multi-task baseline on full ImageNet, ResNet-50, RandAugment
# (spec_paco.md §2.9, Table 7: "multi-task (CE + 0.05 SupCon)", 78.1 vs PaCo
# 79.3): CE on the classifier + 0.05 * SupCon over PaCo's bank (tau 0.2, its
# own softmax, no centers); balanced data, so no prior anywhere. The rest is
# the full-ImageNet PaCo recipe (8 x 32, lr 0.04, wd 1e-4, 400 epochs).
_base_ = './paco_resnet50_8xb32-400e_in1k.py'

model = dict(
    loss=dict(
        _delete_=True,
        type='MultiTaskContrastiveLoss',
        cls_loss='ce',
        supcon_weight=0.05,
        temperature=_base_.model.loss.temperature,  # 0.2
        gather_bank=_base_.model.loss.gather_bank))
