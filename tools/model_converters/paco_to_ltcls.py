# Copyright (c) ltcls contributors. All rights reserved.
"""Convert a released PaCo checkpoint (dvlab-research/
Parametric-Contrastive-Learning, ``LT/`` and ``Full-ImageNet/``) to ltcls.

Official layout (``moco/builder.py`` ``MoCo``, saved from DDP, so every key
starts with ``module.``):

=======================  ==============================  =================
official                 what it is                      ltcls
=======================  ==============================  =================
``encoder_q.*``          torchvision-layout ResNet /     ``backbone.*``
                         ResNeXt (query encoder)
``encoder_q.fc.{0,1,3}`` MLP Linear(D, D) - BN1d - ReLU  ``projector.mlp.*``
                         - Linear(D, 128)                (checked, not kept)
``linear.{weight,bias}`` classifier = the centers,       ``head.fc.*``
                         on the pooled feature (not
                         normalised)
``encoder_k.*``          momentum encoder (EMA copy)     dropped
``linear_k.*``           EMA copy of ``linear`` (LT)     dropped
``queue``, ``queue_l``,  key queue (K, 128), its         dropped
``queue_ptr``            labels and pointer
=======================  ==============================  =================

Inference in the official code is ``linear(avgpool(encoder_q))``, the
online weights, so the momentum copies are not needed; the queue is the
training key bank. The projector is checked against the config's
``ProjectionMLP`` and not written (ltcls published checkpoints hold the
inference part, see ``publish_model.py``).

Example::

    python tools/model_converters/paco_to_ltcls.py \\
        configs/paco/paco_resnet50_4xb32-400e_imagenet-lt_released.py \\
        moco_ckpt.best.pth.tar paco_resnet50_imagenet-lt_official.pth
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from ltcls.utils.official_checkpoint import KeyRule, run_converter  # noqa

#: PaCo's official key layout, first match wins.
PACO_RULES = (
    KeyRule('encoder_q.fc.', 'projector.mlp.', 'projector'),
    KeyRule('encoder_q.', 'backbone.', 'backbone'),
    KeyRule('linear.', 'head.fc.', 'head'),
    KeyRule('encoder_k.', None, 'momentum encoder'),
    KeyRule('linear_k.', None, 'momentum classifier'),
    KeyRule('queue', None, 'queue', exact=True),
    KeyRule('queue_l', None, 'queue', exact=True),
    KeyRule('queue_ptr', None, 'queue', exact=True),
)


def main(argv=None):
    return run_converter(
        argv,
        PACO_RULES,
        name='ltcls tools/model_converters/paco_to_ltcls.py',
        description='Convert a released PaCo checkpoint to ltcls')


if __name__ == '__main__':
    main()
