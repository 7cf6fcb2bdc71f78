# Hybrid-SC, ResNet-50, iNaturalist 2018 (Wang et al. CVPR 2021, Table 2:
# 66.74 top-1). Hybrid-PSC's recipe with the SupCon loss (tau = 0.1 [P]).
# [P] "the number of positive samples for each anchor is fixed to 2":
# [D] spec_hybrid.md section 9.5 (c): the feature batch is made of groups of
# 2 same-class images (an instance-sampled anchor image + one random image
# of its class) with 2 views each; the per-GPU batch of 50 holds 25 groups.
_base_ = './hybrid-psc_resnet50_2xb50-steplr-100e_inat2018.py'

model = dict(
    type='HybridSC',
    loss=dict(_delete_=True, type='SupConLoss', temperature=0.1))

train_dataloader = dict(
    sampler=dict(feat_sampling='class_grouped', images_per_class=2))
