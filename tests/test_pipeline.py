"""`dr-study reproduce --profile tiny` end to end, its site in a real browser, resuming after a kill, and failures."""
import ast, os, shutil, signal, subprocess, sys, tempfile, time
import nbformat, pandas as pd, pytest
import papermill as pm
from dr_study.paths import STUDY
from dr_study.pipeline import STEPS

CLI = [sys.executable, '-m', 'dr_study.cli']
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


def reproduce(out, *extra, **kw):
    return subprocess.run([*CLI, 'reproduce', '--profile', 'tiny', '--out', str(out), '--quiet', *extra], capture_output=True, text=True, **kw)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('tiny')/'run'
    r = reproduce(out)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r.stdout


def test_every_parameter_of_every_study_notebook_is_seen_by_papermill():
    for s in STEPS:
        nb = nbformat.read(STUDY/s.notebook, 4)
        cell = next(c for c in nb.cells if 'parameters' in c.metadata.get('tags', []))
        assigned = [t.id for n in ast.parse(cell.source).body for t in n.targets]
        assert list(pm.inspect_notebook(str(STUDY/s.notebook))) == assigned, s.notebook


def test_tiny_run_writes_every_output(tiny_run):
    out, stdout = tiny_run
    for s in STEPS:
        assert f'{s.name:12s} done in' in stdout
        nb = nbformat.read(out/'notebooks'/s.notebook, 4)
        assert not [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs if o.output_type == 'error']
        assert all((out/o).exists() for o in s.outputs)
    assert (out/'params.yaml').exists() and (out/'site'/'index.html').exists()
    for svg in (out/'figures').glob('*.svg'):  # every figure: SVG, PNG and the CSV of its numbers
        assert svg.with_suffix('.png').exists() and (out/'results'/f'{svg.stem}.csv').exists()
    grades = pd.read_csv(out/'results'/'data_grades.csv')
    assert set(grades.set) >= {'eyepacs train', 'eyepacs test', 'messidor2 test'}


def test_tiny_run_trains_four_methods_and_draws_figure_2(tiny_run):
    out, _ = tiny_run
    fig2 = pd.read_csv(out/'results'/'fig2_auc.csv')
    assert list(fig2.columns) == ['method', 'fraction', 'dataset', 'seed', 'auc', 'auc_lo', 'auc_hi']
    assert set(fig2.method) == {'IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL'} and set(fig2.dataset) == {'eyepacs', 'messidor2'}
    assert (fig2.auc_lo <= fig2.auc).all() and (fig2.auc <= fig2.auc_hi).all()
    pred = pd.read_csv(out/'results'/'predictions.csv')
    assert list(pred.columns) == ['method', 'fraction', 'seed', 'dataset', 'image', 'patient', 'grade', 'p0', 'p1', 'p2', 'p3', 'p4']
    assert abs(pred[['p0', 'p1', 'p2', 'p3', 'p4']].sum(1) - 1).max() < 1e-4
    from dr_study.evaluate import metrics_table  # every metric can be recomputed from the predictions alone
    again = metrics_table(pred, 'paper', n_boot=200, seed=0)
    pd.testing.assert_series_equal(again.auc, pd.read_csv(out/'results'/'metrics.csv').auc, check_exact=False, rtol=1e-6)
    for m in ('IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL'):  # stable paths of the four final models
        assert (out/'checkpoints'/'final'/f'{m}.safetensors').exists() and (out/'checkpoints'/'final'/f'{m}.json').exists()


