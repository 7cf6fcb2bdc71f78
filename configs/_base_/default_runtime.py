# ltcls runtime defaults: ltcls registries first, then mmpretrain, mmengine.
default_scope = 'ltcls'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # AtomicCheckpointHook: mmengine's CheckpointHook (same arguments) that
    # writes to a temporary file, fsyncs and renames it, updates
    # last_checkpoint only then and removes old checkpoints last, so a
    # crash never leaves a half-written or missing checkpoint.
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # ltcls: exact resume (per-epoch seeding, every rank's RNG states in the
    # checkpoints, mid-epoch resume at the next batch)
    exact_resume=dict(type='ExactResumeHook'),
    # ltcls: a non-finite loss / gradient norm stops the run (action='skip'
    # skips and counts such steps); no non-finite checkpoint is written
    nonfinite_guard=dict(type='NonFiniteGuardHook', action='stop'),
)

# ltcls: never applies a step whose loss or gradient norm is not finite
# (NonFiniteGuardHook reports it). Configs set the optimizer (dicts merge).
optim_wrapper = dict(type='GuardedOptimWrapper')

# NumClassesCheckHook: the classifier's num_classes must match the datasets.
# ClassCountsHook: passes the train set's per-class counts to every loss,
# head and metric that needs them (Balanced Softmax, LDAM, LongTailAccuracy,
# ...); it does nothing when none does.
custom_hooks = [dict(type='NumClassesCheckHook'), dict(type='ClassCountsHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo automatically when CUDA is absent.
    dist_cfg=dict(backend='nccl'),
)

# Scalars (losses, lr, metrics) go to <work_dir>/<timestamp>/vis_data/
# scalars.json (plot them with tools/analysis_tools/plot_curves.py).
# TensorBoard is opt-in: `python tools/train.py CONFIG --tensorboard` appends
# dict(type='TensorboardVisBackend') to visualizer.vis_backends (or list it
# here / in a config); it needs `pip install tensorboard`, then
# `tensorboard --logdir work_dirs/<config stem>`.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
# CheckedRunner (ltcls.engine.runners): before loading, `resume` and
# `load_from` checkpoints are checked against the model (missing /
# unexpected keys, shapes) and another model's checkpoint stops with a
# CheckpointMismatchError. load_from_strict = False allows a partial
# load_from (the matching entries are loaded, mmengine warns about the
# rest); resume is always checked.
runner_type = 'CheckedRunner'
load_from_strict = True
randomness = dict(seed=0, deterministic=False)
