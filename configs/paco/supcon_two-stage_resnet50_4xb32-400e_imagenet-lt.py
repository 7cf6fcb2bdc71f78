# SupCon two-stage baseline of PaCo's Table 1 (ImageNet-LT, ResNet-50, no
# RandAugment; paper 53.4 / 2.9 / 0.0, 22.0 top-1), stage 1: 400 epochs of
# SupCon in the MoCo framework (spec_paco.md §2.1, Eq. 3): each query is
# contrasted against the bank [local queries; momentum keys; 8192-key queue]
# (itself excluded, same-class entries positive, mean over positives, tau
# 0.2). No new algorithm: the PaCo algorithm (momentum encoder m = 0.999,
# shuffle-BN, labelled queue, same bank) with MultiTaskContrastiveLoss at
# classifier weight 0 and SupCon weight 1, i.e. no centers anywhere (the
# linear head is built but gets a zero gradient and is discarded: stage 2
# trains a fresh one). Data, views (SimAugment on both) and schedule are
# those of PaCo-dagger, the Table 1 row it is compared with.
# Stage 2: benchmarks/resnet50_supcon-two-stage-pre_4xb32-linear-coslr-400e_imagenet-lt.py.
_base_ = './paco-dagger_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(
    loss=dict(
        _delete_=True,
        type='MultiTaskContrastiveLoss',
        cls_weight=0.0,  # no classifier / centers in the objective
        supcon_weight=1.0,
        temperature=_base_.model.loss.temperature,  # 0.2
        gather_bank=_base_.model.loss.gather_bank))  # per-GPU bank

# the untrained head's accuracy means nothing: no validation in stage 1
val_dataloader = None
val_evaluator = None
val_cfg = None
