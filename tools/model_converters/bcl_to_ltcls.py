# Copyright (c) ltcls contributors. All rights reserved.
"""Convert a released BCL checkpoint (FlamieZhu/Balanced-Contrastive-
Learning, CVPR 2022) to ltcls.

Official layout (``models/resnext.py`` ``BCLModel``, saved from
``nn.DataParallel``, so keys start with ``module.``):

========================  =============================  ===================
official                  what it is                     ltcls
========================  =============================  ===================
``encoder.*``             torchvision-layout ResNet-50   ``backbone.*``
                          / ResNeXt-50 32x4d, no ``fc``
``head.{0,1,3}``          MLP Linear(D, D) - BN1d -      ``projector.mlp.*``
                          ReLU - Linear(D, 1024)         (checked, not kept)
``fc.weight`` (D, C)      ``NormedLinear``: cosine       ``head.fc.weight``
                          classifier, scale s = 30       (C, D), transposed;
                                                         ``NormedLinearClsHead
                                                         (scale=30)``
``head_fc.{0,1,3}``       MLP mapping the class weights  dropped
                          to the class centres of the
                          BCL loss (training only)
========================  =============================  ===================

BCL's test logits are ``30 * cos(x, w_c)`` on the pooled feature; the
ltcls head computes the same.

Example::

    python tools/model_converters/bcl_to_ltcls.py \\
        configs/bcl/bcl_resnext50-32x4d_4xb64-90e_imagenet-lt_released.py \\
        bcl_ckpt.best.pth.tar bcl_resnext50_imagenet-lt_official.pth
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from ltcls.utils.official_checkpoint import (KeyRule,  # noqa: E402
                                             run_converter, transpose)

#: BCL's official key layout, first match wins.
BCL_RULES = (
    KeyRule('encoder.', 'backbone.', 'backbone'),
    KeyRule('head.', 'projector.mlp.', 'projector'),
    KeyRule('fc.weight', 'head.fc.weight', 'head', exact=True,
            transform=transpose),
    KeyRule('head_fc.', None, 'center projector'),
)

HINT = ('fc.bias belongs to a BCL model trained with --use_norm False '
        '(plain linear classifier), which the released configs do not '
        'describe.')


def main(argv=None):
    return run_converter(
        argv,
        BCL_RULES,
        name='ltcls tools/model_converters/bcl_to_ltcls.py',
        description='Convert a released BCL checkpoint to ltcls',
        hint=HINT)


if __name__ == '__main__':
    main()
