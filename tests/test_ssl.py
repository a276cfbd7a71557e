"""Beyond the paper: the SSL comparison (SimCLR, BYOL, DINO next to MoCo v2, in both arms) switched on with one --set on the
tiny profile, through every step; the paper's pairs and claims stay those of its four methods. The same run swaps the external
test set for another registered one (IDRiD grading instead of Messidor-2) with one more --set."""
import subprocess, sys
import pandas as pd

CLI = [sys.executable, '-m', 'dr_study.cli']
FAST = ['--set', 'fractions=[1.0]', '--set', 'corruptions=[gaussian_noise, contrast]', '--set', 'severities=[1, 5]', '--set', 'cascade=false',
        '--set', 'explainers=[lrp_a1b0, random, lrp_randomized]', '--set', 'spectra_boot=10']  # every step, each on little


def test_ssl_comparison_and_another_external_set_on_tiny(tmp_path):
    out = tmp_path/'run'
    r = subprocess.run([*CLI, 'reproduce', '--profile', 'tiny', '--quiet', '--out', str(out), '--set', 'ssl=[simclr, byol, dino]', '--set', 'external=idrid_grading', *FAST],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    paper = ['IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL']
    ssl = ['IWNE-SimCLR', 'IFI-SimCLR', 'IWNE-BYOL', 'IFI-BYOL', 'IWNE-DINO', 'IFI-DINO']
    pre = pd.read_csv(out/'results'/'pretrain_loss.csv')
    assert {s.split(':')[0] for s in pre.recipe} == {'moco_dr', 'supervised_external', 'moco_external', 'simclr_dr', 'simclr_external',
                                                     'byol_dr', 'byol_external', 'dino_dr', 'dino_external'}
    fig2 = pd.read_csv(out/'results'/'fig2_auc.csv')
    assert sorted(fig2.method.unique()) == sorted(paper + ssl)
    assert set(fig2.dataset) == {'eyepacs', 'idrid_grading'}  # the internal test set and the chosen external one
    rec = pd.read_csv(out/'results'/'records.csv')
    assert 'messidor2' not in set(rec.dataset) and (rec.dataset == 'idrid_grading').sum() == 12
    assert fig2.auc_lo.notna().all() and (fig2.auc_lo <= fig2.auc).all() and (fig2.auc <= fig2.auc_hi).all()
    rob = pd.read_csv(out/'results'/'fig4_robustness.csv')
    assert sorted(rob.init.unique()) == ['IFI', 'IWNE']  # Figure 4's FS/CL pairs: the paper's
    scores = pd.read_csv(out/'results'/'robustness_scores.csv', dtype={'patient': str})
    assert set(scores.method) == set(paper + ssl) and scores.patient.str.match('(train|test)_IDRiD_').all()  # Figure 4 on the external set
    assert set(pd.read_csv(out/'results'/'fig3a_condition.csv').method) == set(paper + ssl)
    assert set(pd.read_csv(out/'results'/'table3_xai.csv').method) >= set(paper + ssl)
    assert (out/'site'/'index.html').exists()
