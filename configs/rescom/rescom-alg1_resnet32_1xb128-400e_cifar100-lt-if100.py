# ResCom, the paper's Algorithm 1 / Eqs. 5 and 7 instead of the official
# code (spec_rescom.md §2.7): view-1 anchors only, no in-batch contrast,
# loss normalised by Q_p, raw effective-number weights (1 - beta) /
# (1 - beta^N_y), the queue takes view 2. Everything else as the IF-100
# config.
_base_ = './rescom_resnet32_1xb128-400e_cifar100-lt-if100.py'

model = dict(loss=dict(variant='paper'))  # enqueue_view follows: 1
