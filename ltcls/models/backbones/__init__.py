# Copyright (c) ltcls contributors. All rights reserved.
from .deep_resnet import DeepResNet
from .resnet32_cifar import ResNet32CIFAR

__all__ = ['DeepResNet', 'ResNet32CIFAR']
