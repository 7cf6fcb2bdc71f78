# ResCom ablation "MoCo framework + Balanced Softmax" (ImageNet-LT,
# ResNet-50; paper §4.2: 55.7 vs ResCom 58.7; spec_rescom.md §7, Fig. 2b):
# a momentum key encoder (m = 0.999, shuffle-BN) and a long-tailed FIFO
# queue of 4,000 labelled keys (the size of ResCom's class-balanced queue),
# Balanced Softmax on the query view only, plus lambda = 0.5 x SupCon
# (tau 0.2) of the query against [momentum keys of the batch; queue]; no
# class weights, no mining. No new code: PaCo's momentum machinery
# (``PaCo`` algorithm) with ``MultiTaskContrastiveLoss`` (classifier loss +
# w * SupCon with its own softmax, no centers). Data, schedule and
# optimizer are the ResCom ResNet-50 recipe (both views from the same
# augmentation). The paper gives neither the momentum nor this queue size.
_base_ = './rescom_resnet50_8xb32-400e_imagenet-lt.py'

model = dict(
    _delete_=True,
    type='PaCo',
    backbone=_base_.model.backbone,
    neck=_base_.model.neck,
    projector=_base_.model.projector,
    head=_base_.model.head,
    queue_len=4000,
    feat_dim=128,
    momentum=0.001,  # mmengine EMA weight: MoCo m = 0.999
    queue_init='empty',
    shuffle_bn=True,
    loss=dict(
        type='MultiTaskContrastiveLoss',
        cls_loss='balanced_softmax',
        cls_weight=1.0,
        supcon_weight=0.5,  # lambda
        temperature=0.2,
        reweight=False,
        contrastive_log_prior=False,
        gather_bank=False))
