# CIFAR-100-LT (LDAM / BBN protocol): exponential profile
# n_i = int(500 * IF^(-i/99)), IF 100 -> 10,847 training images (500..5
# per class); the full balanced 10,000-image test set.
# data_root holds `cifar-100-python/` (the official python pickles).
# Single-view pipeline of the LT papers (LDAM/BBN): RandomCrop(32, pad 4) +
# horizontal flip; CIFAR mean/std (0.4914, 0.4822, 0.4465) /
# (0.2023, 0.1994, 0.2010) x 255 (spec_rescom.md §4, spec_paco.md §4).
dataset_type = 'CIFAR100LT'
data_root = 'data/cifar100'
# 10 / 50 / 100 / 200. A child config that changes it must also set
# train_dataloader = dict(dataset=dict(imbalance_factor=...)): base-config
# variables are substituted when the base file is read.
imbalance_factor = 100
profile = 'exp'  # or 'step'
# 'ldam_shuffle': the exact subset of the LDAM-DRW code (np.random.seed(0),
# per-class shuffle, first n_i), which the PaCo / ResCom / SBCL / Hybrid code
# all reuse, so the paper configs use it for parity. 'file_order' (the
# dataset class default) keeps the first n_i images in file order; the
# per-class counts are identical, only which images are kept differs.
selection = 'ldam_shuffle'

data_preprocessor = dict(
    num_classes=100,
    # the CIFAR pickles are RGB already
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False,
)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        imbalance_factor=imbalance_factor,
        profile=profile,
        selection=selection,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=100,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
