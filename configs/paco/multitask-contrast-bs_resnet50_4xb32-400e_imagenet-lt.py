# Table 13 "multi-task (CE + Balanced Softmax)" (spec_paco.md §2.9; paper
# 48.6): the Balanced-Softmax idea inside the *contrastive* softmax of the
# CE + w * SupCon baseline; the classifier keeps plain CE. The paper does not
# give the exact form; decision (spec §2.9, §8.12): add log q(label of the
# column) to every sample logit of the SupCon softmax.
_base_ = './multitask_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(loss=dict(contrastive_log_prior=True))
