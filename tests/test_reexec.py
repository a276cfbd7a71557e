"""Re-executing with new parameters is exact: work units keyed by what they depend on, honest skipping, status, clean,
one writer per run folder, damaged units redone, bad parameters refused before anything runs."""
import json, os, shutil, signal, subprocess, sys, time
import pandas as pd, pytest

CLI = [sys.executable, '-m', 'dr_study.cli']
BASE = ['--profile', 'tiny', '--quiet', '--until', 'train', '--set', 'methods=[IWNE-FS,IFI-FS]', '--set', 'fractions=[1.0]',
        '--set', 'checkpoint_minutes=0']  # resume state after every epoch: a kill finds one
CHANGED = ['--set', 'epochs_iwne=12', '--set', 'lr_iwne=0.0003']  # twelve epochs: a window to kill the run inside training


def cli(*args, **kw):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, **kw)


def reproduce(out, *extra):
    r = cli('reproduce', *BASE, '--out', out, *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def preds(run):
    return pd.read_csv(run/'results'/'predictions.csv', dtype={'image': str, 'patient': str})


def copy_of(run, tmp_path, name):
    shutil.copytree(run, tmp_path/name, symlinks=True)
    return tmp_path/name


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp('reexec')/'base'
    t = time.monotonic(); stdout = reproduce(out)
    return out, stdout, time.monotonic() - t


@pytest.fixture(scope='module')
def changed(base, tmp_path_factory):
    out = tmp_path_factory.mktemp('reexec')/'changed'
    shutil.copytree(base[0], out, symlinks=True)
    t = time.monotonic(); stdout = reproduce(out, *CHANGED)
    return out, stdout, time.monotonic() - t


def test_changed_training_parameter_retrains_only_what_depends_on_it(base, changed):
    a, (b, stdout, secs) = base[0], changed
    for step in ('synthetic', 'data', 'pretrain'):
        assert f'{step:12s} up to date, skipped' in stdout, stdout
    assert 'train        running 40_train.ipynb (parameters changed: epochs_iwne 2 → 12, lr_iwne 0.001 → 0.0003)' in stdout, stdout
    runs, first = (pd.read_csv(x/'results'/'training_runs.csv').set_index('method') for x in (b, a))
    assert runs.loc['IWNE-FS', ['epochs', 'lr']].tolist() == [12, 0.0003] and runs.loc['IWNE-FS', 'unit'] != first.loc['IWNE-FS', 'unit']
    assert runs.loc['IFI-FS', ['unit', 'made']].tolist() == first.loc['IFI-FS', ['unit', 'made']].tolist()  # nothing of IFI-FS changed: its unit is reused, not retrained
    cfg = json.loads((b/'checkpoints'/'runs'/runs.loc['IWNE-FS', 'unit']/'config.json').read_text())['train']
    assert (cfg['epochs'], cfg['lr']) == (12, 0.0003)  # the resolved configuration beside the result
    pa, pb = preds(a), preds(b)
    cols = ['p0', 'p1', 'p2', 'p3', 'p4']
    iw = (pa.method == 'IWNE-FS')
    assert (pa[iw][cols].values != pb[iw][cols].values).any()  # new models, new predictions
    assert (pa[~iw][cols].values == pb[~iw][cols].values).all()
    print(f'\ntiny (2 methods, fraction 1.0, until train): first run {base[2]:.0f} s; after one parameter change {secs:.0f} s')


def test_parameter_changed_back_reuses_the_first_units(base, changed, tmp_path):
    c = copy_of(changed[0], tmp_path, 'back')
    t = time.monotonic(); stdout = reproduce(c)
    assert 'train        running 40_train.ipynb (parameters changed: epochs_iwne 12 → 2, lr_iwne 0.0003 → 0.001)' in stdout
    pd.testing.assert_frame_equal(pd.read_csv(c/'results'/'training_runs.csv'), pd.read_csv(base[0]/'results'/'training_runs.csv'))  # nothing retrained: the same units, made when they were
    pd.testing.assert_frame_equal(preds(c), preds(base[0]))
    t2 = time.monotonic(); again = reproduce(c)
    assert all(f'{s:12s} up to date, skipped' in again for s in ('synthetic', 'data', 'pretrain', 'train')), again
    print(f'\nchanged back (all units reused): {t2 - t:.0f} s; unchanged re-run: {time.monotonic() - t2:.0f} s')


def test_kill_during_training_with_changed_parameters_then_resume(base, changed, tmp_path):
    d = copy_of(base[0], tmp_path, 'killed')
    p = subprocess.Popen([*CLI, 'reproduce', *BASE, '--out', str(d), *CHANGED], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    units, t0 = d/'checkpoints'/'runs', time.monotonic()
    partial = lambda: [u for u in units.glob('IWNE-FS-*') if (u/'state.pt').exists() and not (u/'unit.json').exists()]
    while not partial():
        assert p.poll() is None and time.monotonic() - t0 < 300, 'the run ended before it could be interrupted'
        time.sleep(0.05)
    busy = cli('reproduce', *BASE, '--out', d, *CHANGED)  # one writer per run folder
    assert busy.returncode == 3 and f'(pid {p.pid} on' in busy.stderr and 'is working on this run folder' in busy.stderr, busy.stderr
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert partial(), 'killed inside training'
    stdout = reproduce(d, *CHANGED)
    assert 'taking over the lock of a run that stopped without releasing it' in stdout and 'train        running' in stdout
    pd.testing.assert_frame_equal(preds(d), preds(changed[0]))  # equal to the uninterrupted run with the same parameters


def test_status_and_clean_with_stale_units(base, changed, tmp_path):
    b = copy_of(changed[0], tmp_path, 'stale')
    r = cli('status', b)
    assert r.returncode == 0 and r.stdout.count('up to date') == 4 and '4 stale work unit(s)' in r.stdout, r.stdout + r.stderr  # the old IWNE-FS run and its predictions on the 2 test sets and the validation split
    r = cli('status', b, '--set', 'lr_ifi=0.002')
    assert 'train        would run: parameters changed: lr_ifi 0.001 → 0.002' in r.stdout and 'pretrain     up to date' in r.stdout
    old = pd.read_csv(base[0]/'results'/'training_runs.csv').set_index('method').loc['IWNE-FS', 'unit']
    r = cli('clean', b)
    assert r.returncode == 0 and f'stale checkpoints/runs/{old}' in r.stdout and '--yes deletes them' in r.stdout, r.stdout
    assert r.stdout.count(f'stale checkpoints/predictions/{old}-') == 3, r.stdout
    assert (b/'checkpoints'/'runs'/old).exists()  # listed, not deleted
    r = cli('clean', b, '--yes')
    assert r.returncode == 0 and f'deleting checkpoints/runs/{old}' in r.stdout and not (b/'checkpoints'/'runs'/old).exists()
    assert 'stale work unit' not in cli('status', b).stdout
    assert 'up to date, skipped' in reproduce(b, *CHANGED)  # nothing the current parameters use was deleted


def test_truncated_checkpoint_of_a_finished_unit_is_redone(base, tmp_path):
    e = copy_of(base[0], tmp_path, 'damaged')
    unit = pd.read_csv(e/'results'/'training_runs.csv').set_index('method').loc['IWNE-FS', 'unit']
    best = e/'checkpoints'/'runs'/unit/'best.safetensors'
    best.write_bytes(best.read_bytes()[:1000])
    r = cli('status', e)
    assert f'train        would run: work unit damaged: checkpoints/runs/{unit}: {best} holds 1000 bytes' in r.stdout, r.stdout
    stdout = reproduce(e)
    assert 'train        running 40_train.ipynb (work unit damaged' in stdout
    assert best.stat().st_size > 1000 and len(list(best.parent.parent.glob(f'{unit}.damaged-*'))) == 1
    pd.testing.assert_frame_equal(preds(e), preds(base[0]))  # retrained: the same model again


@pytest.mark.parametrize('bad, said', [
    ('image_size=abc', "parameter image_size='abc': expected an integer from 32 to 1024"),
    ('seeds=[]', 'parameter seeds=[]: expected a non-empty list'),
    ('methods=[FOO]', "parameter methods=['FOO']: element 'FOO': expected one of 'IWNE-FS'"),
    ('fractions=[0]', 'parameter fractions=[0]: element 0: expected a number in (0, 1]'),
    ('nonsense=1', "unknown parameter 'nonsense'"),
    ('eyepacs=/no/such/eyepacs', '/no/such/eyepacs: EyePACS not found here'),
])
def test_bad_parameter_fails_before_anything_runs(bad, said, tmp_path):
    extra = ['--set', 'synthetic=null'] if bad.startswith('eyepacs') else []
    t = time.monotonic(); r = cli('reproduce', '--profile', 'tiny', '--out', tmp_path/'run', *extra, '--set', bad)
    assert r.returncode == 2 and said in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert time.monotonic() - t < 30 and not (tmp_path/'run').exists()  # within seconds; no step ran


def test_one_notebook_re_run_by_hand_reuses_the_units(base, tmp_path):
    d = copy_of(base[0], tmp_path, 'by_hand')
    stamps = {p: p.stat().st_mtime_ns for p in (d/'checkpoints'/'runs').glob('*/best.safetensors')}
    # as JupyterLab would: the kernel starts in RUN/notebooks and the executed notebook says run_dir = '.'
    r = subprocess.run([sys.executable, '-m', 'papermill', str(d/'notebooks'/'40_train.ipynb'), str(tmp_path/'out.ipynb'), '-f', str(d/'params.yaml'),
                        '--cwd', str(d/'notebooks'), '-p', 'run_dir', '.'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(d/'results'/'training_runs.csv'), pd.read_csv(base[0]/'results'/'training_runs.csv'))
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing retrained
    pd.testing.assert_frame_equal(preds(d), preds(base[0]))
