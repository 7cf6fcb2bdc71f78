import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def get_version():
    ns = {}
    with open('ltcls/version.py') as f:
        exec(compile(f.read(), 'ltcls/version.py', 'exec'), ns)
    return ns['__version__']


def parse_requirements(fname):
    """Read requirement lines, skipping comments, blanks and -r includes."""
    reqs = []
    with open(fname) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension():
    """Expose tools/, configs/ and model-index.yml under ltcls/.mim.

    Symlinks in editable (develop) installs, copies for wheels/sdists, like
    mmpretrain's setup.py, so that `mim` and mmengine.hub can find configs.
    The data files are in the wheel through MANIFEST.in (include_package_data).
    ``LTCLS_MIM_MODE=symlink|copy`` forces a mode (tools/install.sh).
    """
    mode = os.environ.get('LTCLS_MIM_MODE')  # tools/install.sh: symlink
    if mode in ('symlink', 'copy'):
        pass
    elif 'develop' in sys.argv or any('editable' in a for a in sys.argv):
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    filenames = ['tools', 'configs', 'model-index.yml']
    repo_path = osp.dirname(__file__)
    mim_path = osp.join(repo_path, 'ltcls', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for filename in filenames:
        src = osp.join(repo_path, filename)
        if not osp.exists(src):
            continue
        tar = osp.join(mim_path, filename)
        if osp.isfile(tar) or osp.islink(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), tar)
            except OSError:
                mode = 'copy'
                warnings.warn(f'Failed to symlink {src}; copying instead')
        if mode == 'copy':
            if osp.isfile(src):
                shutil.copyfile(src, tar)
            else:
                shutil.copytree(src, tar)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='ltcls',
        version=get_version(),
        description='Contrastive long-tailed image recognition, an '
        'OpenMMLab (mmpretrain) extension',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='long-tailed recognition, contrastive learning, mmpretrain',
        packages=find_packages(exclude=('configs', 'tools', 'tests',
                                        'projects')),
        include_package_data=True,
        python_requires='>=3.8',
        license='Apache License 2.0',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'tests': parse_requirements('requirements/tests.txt'),
            'mim': parse_requirements('requirements/mminstall.txt'),
        },
        zip_safe=False)
