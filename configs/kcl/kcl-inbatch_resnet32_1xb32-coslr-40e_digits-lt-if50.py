# KCL in-batch mode on DigitsLT (IF 50): spec_kcl.md section 9 item 1,
# decision [D], "positives = same-class samples in the batch, capped at k",
# for small-scale runs. No momentum encoder and no queue: both views of the
# batch go through the online encoder, every other view of the (global)
# batch is contrasted, and at most k = 6 same-class views per anchor are
# the positives (SupConLoss with pos_k; the KCL selection rule, random by
# default, 'v1' denominator). Everything else as the queue-based KCL
# DigitsLT config (ResNet-32, one linear projection 64 -> 128, tau 0.07,
# 40 epochs, batch 32, lr 0.1 cosine, weight decay 5e-4).
#   python tools/train.py configs/kcl/kcl-inbatch_resnet32_1xb32-coslr-40e_digits-lt-if50.py
# Stage 2: benchmarks/resnet32_kcl-pre_1xb32-linear-cb-steplr-30e_digits-lt-if50.py with
# --cfg-options model.backbone.init_cfg.checkpoint=<this run's last ckpt>
_base_ = './kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(
    _delete_=True,
    type='SupConClassifier',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, out_channels=128, num_layers=1),
    loss=dict(
        type='SupConLoss',
        temperature=0.07,
        pos_k=6,
        pos_selection='random',
        variant='v1',
        seed=0),
    num_views=2)

# no queue, so no QueueWarmupHook
custom_hooks = [dict(type='NumClassesCheckHook')]
