"""Helpers of the tool tests (tests/test_tools)."""
import os
import subprocess
import sys

QUICKSTART_CFG = 'configs/quickstart/resnet32_ce_digits-lt.py'


def run_tool(args, cwd, expect_ok=True, timeout=300):
    """Run ``python <args>`` in ``cwd``; fail with its output if needed."""
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable] + list(args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc
