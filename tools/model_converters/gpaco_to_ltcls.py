# Copyright (c) ltcls contributors. All rights reserved.
"""Convert a released GPaCo checkpoint (dvlab-research/
Parametric-Contrastive-Learning, ``GPaCo/LT/``) to ltcls.

Official layout (``GPaCo/LT/moco/builder.py`` ``MoCo``, saved from DDP):

===========================  ==========================  ==================
official                     what it is                  ltcls
===========================  ==========================  ==================
``encoder_q.*``              torchvision-layout ResNet   ``backbone.*``
                             / ResNeXt (the only
                             encoder: no momentum copy)
``encoder_q.fc.{0,2,4}``     MLP Linear(D, D) - ReLU -   ``projector.mlp.*``
                             Linear(D, D) - ReLU -       (checked, not kept)
                             Linear(D, 128), no BN
``linear.{weight,bias}``     classifier = the centers    ``head.fc.*``
``queue``, ``queue_l``,      key queue and labels        dropped
``queue_ptr``
===========================  ==========================  ==================

A file with ``encoder_k.*`` is a PaCo checkpoint (momentum encoder): it is
refused here with a pointer to ``paco_to_ltcls.py``.

Example::

    python tools/model_converters/gpaco_to_ltcls.py \\
        configs/paco/gpaco_resnet50_4xb32-400e_imagenet-lt_released.py \\
        gpaco_r50_imagenetlt.pth.tar gpaco_resnet50_imagenet-lt_official.pth
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from ltcls.utils.official_checkpoint import KeyRule, run_converter  # noqa

#: GPaCo's official key layout, first match wins.
GPACO_RULES = (
    KeyRule('encoder_q.fc.', 'projector.mlp.', 'projector'),
    KeyRule('encoder_q.', 'backbone.', 'backbone'),
    KeyRule('linear.', 'head.fc.', 'head'),
    KeyRule('queue', None, 'queue', exact=True),
    KeyRule('queue_l', None, 'queue', exact=True),
    KeyRule('queue_ptr', None, 'queue', exact=True),
)

HINT = ('GPaCo has no momentum encoder: encoder_k.* / linear_k.* belong to '
        'a PaCo checkpoint, convert it with paco_to_ltcls.py.')


def main(argv=None):
    return run_converter(
        argv,
        GPACO_RULES,
        name='ltcls tools/model_converters/gpaco_to_ltcls.py',
        description='Convert a released GPaCo checkpoint to ltcls',
        hint=HINT)


if __name__ == '__main__':
    main()
