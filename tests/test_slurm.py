"""The training grid and its predictions through `--executor slurm`: a one-node SLURM cluster on this machine (root, Debian's slurm-wlm and munge),
two CPU array tasks at once, results equal to `--executor local` to the last digit, and a killed submitter re-attached.
Where SLURM cannot be started, the same job path runs through submitit's LocalExecutor, and the test says so."""
import hashlib, json, os, re, shutil, signal, subprocess, sys, time, warnings
from pathlib import Path
import pandas as pd, pytest

CLI = [sys.executable, '-m', 'dr_study.cli']
GRID = ['--profile', 'tiny', '--until', 'train', '--set', 'fractions=[1.0]']  # the paper's four methods: the analyses below need their pairs
CPU_JOBS = ['--set', 'cluster={gpus_per_job: 0, cpus_per_task: 1, mem_gb: 1, hours: 0.25, array_parallelism: 2, poll_s: 1}']
START = Path(__file__).parent/'slurm'/'start.sh'


def cli(*args, **kw):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, **kw)


@pytest.fixture(scope='module')
def executor(tmp_path_factory):
    "slurm if a one-node cluster could be started here, else submitit_local (and a warning saying so)."
    why = None
    if os.environ.get('DR_STUDY_TEST_NO_SLURM'): why = 'DR_STUDY_TEST_NO_SLURM is set'
    elif os.geteuid() != 0: why = 'not root'
    elif not shutil.which('slurmctld'): why = 'slurm-wlm is not installed'
    else:
        r = subprocess.run(['bash', str(START), str(tmp_path_factory.mktemp('slurm-state'))], capture_output=True, text=True, timeout=120)
        if r.returncode: why = f'start.sh failed: {r.stderr.strip()}'
    if why:
        warnings.warn(f'SLURM could not be started ({why}): the job path is tested with submitit LocalExecutor instead')
        yield 'submitit_local'; return
    yield 'slurm'
    subprocess.run(['bash', str(START), 'stop'])


@pytest.fixture(scope='module')
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('local')/'run'
    r = cli('reproduce', *GRID, '--out', out)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def without_training(run, dst, pretraining=False):
    "A copy of `run` with the training step and its units removed (and the pretraining step's, if `pretraining`)."
    shutil.copytree(run, dst, symlinks=True)
    if pretraining:
        shutil.rmtree(dst/'checkpoints'/'pretrained'); (dst/'logs'/'pretrain.json').unlink()
    for d in ('runs', 'final', 'predictions'): shutil.rmtree(dst/'checkpoints'/d)
    for p in (dst/'logs'/'train.json', dst/'results'/'predictions.csv', dst/'results'/'training_runs.csv'): p.unlink()
    return dst


def preds(run): return pd.read_csv(run/'results'/'predictions.csv', dtype={'image': str, 'patient': str})


def overlapping(jobcomp:Path) -> bool:
    "Did two jobs of the completion log run at the same time?"
    spans = sorted((l['StartTime'], l['EndTime']) for l in (dict(re.findall(r'(\w+)=(\S*)', s)) for s in jobcomp.read_text().splitlines()))
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def digest(p): return hashlib.sha256(p.read_bytes()).hexdigest()


