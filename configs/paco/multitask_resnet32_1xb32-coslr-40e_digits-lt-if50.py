# PaCo's multi-task baseline on DigitsLT (imbalance factor 50), the CPU-sized
# companion of paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py: the same
# model, bank (local [q; k] + 128-key queue), views, schedule and evaluator;
# only the loss differs. Table 14's row "Balanced Softmax + re-weighting"
# (spec_paco.md §2.9): Balanced Softmax on the classifier + 0.05 x SupCon
# over the bank (own softmax, no centers), each anchor's SupCon term times
# the effective-number weight mean(E) / E_y, beta 0.999.
#   python tools/train.py \
#       configs/paco/multitask_resnet32_1xb32-coslr-40e_digits-lt-if50.py
_base_ = './paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(
    loss=dict(
        _delete_=True,
        type='MultiTaskContrastiveLoss',
        cls_loss='balanced_softmax',
        supcon_weight=0.05,
        temperature=_base_.model.loss.temperature,  # 0.05, PaCo's
        reweight=True,
        reweight_beta=0.999))
