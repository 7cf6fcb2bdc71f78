# Copyright (c) ltcls contributors. All rights reserved.
"""Inference with ltcls models, as ``mmpretrain.apis``: ``get_model``,
``init_model``, ``inference_model``, ``list_models``,
``ImageClassificationInferencer``, ``FeatureExtractor``."""
from .image_classification import (FeatureExtractor,
                                   ImageClassificationInferencer)
from .model import (ModelHub, get_model, inference_model, init_model,
                    list_models)

__all__ = [
    'ModelHub', 'get_model', 'init_model', 'inference_model', 'list_models',
    'ImageClassificationInferencer', 'FeatureExtractor'
]