def test_pretraining_and_grid_through_the_executor_equal_local(local_run, executor, tmp_path):
    run = without_training(local_run, tmp_path/'run', pretraining=True)
    r = cli('reproduce', *GRID, *CPU_JOBS, '--executor', executor, '--out', run)
    assert r.returncode == 0, r.stdout + r.stderr
    kind = 'slurm' if executor == 'slurm' else 'local'
    assert f'{kind}: submitted 3 job(s)' in r.stderr and f'{kind}: 3/3 done' in r.stderr, r.stderr  # the three starting points the methods need (IWNE-FS has none)
    assert f'{kind}: submitted 4 job(s)' in r.stderr and f'{kind}: 4/4 done' in r.stderr, r.stderr  # the grid
    assert f'{kind}: submitted 12 job(s)' in r.stderr and f'{kind}: 12/12 done' in r.stderr, r.stderr  # its predictions on the two test sets and the validation split
    assert sorted(p.name for p in (local_run/'checkpoints'/'pretrained').glob('*.safetensors')) == ['moco_dr.safetensors', 'moco_external.safetensors', 'supervised_external.safetensors']
    for p in (local_run/'checkpoints'/'pretrained').glob('*.safetensors'):
        assert digest(p) == digest(run/'checkpoints'/'pretrained'/p.name), p.name  # the same weights, byte for byte
    pd.testing.assert_frame_equal(preds(run), preds(local_run), check_exact=True)  # to the last digit
    a, b = (pd.read_csv(p/'results'/'training_runs.csv') for p in (local_run, run))
    assert a.unit.tolist() == b.unit.tolist() and (a.val_auc == b.val_auc).all()  # the same units, the same keys
    records = sorted((run/'logs'/'jobs').glob('*.job.json'))
    assert len(records) == 19 and {json.loads(p.read_text())['executor'] for p in records} == {kind}
    made = [json.loads(u.read_text())['where'] for d in ('pretrained', 'runs', 'predictions') for u in (run/'checkpoints'/d).glob('*/unit.json')]
    assert len(made) == 19, made  # every unit of the run was made again, each by its job
    if executor == 'slurm': assert all(w['slurm_job'] for w in made), made  # inside a SLURM job: nothing heavy on the submitting host
    if executor == 'slurm':
        conf = subprocess.run(['scontrol', 'show', 'config'], capture_output=True, text=True).stdout
        state = Path(re.search(r'JobCompLoc\s*=\s*(\S+)', conf)[1])
        assert overlapping(state), 'the two CPU array tasks should have run at the same time'
    again = cli('reproduce', *GRID, *CPU_JOBS, '--executor', executor, '--out', run)
    assert again.returncode == 0 and 'train        up to date' in again.stdout, again.stdout + again.stderr


def test_killed_submitter_reattaches(local_run, executor, tmp_path):
    if executor != 'slurm': pytest.skip('re-attaching needs a SLURM queue to re-attach to')
    run = without_training(local_run, tmp_path/'run')
    p = subprocess.Popen([*CLI, 'reproduce', *GRID, *CPU_JOBS, '--executor', 'slurm', '--out', str(run)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.monotonic()
    while len(list((run/'logs'/'jobs').glob('*.job.json'))) < 4 and time.monotonic() - t0 < 240: time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()  # the submitter and its notebook kernel, right after submitting
    r = cli('reproduce', *GRID, *CPU_JOBS, '--executor', 'slurm', '--out', run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 're-attached to job' in r.stderr, r.stderr  # still queued or running: waited for, not submitted twice
    assert 'submitted 4 job(s)' not in r.stderr, r.stderr  # no training job submitted twice
    assert r.stderr.count('submitted') == 1 and 'submitted 12 job(s)' in r.stderr, r.stderr  # then the predictions, once: they had not been submitted before the kill
    pd.testing.assert_frame_equal(preds(run), preds(local_run), check_exact=True)


ANALYSES = [*GRID[:3], 'explain', *GRID[4:], '--set', 'corruptions=[gaussian_noise]', '--set', 'severities=[2]',
            '--set', 'explainers=[lrp_a1b0,random,lrp_randomized]', '--set', 'spectra_boot=10']


def test_analyses_run_as_jobs(local_run, executor, tmp_path):
    "Every analysis of the four final models is a unit made by a job (their training: the tests above); the submitting host only reads their tables."
    run = tmp_path/'run'; shutil.copytree(local_run, run, symlinks=True)
    r = cli('reproduce', *ANALYSES, *CPU_JOBS, '--executor', executor, '--out', run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'train        up to date, skipped' in r.stdout, r.stdout
    kind = 'slurm' if executor == 'slurm' else 'local'
    analyses = {p.parent.name.rsplit('-', 1)[0]: json.loads(p.read_text())['where'] for p in (run/'checkpoints'/'analyses').glob('*/unit.json')}
    assert sorted(analyses) == sorted(f'{a}-{m}' for a in ('spectra', 'robustness', 'explain') for m in ('IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL')), sorted(analyses)
    made = [*analyses.values(), *(json.loads(p.read_text())['where'] for p in (run/'cache').glob('corrupted-*/unit.json'))]
    assert len(made) == 12 + 1, len(made)  # the analyses and the corrupted sets
    if executor == 'slurm': assert all(w['slurm_job'] for w in made), made  # every one inside a SLURM job
    assert f'{kind}: submitted 1 job(s)' in r.stderr and r.stderr.count(f'{kind}: submitted 4 job(s)') == 3, r.stderr  # corrupted sets; scores, spectra, explanations
    for name in ('fig3a_condition.csv', 'fig4_robustness.csv', 'table3_xai.csv'): assert (run/'results'/name).exists(), name
