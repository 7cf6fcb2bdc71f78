# Copyright (c) ltcls contributors. All rights reserved.
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every ltcls (and mmpretrain) module so that all are registered.

    Args:
        init_default_scope (bool): Whether to set ``'ltcls'`` as the current
            default scope. If another scope is current, a uniquely named
            ``'ltcls'`` scope instance is created and made current, as
            mmpretrain's own ``register_all_modules`` does. Defaults to True.
    """
    import mmpretrain.utils  # noqa: F401
    mmpretrain_register = mmpretrain.utils.register_all_modules
    mmpretrain_register(init_default_scope=False)

    import ltcls.datasets  # noqa: F401,F811
    import ltcls.engine  # noqa: F401,F811
    import ltcls.evaluation  # noqa: F401,F811
    import ltcls.models  # noqa: F401,F811
    import ltcls.visualization  # noqa: F401,F811

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    never_created = current_scope is None or not DefaultScope.check_instance_created(
        'ltcls')
    if never_created:
        DefaultScope.get_instance('ltcls', scope_name='ltcls')
        return
    if current_scope.scope_name != 'ltcls':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "ltcls", '
                      '`register_all_modules` will force the current '
                      'default scope to be "ltcls". If this is not '
                      'expected, please set `init_default_scope=False`.')
        new_instance_name = f'ltcls-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='ltcls')
