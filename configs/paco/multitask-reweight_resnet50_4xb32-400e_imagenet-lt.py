# Table 13 "multi-task (CE + re-weighting)" (spec_paco.md §2.9; paper 49.0):
# the CE + w * SupCon baseline with each anchor's SupCon term multiplied by
# the class-balanced effective-number weight mean(E) / E_y, beta 0.999
# (GPaCo code MultiTaskLoss; the weights of ResCom's class-balanced SupCon).
_base_ = './multitask_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(loss=dict(reweight=True, reweight_beta=0.999))
