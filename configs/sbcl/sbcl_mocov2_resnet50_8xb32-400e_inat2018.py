# SBCL stage 1, iNaturalist 2018, ResNet-50. There is no released iNat
# recipe (spec_sbcl.md sections 5.1, 9.13): the ImageNet-LT recipe is used
# as is (MoCo v2, 200 KCL warm-up epochs + 200 SBCL epochs, delta 20 by
# decision) on the 8,142 iNat classes with the iNat normalisation
# (configs/_base_/datasets/inat2018.py). Expect to tune the epochs (TSC /
# KCL used shorter iNat schedules).
# Stage 2: benchmarks/resnet50_sbcl-pre_8xb256-linear-cb-steplr-40e_inat2018.py
_base_ = './sbcl_mocov2_resnet50_8xb32-400e_imagenet-lt.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='INaturalist2018',
        data_root='data/iNaturalist2018',
        ann_file='iNaturalist18_train.txt',
        pipeline={{_base_.train_pipeline}}))
# iNat 2018 mean / std of the KCL / PaCo code, x 255, RGB (images are
# decoded as BGR)
data_preprocessor = dict(
    num_classes=8142,
    mean=[118.83, 120.105, 96.9],
    std=[49.725, 49.47, 48.96],
    to_rgb=True)
model = dict(num_classes=8142)
