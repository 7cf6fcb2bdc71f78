# SBCL stage 1, CIFAR-100-LT IF 50: the IF 100 recipe (spec_sbcl.md 5.1)
# on the IF 50 split (delta 10 gives 1219 subclasses, section 3.1).
# Stage 2: benchmarks/resnet32_sbcl-pre_1xb128-linear-ldam-rw-steplr-200e_cifar100-lt-if50.py
_base_ = './sbcl_resnet32_1xb1024-1000e_cifar100-lt-if100.py'

train_dataloader = dict(dataset=dict(imbalance_factor=50))
