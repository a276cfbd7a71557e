"""`pip install .` builds a wheel that carries the profiles, the study notebooks and the console script, has no nbdev
pins at run time, and runs the whole tiny study outside the checkout."""
import os, subprocess, sys, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', tmp_path/'dist', ROOT],
                   check=True, capture_output=True)
    whl, = (tmp_path/'dist').glob('dr_study-*.whl')
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith('METADATA'))).decode()
        entry = z.read(next(n for n in names if n.endswith('entry_points.txt'))).decode()
    assert {'dr_study/profiles/tiny.yaml', 'dr_study/profiles/smoke.yaml', 'dr_study/profiles/paper.yaml'} <= names
    from dr_study.pipeline import STEPS
    assert {f'dr_study/study/{s.notebook}' for s in STEPS} <= names
    assert 'dr-study = dr_study.cli:main' in entry
    runtime = [l for l in meta.splitlines() if l.startswith('Requires-Dist:') and 'extra ==' not in l]
    assert runtime and not any(p in l for l in runtime for p in ('nbdev', 'fastcore', 'execnb'))
    target = tmp_path/'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', target, whl], check=True, capture_output=True)
    env = {**os.environ, 'PYTHONPATH': str(target)}
    code = 'import dr_study, dr_study.paths as p; print(dr_study.__file__); print(sorted(q.stem for q in p.PROFILES.glob("*.yaml")))'
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].startswith(str(target)) and "['paper', 'smoke', 'tiny']" in out
    r = subprocess.run([target/'bin'/'dr-study', 'reproduce', '--profile', 'tiny', '--quiet'], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    run = tmp_path/'runs'/'tiny'  # the default run folder, relative to where the command ran
    assert (run/'results'/'data_summary.csv').exists() and (run/'site'/'index.html').exists()
    assert not list((run/'site').glob('method-*.html'))  # method pages need a checkout's nbs/: absent, not broken
