# Copyright (c) ltcls contributors. All rights reserved.
"""Classify one image with an ltcls model, as mmpretrain's
``demo/image_demo.py``.

Example (a DigitsLT model; ``demo/digits_lt_3.png`` is a test image of
class '3')::

    python demo/image_demo.py demo/digits_lt_3.png \\
        configs/quickstart/resnet32_ce_digits-lt.py \\
        work_dirs/quickstart/epoch_30.pth --show-dir work_dirs/vis
"""
import os.path as osp
import sys
from argparse import ArgumentParser

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmengine  # noqa: E402

from ltcls.apis import ImageClassificationInferencer  # noqa: E402


def parse_args(argv=None):
    parser = ArgumentParser(description='Classify an image with an ltcls '
                            'model and print the class and its score')
    parser.add_argument('img', help='image file')
    parser.add_argument(
        'config', help='config file (or a name of ltcls.apis.list_models())')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint file: a Runner checkpoint (work_dirs/.../epoch_N'
        '.pth) or a published one (tools/model_converters/publish_model.py)')
    parser.add_argument(
        '--device', default='cpu', help="device, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument(
        '--show', action='store_true', help='show the result in a window')
    parser.add_argument(
        '--show-dir', help='save the visualised result to this folder')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.img):
        raise FileNotFoundError(f'image not found: {args.img}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    inferencer = ImageClassificationInferencer(
        args.config, pretrained=args.checkpoint or True, device=args.device)
    result = inferencer(
        args.img, show=args.show, show_dir=args.show_dir)[0]
    result.pop('pred_scores')  # one score per class: too verbose here
    print(mmengine.dump(result, file_format='json', indent=4))
    return result


if __name__ == '__main__':
    main()
