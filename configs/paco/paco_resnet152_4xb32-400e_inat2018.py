# PaCo on iNaturalist 2018, ResNet-152 (spec_paco.md §3, §4; Table 11:
# 75.2, text 75.3): the ResNet-50 iNat recipe with a deeper backbone.
_base_ = './paco_resnet50_4xb32-400e_inat2018.py'

model = dict(backbone=dict(depth=152))