def test_tiny_run_draws_figure_3_and_table_2(tiny_run):
    import numpy as np
    out, _ = tiny_run
    methods = {'IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL'}
    eigs = pd.read_csv(out/'results'/'eigenvalues.csv')
    k3 = pd.read_csv(out/'results'/'fig3a_condition.csv')
    assert list(k3.columns[:3]) == ['method', 'layer', 'kappa'] and set(k3.method) == methods
    for (m, layer), e in eigs.groupby(['method', 'layer']):  # Eq. (1) recomputed from the saved eigenvalues
        v = e.eigenvalue.to_numpy()
        want = abs(np.percentile(v, 99.9)) / abs(np.percentile(v, 90))
        got = k3[(k3.method == m) & (k3.layer == layer)].kappa.item()
        assert abs(got - want) <= 1e-9 * want, (m, layer, got, want)
    assert k3.groupby('method').size().nunique() == 1 and k3.groupby('method').size().iloc[0] == 41  # resnet18: 20 Conv2d, 20 BatchNorm2d, fc
    assert list(k3[k3.method == 'IFI-CL'].layer[:3]) == ['conv1', 'bn1', 'layer1.0.conv1']  # named_modules() order, as the authors
    e3 = pd.read_csv(out/'results'/'fig3b_eigs.csv')
    assert list(e3.columns) == ['method', 'component', 'eigenvalue'] and (e3.groupby('method').size() == 31).all()  # 32 probe images: rank 31
    assert (e3.groupby('method').eigenvalue.apply(lambda e: (e.diff().dropna() <= 1e-9 * e.max()).all())).all()  # largest first
    cc = pd.read_csv(out/'results'/'channel_condition.csv')  # beyond the paper: the channel correlation (fov, after BN) and the raw covariance, 9 layers each
    assert set(cc.method) == methods and (cc.groupby(['recipe', 'method']).size() == 9).all() and cc.recipe.nunique() == 2
    assert set(cc[cc.recipe == 'correlation (fov, after BN)'].layer) >= {'bn1', 'layer1.0'} and 'conv1' in set(cc[cc.recipe == 'raw covariance'].layer)
    t2 = pd.read_csv(out/'results'/'table2_pareto.csv')
    assert list(t2.columns[:5]) == ['method', 'best_distribution', 'alpha', 'alpha_lo', 'alpha_hi'] and set(t2.method) == methods
    # a bootstrap that re-chooses xmin need not contain the point estimate: only the interval's order and finiteness are certain
    assert (t2.alpha_lo <= t2.alpha_hi).all() and np.isfinite(t2[['alpha', 'alpha_lo', 'alpha_hi']]).all().all() and (t2.alpha > 0).all()


def test_tiny_run_draws_figure_4(tiny_run):
    import numpy as np
    from dr_study.robustness import CORRUPTIONS
    from dr_study.data import referable
    out, _ = tiny_run
    f4 = pd.read_csv(out/'results'/'fig4_robustness.csv')
    assert list(f4.columns[:9]) == ['init', 'corruption', 'severity', 'score_fs', 'score_cl', 'delta', 'delta_lo', 'delta_hi', 'significant']
    assert {'rel_delta', 'mean_delta', 'auc_fs', 'auc_cl'} <= set(f4.columns)
    assert np.allclose(f4[f4.corruption == 'none'].rel_delta, 0)
    from dr_study.robustness import CORRUPTION_NAMES, FUNDUS_NAMES
    assert len(CORRUPTION_NAMES) == 19 and len(FUNDUS_NAMES) == 5 and list(CORRUPTIONS) == [*CORRUPTION_NAMES, *FUNDUS_NAMES]
    assert set(f4.corruption) == set(CORRUPTIONS) | {'none'}
    import yaml; sev = yaml.safe_load((out/'params.yaml').read_text())['severities']
    assert (f4.groupby('init').size() == len(CORRUPTIONS) * len(sev) + 1).all() and set(f4.severity) == {0, *sev}
    assert np.allclose(f4.delta, f4.score_cl - f4.score_fs)
    assert ((f4.delta_lo <= f4.delta + 1e-12) & (f4.delta <= f4.delta_hi + 1e-12)).all()
    sc = pd.read_csv(out/'results'/'robustness_scores.csv')  # one cell recomputed from the per-image probabilities
    cell = sc[(sc.corruption == 'fog') & (sc.severity == 3)]
    def score(method, balanced=True):  # class-balanced: the mean within referable and within non-referable images, averaged
        d = cell[cell.method == method]; y = referable(d.grade, 'paper'); p = d[['p3', 'p4']].sum(1); s = np.where(y, p, 1 - p)
        return np.mean([s[y == v].mean() for v in np.unique(y)]) if balanced else s.mean()
    row = f4[(f4.init == 'IWNE') & (f4.corruption == 'fog') & (f4.severity == 3)].iloc[0]
    assert abs(row.score_fs - score('IWNE-FS')) < 1e-6 and abs(row.score_cl - score('IWNE-CL')) < 1e-6  # the CSV rounds the float32 probabilities' sums
    assert abs(row.mean_fs - score('IWNE-FS', False)) < 1e-6 and abs(row.mean_cl - score('IWNE-CL', False)) < 1e-6  # the paper's plain mean
    assert (out/'figures'/'fig4_robustness.svg').exists() and (out/'figures'/'corruption_gallery.png').exists()


