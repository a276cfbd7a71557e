"""`pip install .` builds a wheel that carries the profiles, the study notebooks and the console script, has no nbdev
pins at run time, and runs every step of a narrowed tiny study outside the checkout."""
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
    shipped = {q.relative_to(ROOT).as_posix() for q in (ROOT/'dr_study').rglob('*') if q.is_file() and not any(x == '__pycache__' or x.startswith('.') for x in q.parts[len(ROOT.parts):])}
    assert shipped <= names, sorted(shipped - names)  # every file of the package: modules, profiles, study notebooks
    assert 'dr-study = dr_study.cli:main' in entry
    runtime = [l for l in meta.splitlines() if l.startswith('Requires-Dist:') and 'extra ==' not in l]
    # the notebook tools stay development tools; fastcore is a runtime requirement for its @patch (methods added in their own cells)
    assert runtime and not any(p in l for l in runtime for p in ('nbdev', 'execnb')) and any('fastcore' in l for l in runtime)
    target = tmp_path/'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', target, whl], check=True, capture_output=True)
    env = {**os.environ, 'PYTHONPATH': str(target)}
    code = 'import dr_study, dr_study.paths as p; print(dr_study.__file__); print(sorted(q.stem for q in p.PROFILES.glob("*.yaml")))'
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].startswith(str(target)) and "['paper', 'smoke', 'tiny']" in out
    narrow = ['--set', 'fractions=[1.0]', '--set', 'corruptions=[gaussian_noise]', '--set', 'severities=[3]', '--set', 'cascade=false',
              '--set', 'explainers=[lrp_a1b0, random, lrp_randomized]', '--set', 'spectra_boot=10', '--set', 'calibration_null=50']  # every step, each on little (the whole tiny run: tests/test_pipeline.py)
    r = subprocess.run([target/'bin'/'dr-study', 'reproduce', '--profile', 'tiny', '--quiet', *narrow], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    run = tmp_path/'runs'/'tiny'  # the default run folder, relative to where the command ran
    assert (run/'results'/'data_summary.csv').exists() and (run/'site'/'index.html').exists()
    assert not list((run/'site').glob('method-*.html'))  # method pages need a checkout's nbs/: absent, not broken


def test_public_functions_of_three_or_more_parameters_have_docments():
    "Every exported function and method with 3+ parameters documents each one (docments; for a dataclass, its fields' comments)."
    import dataclasses, importlib, inspect, pkgutil
    import dr_study
    from fastcore.docments import docments
    lacking = []
    for m in pkgutil.iter_modules(dr_study.__path__):
        if m.name.startswith('_'): continue
        mod = importlib.import_module(f'dr_study.{m.name}')
        for name in getattr(mod, '__all__', []):
            obj = getattr(mod, name)
            if getattr(obj, '__module__', None) != mod.__name__: continue
            fns = [(name, obj)] if inspect.isfunction(obj) else []
            if inspect.isclass(obj):
                fns += [(f'{name}.{k}', v) for k, v in vars(obj).items() if inspect.isfunction(v) and (not k.startswith('_') or k in ('__init__', '__call__'))
                        and not (k == '__init__' and dataclasses.is_dataclass(obj))]
                if dataclasses.is_dataclass(obj): fns.append((name, obj))
            for fname, f in fns:
                sig = inspect.signature(f)
                ps = [p for p, v in sig.parameters.items() if p not in ('self', 'cls') and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
                if len(ps) < 3: continue
                d = docments(f)
                if missing := [p for p in ps if not d.get(p)]: lacking.append(f'{m.name}.{fname}: {missing}')
    assert not lacking, '\n'.join(lacking)


def test_study_notebooks_colour_procedures_through_one_palette():
    "Every chart of a study notebook that colours the procedures takes its colours from `report.method_color`, so a method looks the same on every page."
    import re, nbformat
    study = Path(__file__).parents[1]/'dr_study'/'study'
    own = [f'{p.name}: {line.strip()[:80]}' for p in sorted(study.glob('*.ipynb')) for c in nbformat.read(p, 4).cells if c.cell_type == 'code'
           for line in c.source.splitlines() if re.search(r"alt\.Color\(\s*['\"]method", line)]
    assert not own, 'colour the procedures with report.method_color:\n' + '\n'.join(own)
    uses = sum('method_color(' in c.source for p in study.glob('*.ipynb') for c in nbformat.read(p, 4).cells)
    lib = sum(p.read_text().count('method_color(') for p in (study.parent).glob('*.py') if p.name != 'report.py')
    assert uses + lib >= 8, (uses, lib)  # the pages that draw procedures use it, or the library figures they call do
