"""The command line as a user runs it: subprocesses, exit codes, files written."""
import subprocess, sys
import pandas as pd, yaml

CLI = [sys.executable, '-m', 'dr_study.cli']


def run(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_prepare_tiny_writes_results_and_resumes(tmp_path):
    out = tmp_path/'run'
    r = run('prepare', '--profile', 'tiny', '--out', out, '--quiet')
    assert r.returncode == 0, r.stderr
    assert '[dr-study] data: read, split, cache done in' in r.stdout
    params = yaml.safe_load((out/'params.yaml').read_text())
    assert params['profile'] == 'tiny' and params['image_size'] == 64
    summ = pd.read_csv(out/'results'/'data_summary.csv')
    assert set(zip(summ.dataset, summ.split)) == {('eyepacs', 'train'), ('eyepacs', 'val'), ('eyepacs', 'test'),
                                                 ('messidor2', 'test'), ('idrid_seg', 'train'), ('idrid_seg', 'test')}
    skipped = pd.read_csv(out/'results'/'skipped.csv')
    assert len(skipped) == 3  # the synthetic set's black and truncated images, the ungradable Messidor-2 image
    caches = sorted((out/'cache').glob('*/images.u8'))
    stamps = [p.stat().st_mtime_ns for p in caches]
    r2 = run('prepare', '--profile', 'tiny', '--out', out, '--quiet')
    assert r2.returncode == 0, r2.stderr
    assert [p.stat().st_mtime_ns for p in caches] == stamps  # nothing recomputed
    assert len(pd.read_csv(out/'results'/'skipped.csv')) == 3  # and nothing recorded twice


def test_overrides_change_the_cache(tmp_path):
    out = tmp_path/'run'
    assert run('prepare', '--profile', 'tiny', '--out', out, '--quiet', '--set', 'image_size=32').returncode == 0
    assert run('prepare', '--profile', 'tiny', '--out', out, '--quiet', '--set', 'image_size=40').returncode == 0
    names = sorted(p.name for p in (out/'cache').iterdir())
    assert any('-32px-' in n for n in names) and any('-40px-' in n for n in names)


def test_paper_profile_without_data_says_what_to_do(tmp_path):
    r = run('reproduce', '--profile', 'paper', '--out', tmp_path/'p', '--quiet')
    assert r.returncode == 2
    assert 'EyePACS path not set: use --set eyepacs=/path/to/eyepacs' in r.stderr and 'Traceback' not in r.stderr
    r = run('reproduce', '--profile', 'paper', '--out', tmp_path/'p', '--set', f'eyepacs={tmp_path}/nowhere', '--quiet')
    assert r.returncode == 2 and 'nowhere: EyePACS not found here: expected' in r.stderr


def test_synth_cli_is_deterministic(tmp_path):
    for name in ('a', 'b'):
        assert run('synth', tmp_path/name, '--size', 'tiny', '--seed', '11', '--quiet').returncode == 0
    files = lambda d: {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob('*')) if p.is_file()}
    fa, fb = files(tmp_path/'a'), files(tmp_path/'b')
    assert fa.keys() == fb.keys() and all(fa[k] == fb[k] for k in fa)
