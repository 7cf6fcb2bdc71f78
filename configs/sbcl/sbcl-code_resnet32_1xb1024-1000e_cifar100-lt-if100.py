# SBCL stage 1, CIFAR-100-LT IF 100, with the released code's choices where
# they differ from the paper (spec_sbcl.md sections 2.4, 3.3, 9.5, 9.6):
# plain (unbalanced) cosine k-means with random initialisation and at most
# 35 iterations, and the linear per-class temperature
# tau2(c) = tau1 * phi(c) / mean phi with phi clipped to its P20..P80
# percentiles, classes with one subclass at tau1. A reproduction check of
# the code; everything else as the paper config.
_base_ = './sbcl_resnet32_1xb1024-1000e_cifar100-lt-if100.py'

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(
        type='SubclassClusteringHook',
        start_epoch=10,
        interval=10,
        clustering=dict(
            delta=10,
            algo='kmeans',
            init='random',
            max_iters=35,
            tol=1e-3,
            temperature_mode='linear',
            alpha=10.0,
            clip_percentiles=(20, 80),
            tail_tau2='tau1',
            seed=0)),
]