def test_tiny_run_draws_table_3_and_figure_5(tiny_run):
    import numpy as np
    out, _ = tiny_run
    t3 = pd.read_csv(out/'results'/'table3_xai.csv')
    assert list(t3.columns[:8]) == ['lesion', 'method', 'pooling', 'explainer', 'region', 'mask', 'rma_mean', 'rma_median']
    assert set(t3.region) == {'fov', 'image'} and set(t3['mask']) == {'area', 'any', 'half'} and {'rra_pct_mean', 'table3'} <= set(t3.columns)
    assert set(t3[t3.table3].region) == {'fov'} and set(t3[t3.table3]['mask']) == {'area'}
    assert set(t3.lesion) == {'microaneurysms', 'haemorrhages', 'hard exudates', 'total'} and set(t3.pooling) == {'sum_pos', 'l2_norm_sq'}
    assert {'lrp_a1b0', 'random', 'lrp_randomized'} <= set(t3.explainer) and set(t3.method) == {'IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL'}
    ok = t3.rma_mean.notna()
    assert ((t3.rma_lo[ok] <= t3.rma_mean[ok] + 1e-12) & (t3.rma_mean[ok] <= t3.rma_hi[ok] + 1e-12)).all()
    per = pd.read_csv(out/'results'/'xai_per_image.csv')  # the table is the mean of the per-image scores
    sel = lambda t: t[(t.lesion == 'total') & (t.method == 'IFI-CL') & (t.pooling == 'sum_pos') & (t.explainer == 'lrp_a1b0') & (t.region == 'fov') & (t['mask'] == 'area')]
    d, row = sel(per), sel(t3).iloc[0]
    assert abs(d.rma.mean() - row.rma_mean) < 1e-12 and abs(d.rra.median() - row.rra_median) < 1e-12
    assert (out/'figures'/'fig5_heatmaps.png').exists() and (out/'results'/'fig5_heatmaps.csv').exists()
    o = pd.read_csv(out/'results'/'xai_outside.csv')
    assert ((o.outside.dropna() >= 0) & (o.outside.dropna() <= 1 + 1e-9)).all() and set(o.method) == {'IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL'}
    cas = pd.read_csv(out/'results'/'xai_cascade.csv')
    assert sorted(cas.stages.unique()) == list(range(7)) and (out/'results'/'xai_before_after.csv').exists()


def test_tiny_run_writes_the_analyses_beyond_the_paper(tiny_run):
    import numpy as np
    from sklearn.metrics import roc_auc_score
    from dr_study.data import referable
    from dr_study.robustness import CORRUPTIONS, CORRUPTION_GROUPS
    out, _ = tiny_run
    r = lambda n: pd.read_csv(out/'results'/f'{n}.csv', dtype={'image': str, 'patient': str})
    cal, temps, val = r('calibration'), r('temperatures'), r('val_predictions')
    assert set(cal.scaling) == {'none', 'temperature'} and set(cal.estimator) == {'ece', 'ece_debiased'}
    assert (cal.null_lo <= cal.null_hi).all() and (cal.value >= 0).all() and (temps.temperature > 0).all()
    assert set(val.dataset) == {'validation'} and len(temps) == val.groupby(['method', 'fraction', 'seed']).ngroups
    le = r('label_efficiency')
    assert (le.reference == 'IFI-FS').all() and set(le.method) == {'IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL'}
    er = r('robustness_errors')
    assert np.allclose(er[(er.kind == 'ce') & (er.method == 'IWNE-FS')].value, 1)  # the baseline against itself
    assert set(er[er.kind == 'mce'].group) == set(CORRUPTION_GROUPS) and not np.isinf(er.value).any()
    sc = r('robustness_scores'); one = sc[(sc.method == 'IFI-CL') & (sc.corruption == 'fog') & (sc.severity == 3)]
    auc = er[(er.kind == 'auc') & (er.method == 'IFI-CL') & (er.corruption == 'fog') & (er.severity == 3)].value.item()
    assert abs(auc - roc_auc_score(referable(one.grade), one[['p3', 'p4']].sum(axis=1))) < 1e-9  # one seed at tiny
    assert set(r('calibration_shift').corruption) == set(CORRUPTIONS) | {'none'}
    ft, xf = r('faithfulness'), r('xai_faithfulness')
    assert 'lesion_mask' in set(ft.explainer) and set(ft.stratum) <= {'all', 'small', 'medium', 'large'}
    assert set(xf.metric) == {'road_morf', 'road_lerf', 'flip_morf'} and xf.image_index.nunique() == 2
    for f in ('fig2_calibration', 'fig2_reliability', 'fig4_mce', 'fig4_calibration_shift', 'fig_faithfulness', 'fundus_gallery'):
        assert (out/'figures'/f'{f}.png').exists(), f
    assert {'ifi_cl_calibrated', 'fundus_iwne_cl', 'fundus_ifi_cl'} <= set(r('claims').id)

