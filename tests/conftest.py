"""Shared fixtures: one tiny synthetic benchmark per test session, made by the real `dr-study synth`."""
import shutil, subprocess, sys
from pathlib import Path
import pytest

@pytest.fixture(scope='session')
def synth_root(tmp_path_factory) -> Path:
    "A tiny synthetic benchmark written by the command line tool (read-only: copy it before corrupting it)."
    out = tmp_path_factory.mktemp('synth')/'tiny'
    subprocess.run([sys.executable, '-m', 'dr_study.cli', 'synth', str(out), '--size', 'tiny', '--seed', '3', '--quiet'], check=True)
    return out

@pytest.fixture
def synth_copy(synth_root, tmp_path) -> Path:
    "A private copy of the tiny synthetic benchmark, to damage."
    dst = tmp_path/'synth'
    shutil.copytree(synth_root, dst)
    return dst
