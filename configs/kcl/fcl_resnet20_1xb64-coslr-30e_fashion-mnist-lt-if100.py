# FCL (KCL with every same-class key a positive, pos_k=None) on
# Fashion-MNIST-LT IF 100; everything else as the KCL benchmark config.
#   python tools/train.py configs/kcl/fcl_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
# Stage 2: benchmarks/resnet20_kcl-pre_1xb64-linear-cb-coslr-10e_fashion-mnist-lt-if100.py
_base_ = './kcl_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(loss=dict(pos_k=None))