def test_tiny_run_writes_the_claims_ledger(tiny_run):
    from dr_study.claims import CLAIMS, LEDGER_COLUMNS
    out, _ = tiny_run
    lg = pd.read_csv(out/'results'/'claims.csv')
    assert list(lg.columns) == LEDGER_COLUMNS and list(lg.id) == list(CLAIMS)
    assert set(lg.verdict) <= {'supported', 'contradicted', 'not resolved', 'not tested here'} and not lg.here.str.startswith('the check failed').any()
    assert 'What the study found' in (out/'site'/'index.html').read_text()


def test_tiny_run_is_skipped_when_unchanged(tiny_run):
    out, _ = tiny_run
    r = reproduce(out)
    assert r.returncode == 0 and all(f'{s.name:12s} up to date, skipped' in r.stdout for s in STEPS), r.stdout


def test_parameter_changed_and_back_reruns_no_analysis(tiny_run, tmp_path):
    out = tmp_path/'back'; shutil.copytree(tiny_run[0], out, symlinks=True)
    r = reproduce(out, '--set', 'epochs_iwne=1', '--until', 'train')  # new IWNE units, new predictions; the analyses are not run
    assert r.returncode == 0 and 'train        running 40_train.ipynb (parameters changed: epochs_iwne 2 → 1)' in r.stdout, r.stdout + r.stderr
    r = reproduce(out)  # back: the train step runs again (its parameters changed), reuses every unit and writes what it wrote before
    assert r.returncode == 0 and 'train        running 40_train.ipynb (parameters changed: epochs_iwne 1 → 2)' in r.stdout, r.stdout
    for s in STEPS:
        if s.name != 'train': assert f'{s.name:12s} up to date, skipped' in r.stdout, r.stdout  # no analysis re-runs
    pd.testing.assert_frame_equal(pd.read_csv(out/'results'/'predictions.csv'), pd.read_csv(tiny_run[0]/'results'/'predictions.csv'))


def test_library_edit_reruns_exactly_the_steps_that_reach_it(tiny_run, tmp_path):
    import dr_study
    out, _ = tiny_run
    pkg = tmp_path/'lib'/'dr_study'
    shutil.copytree(os.path.dirname(dr_study.__file__), pkg, ignore=shutil.ignore_patterns('__pycache__'))
    src = (pkg/'explain.py').read_text(); loop = '    for k in range(len(RANDOMIZATION_ORDER) + 1):\n'
    assert src.count(loop) == 1
    (pkg/'explain.py').write_text(src.replace(loop, '    edited = True  # a change to the code, not only to a comment\n' + loop))  # inside cascading_randomization
    r = subprocess.run([*CLI, 'status', str(out)], capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(tmp_path/'lib')}, cwd=tmp_path)  # not the checkout: python -m puts the working directory first
    assert r.returncode == 0, r.stderr
    status = dict(l.split(None, 2)[1:] for l in r.stdout.splitlines() if l.startswith('[dr-study]') and len(l.split()) > 2 and l.split()[1] in {s.name for s in STEPS})
    assert status == {**{s.name: 'up to date' for s in STEPS}, 'explain': 'would run: code changed: dr_study.explain.cascading_randomization',
                      'claims': 'would run: upstream re-runs: explain'}, r.stdout  # and the step that reads its results


def _dom(url, user_dir, *args):
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', f'--user-data-dir={user_dir}', '--window-size=1280,900', *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout


