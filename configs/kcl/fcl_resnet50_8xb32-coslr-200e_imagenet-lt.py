# FCL (full-positive baseline of KCL) on ImageNet-LT: the KCL recipe with
# every same-class queue entry as a positive (pos_k=None, code `posk=None`;
# spec_kcl.md section 2.4). Stage 2 as for KCL.
_base_ = './kcl_resnet50_8xb32-coslr-200e_imagenet-lt.py'

model = dict(loss=dict(pos_k=None))
