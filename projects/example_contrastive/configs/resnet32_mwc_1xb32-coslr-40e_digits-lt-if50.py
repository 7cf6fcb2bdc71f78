# The example contrastive method on DigitsLT (IF 50), the KCL proof-run
# recipe (configs/kcl/kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py) with
# the example's model.
_base_ = ['../../../configs/kcl/kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py']

custom_imports = dict(
    imports=['projects.example_contrastive.models'],
    allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='MemoryWeightedContrast',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, out_channels=128, num_layers=1),
    queue=dict(type='LabelledQueue', length=256, dim=128),
    momentum=0.001,
    loss=dict(
        type='MemoryWeightedContrastLoss', temperature=0.1,
        memory_weight=0.5))
