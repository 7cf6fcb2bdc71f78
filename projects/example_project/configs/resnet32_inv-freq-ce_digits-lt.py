_base_ = ['../../../configs/quickstart/resnet32_ce_digits-lt.py']

custom_imports = dict(
    imports=['projects.example_project.models'], allow_failed_imports=False)

# DigitsLT train counts at imbalance factor 10 (n_max = 124)
model = dict(
    head=dict(
        loss=dict(
            type='InvFreqCrossEntropyLoss',
            class_counts=[124, 96, 74, 57, 44, 34, 26, 20, 16, 12])))
