"""`dr-study reproduce --profile tiny` with one fabricated ViT starting point (a file in RETFound-Green's released layout, a
depth-1 configuration of its timm architecture) fine-tuned and linearly probed, through every step to the site."""
import json, subprocess, sys
import pandas as pd, pytest
from dr_study.foundation import fabricate
from dr_study.paths import RunLayout

CLI = [sys.executable, '-m', 'dr_study.cli']
VIT = {'depth': 1, 'embed_dim': 32, 'num_heads': 2, 'size': 28}


@pytest.fixture(scope='module')
def vit_run(tmp_path_factory):
    d = tmp_path_factory.mktemp('vit')
    weights, _ = fabricate('retfound_green' + json.dumps(VIT), d/'retfound_green.pth')
    sets = {'foundation': '[retfound_green]', 'foundation_weights': f'{{retfound_green: {weights}}}',
            'foundation_arch': '{retfound_green: {' + ', '.join(f'{k}: {v}' for k, v in VIT.items()) + '}}',
            'linear_probe': 'true', 'fractions': '[1.0]', 'corruptions': '[gaussian_noise]', 'severities': '[3]', 'cascade': 'true'}
    out = d/'run'
    r = subprocess.run([*CLI, 'reproduce', '--profile', 'tiny', '--out', str(out), '--quiet'] + [a for k, v in sets.items() for a in ('--set', f'{k}={v}')],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return RunLayout(out)


def test_the_vit_is_fine_tuned_and_probed_from_its_file(vit_run):
    pred = pd.read_csv(vit_run.table('predictions'))
    assert {'RETFound-Green', 'RETFound-Green-LP', 'IFI-FS', 'IFI-FS-LP'} <= set(pred.method)
    fm = pd.read_csv(vit_run.table('foundation_models'))
    assert list(fm.method) == ['RETFound-Green'] and fm.overlap.iloc[0].startswith('eyepacs')


def test_its_spectra_are_those_of_its_patch_embedding_and_token_maps(vit_run):
    e = pd.read_csv(vit_run.table('eigenvalues'))
    first = e[e.depth == 0].groupby('method').layer.first()
    assert first['RETFound-Green'] == 'patch_embed.proj' and first['IFI-FS'] == 'conv1'
    assert {'blocks.0.attn.qkv', 'blocks.0.mlp.fc2'} <= set(e[e.method == 'RETFound-Green'].layer)
    assert 'patch embedding' in (vit_run.site/'study-60_spectra.html').read_text()


def test_its_robustness_and_calibration_are_measured(vit_run):
    rob = pd.read_csv(vit_run.table('robustness_scores'))
    assert 'RETFound-Green' in set(rob.method)
    assert 'RETFound-Green' in set(pd.read_csv(vit_run.table('calibration')).method)


def test_it_is_explained_by_what_applies_and_the_rest_is_named(vit_run):
    ap = pd.read_csv(vit_run.table('xai_applicability'))
    vit = ap[ap.method == 'RETFound-Green'].set_index('what')
    assert not vit.applies[['lrp_a1b0', 'gradcam', 'lrp_randomized', 'cascade', 'orientation']].any()
    assert vit.applies[['integrated_gradients', 'grad_x_input', 'random']].all()
    assert vit.figure5.idxmax() == 'integrated_gradients'
    assert ap[ap.method == 'IFI-FS'].applies.all()
    t3 = pd.read_csv(vit_run.table('table3_xai'))
    assert {'integrated_gradients', 'random'} <= set(t3[t3.method == 'RETFound-Green'].explainer)
    assert 'lrp_a1b0' not in set(t3[t3.method == 'RETFound-Green'].explainer)
    page = (vit_run.site/'study-80_explain.html').read_text()
    assert 'RETFound-Green' in set(pd.read_csv(vit_run.table('fig5_heatmaps'), usecols=['map'])['map'])  # its map in Figure 5
    assert 'why it does not apply' in page and 'Every model under one explainer' in page
