# The two-view augmentation family of the contrastive methods on
# Fashion-MNIST-LT (fashion_mnist_lt.py has the data, the test split and
# the evaluator). The CIFAR recipes' views, made grey-safe: a random
# resized crop of the 28x28 image to 14x14 (area 0.5-1, milder than
# CIFAR's 0.2-1 for the small images) + the
# horizontal flip of the single-view pipeline, then
# - `sim_view`: brightness / contrast jitter (SimAugment / SimCLR analogue;
#   no hue, saturation or grayscale for grey images);
# - `rand_view`: RandAugment over a grey-safe op list (the stronger view of
#   PaCo and ResCom, where the CIFAR recipes use AutoAugment/RandAugment).
# Methods pick the views as their papers do (written in each config).
_base_ = ['./fashion_mnist_lt.py']

rrc = dict(
    type='RandomResizedCrop',
    scale=_base_.img_size,  # crops the 28x28 image, outputs 14x14
    crop_ratio_range=(0.5, 1.0),
    backend='pillow')
flip = dict(type='RandomFlip', prob=0.5, direction='horizontal')
color_jitter = dict(
    type='RandomApply',
    transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)],
    prob=0.8)
grey_randaug = dict(
    type='RandAugment',
    policies=[
        dict(type='AutoContrast'),
        dict(type='Rotate', magnitude_range=(0, 20)),
        dict(type='Posterize', magnitude_range=(4, 2)),
        dict(type='Contrast', magnitude_range=(0, 0.9)),
        dict(type='Brightness', magnitude_range=(0, 0.9)),
        dict(type='Sharpness', magnitude_range=(0, 0.9)),
        dict(type='Shear', magnitude_range=(0, 0.2), direction='horizontal'),
        dict(type='Shear', magnitude_range=(0, 0.2), direction='vertical'),
        dict(type='Translate', magnitude_range=(0, 0.15),
             direction='horizontal'),
        dict(type='Translate', magnitude_range=(0, 0.15),
             direction='vertical'),
    ],
    num_policies=2,
    magnitude_level=10,
    magnitude_std=0.5,
    hparams=dict(pad_val=0))
sim_view = [rrc, flip, color_jitter]
rand_view = [rrc, flip, grey_randaug]

# default: two SimAugment-style views (KCL / FCL / SBCL / SupCon family)
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[sim_view]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
