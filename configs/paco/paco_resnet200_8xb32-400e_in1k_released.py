# Test-only config of the released PaCo full-ImageNet ResNet-200
# checkpoint (official README "Full ImageNet" table): the ResNet-50
# released config with a ResNet-200 encoder (Full-ImageNet/models/resnet.py,
# torchvision layout, Bottleneck stages (3, 24, 36, 3); mmpretrain's ResNet
# stops at depth 152, ltcls's DeepResNet adds 200 with the same names).
_base_ = './paco_resnet50_8xb32-400e_in1k_released.py'

model = dict(backbone=dict(type='DeepResNet', depth=200))
