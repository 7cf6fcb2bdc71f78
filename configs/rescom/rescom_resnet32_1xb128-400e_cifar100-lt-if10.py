# ResCom on CIFAR-100-LT, imbalance factor 10: the IF-100 recipe (only the
# IF-100 config was released; Q, Q_p, Q_n and beta are kept).
_base_ = './rescom_resnet32_1xb128-400e_cifar100-lt-if100.py'

train_dataloader = dict(dataset=dict(imbalance_factor=10))
