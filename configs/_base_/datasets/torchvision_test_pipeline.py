# The test transform of the torchvision reference scripts, used by the
# released PaCo / GPaCo / BCL models (``transforms.Resize(256)`` on a PIL
# image, ``CenterCrop(224)``, ``ToTensor``, ``Normalize``; the mean / std
# are the config's data_preprocessor). Same decoder and resize kernel:
# PIL decoding without the EXIF-orientation fix (torchvision's
# ``Image.open(...).convert('RGB')`` does not apply it), PIL bilinear
# resize of the short edge to 256 (long edge truncated to int, as
# torchvision), centre crop 224 (offsets rounded, as torchvision).
torchvision_test_pipeline = [
    dict(
        type='LoadImageFromFileStrict',
        imdecode_backend='pillow',
        color_type='color_ignore_orientation'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
