# Test-only config of the released PaCo full-ImageNet ResNet-101
# checkpoint (official README "Full ImageNet" table): the ResNet-50
# released config with a ResNet-101 encoder (Full-ImageNet/models/resnet.py,
# torchvision layout).
_base_ = './paco_resnet50_8xb32-400e_in1k_released.py'

model = dict(backbone=dict(depth=101))