def test_site_in_headless_chromium(tiny_run):
    if CHROMIUM is None:
        if os.environ.get('CI'): pytest.fail('chromium is not installed (bash scripts/dev.sh test installs it)')
        pytest.skip('chromium not installed')
    out, _ = tiny_run
    site = out/'site'; user = tempfile.mkdtemp()
    pages = sorted(site.glob('*.html'))
    assert any(p.name.startswith('study-') for p in pages) and any(p.name.startswith('method-') for p in pages)
    for page in pages:
        import re
        body = re.search(r'<body([^>]*)>', _dom(page.as_uri(), user, '--virtual-time-budget=5000', '--dump-dom')).group(1)
        attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
        assert attrs.get('checked') == '1', (page.name, body)  # the page loaded and its script ran
        assert attrs['broken'] == '', (page.name, attrs['broken'])  # no missing figure
        if page.name.startswith(('study-', 'index')):  # pages for a reader: nothing wider than the window, no unfolded code, no progress, warning text or stray reprs
            assert int(attrs['overflow']) <= 0 and attrs['open-code'] == '0' and attrs['bare-code'] == '0' and attrs['noise'] == '0', (page.name, attrs)
            assert attrs['empty-figures'] == '0', (page.name, attrs)  # every chart draws marks
        if page.name.startswith('study-'):  # a results page opens with prose and a figure on the first screen
            assert 0 < int(attrs['first-figure-top']) < int(attrs['viewport']), (page.name, attrs)
        if page.name == 'index.html':  # what the study found comes first: the claims ledger starts on the first screen
            assert int(attrs['images']) >= 1
            assert 0 <= int(attrs['ledger-top']) < int(attrs['viewport']) * 0.6, attrs
    for page in [site/'index.html', *sorted(site.glob('study-*.html'))]:  # a screenshot of every page for a reader, under the run's logs/
        shot = out/'logs'/'site'/f'{page.stem}.png'; shot.parent.mkdir(parents=True, exist_ok=True)
        _dom(page.as_uri(), user, f'--screenshot={shot}')
        assert shot.exists() and shot.stat().st_size > 20_000, shot


def test_resume_after_kill_equals_uninterrupted_run(tiny_run, tmp_path):
    ref, _ = tiny_run
    out = tmp_path/'run'
    p = subprocess.Popen([*CLI, 'reproduce', '--profile', 'tiny', '--out', str(out), '--quiet', '--until', 'data'], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    while not ((out/'logs'/'synthetic.json').exists() and list((out/'notebooks').glob('.20_data.partial.ipynb'))):
        assert p.poll() is None and time.monotonic() - t0 < 300, 'the run ended before it could be interrupted'
        time.sleep(0.2)
    time.sleep(2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert not (out/'logs'/'data.json').exists()  # killed inside the data step
    r = reproduce(out, '--until', 'data')  # through the step it was killed in: every later step reads only what these write (their re-use: the tests above)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'synthetic    up to date, skipped' in r.stdout and 'data         done in' in r.stdout
    made = sorted((out/'results').glob('*.csv'))
    assert {'data_summary.csv', 'data_grades.csv', 'skipped.csv', 'records.csv'} <= {c.name for c in made}, made
    for csv in made:
        # `cache` and `unit` name folders keyed by input files' paths and timestamps (which differ between two runs' own generated data); `seconds` is wall time, `made` a date
        a, b = (pd.read_csv(f).drop(columns=['cache', 'unit', 'seconds', 'made'], errors='ignore') for f in (csv, ref/'results'/csv.name))
        pd.testing.assert_frame_equal(a, b, obj=csv.name)


def test_failed_notebook_names_step_cell_and_copy(tiny_run, tmp_path):
    out = tmp_path/'run'
    shutil.copytree(tiny_run[0], out, ignore=shutil.ignore_patterns('site'))
    r = reproduce(out, '--set', 'preprocessing=sharpest')  # a bad value is refused before any step runs
    assert r.returncode == 2 and "parameter preprocessing='sharpest': expected one of 'crop', 'graham'" in r.stderr and r.stdout == '', r.stderr
    r = reproduce(out, '--set', 'fig5_image=IDRiD_99')  # a value only the notebook can check: it fails there
    assert r.returncode == 1
    assert "step 'explain' (80_explain.ipynb) failed in cell [" in r.stderr and "fig5_image 'IDRiD_99' is not an image of the IDRiD set" in r.stderr, r.stderr
    assert (out/'notebooks'/'80_explain.failed.ipynb').exists() and 'train        up to date, skipped' in r.stdout
