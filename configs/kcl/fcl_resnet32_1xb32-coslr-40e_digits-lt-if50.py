# FCL on DigitsLT (IF 50): the KCL proof run with pos_k=None.
#   python tools/train.py configs/kcl/fcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py
_base_ = './kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(loss=dict(pos_k=None))
