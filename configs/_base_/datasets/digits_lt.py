# DigitsLT: scikit-learn's bundled handwritten digits, 32x32 RGB, long-tailed
# train split (exponential profile), balanced test split (50 per class).
dataset_type = 'DigitsLT'
imbalance_factor = 10
data_preprocessor = dict(
    num_classes=10,
    # mean / std of DigitsLT train images (0..255 scale)
    mean=[48.5, 48.5, 48.5],
    std=[82.0, 82.0, 82.0],
    to_rgb=False,
)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        split='train',
        imbalance_factor=imbalance_factor,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# Overall top-1 plus many / medium / few-shot accuracy. DigitsLT has at most
# ~124 images per class, so the shot thresholds are scaled down from the
# benchmark convention (>100 / <20) to many > 60, few < 20.
val_evaluator = dict(
    type='LongTailAccuracy', topk=(1, ), many_thr=60, few_thr=20)

test_dataloader = val_dataloader
test_evaluator = val_evaluator
