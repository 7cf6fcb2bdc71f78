# ResCom ablation with single-view Balanced Softmax (ImageNet-LT,
# ResNet-50; paper Fig. 4 right; spec_rescom.md §7): Balanced Softmax on
# view 1's logits only instead of SiamBS (siamese_cls=False); the
# contrastive part is ResCom's. Paper: SiamBS is about +0.6 top-1 at every
# queue size (per-size values not in the text).
_base_ = './rescom_resnet50_8xb32-400e_imagenet-lt.py'

model = dict(loss=dict(siamese_cls=False))
