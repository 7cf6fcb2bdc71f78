# ResCom, ResNet-50, ImageNet-LT: the short name users launch with
#   tools/dist_train.sh configs/rescom/r50_imagenet_lt.py 8
# It is exactly rescom_resnet50_8xb32-400e_imagenet-lt.py (8 x 32, lr 0.06,
# 400 epochs; see that file for the recipe and its sources).
_base_ = ['./rescom_resnet50_8xb32-400e_imagenet-lt.py']
