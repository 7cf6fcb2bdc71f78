# FCL on iNaturalist 2018: the KCL recipe with pos_k=None (all same-class
# queue entries are positives; spec_kcl.md section 2.4).
_base_ = './kcl_resnet50_8xb32-coslr-200e_inat2018.py'

model = dict(loss=dict(pos_k=None))
