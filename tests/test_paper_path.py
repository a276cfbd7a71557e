"""The real-data path end to end: `reproduce --profile paper` with every size knob turned down and every paper-only code path kept —
`synthetic: null`, the synthetic benchmark's folders given as the three data paths, crop-only preprocessing, and IFI weights in the
layouts users download (a torchvision `resnet*-*.pth` state dict; a MoCo v2 `*.pth.tar` with `state_dict` under `module.encoder_q.`).
Beyond the paper: the four foundation starting points from files fabricated in their released layouts (tiny configurations of the
same architectures), every method fine-tuned and linearly probed. Two fine-tuning seeds: every seed's final model is analysed and the claims
resample both (issue 21); a ViT's spectra and explanations are those that apply to it (issue 25)."""
import json, subprocess, sys
import pandas as pd, pytest, torch
from dr_study.models import make_model
from dr_study.paths import SynthLayout, RunLayout

CLI = [sys.executable, '-m', 'dr_study.cli']
# tiny configurations of the foundation models' architectures (`foundation_arch`): ViTs of depth 2, FLAIR's ResNet as a resnet18
TINY = {'retfound_green': dict(depth=2, embed_dim=32, num_heads=2, size=28), 'dinov2_small': dict(depth=2, embed_dim=32, num_heads=2, size=28),
        'retfound_mae': dict(depth=2, embed_dim=32, num_heads=2, size=32), 'flair': dict(model='resnet18', size=32)}


def fabricate_weights(d):
    "Weights in the downloaded layouts, with values no recipe here would produce (so that loading them is visible)."
    torch.manual_seed(7)
    tv = make_model('resnet18', 1000).state_dict()  # torchvision's layout: a plain state dict with the 1000-way fc
    tv = {k: (v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v) for k, v in tv.items()}
    torch.save(tv, d/'resnet18-f37072fd.pth')
    q = make_model('resnet18').state_dict()
    sd = {f'module.encoder_q.{k}': (v - 0.01 * torch.randn_like(v) if v.is_floating_point() else v) for k, v in q.items() if not k.startswith('fc.')}
    sd.update({'module.encoder_q.fc.0.weight': torch.randn(512, 512), 'module.encoder_q.fc.0.bias': torch.zeros(512),
               'module.encoder_q.fc.2.weight': torch.randn(128, 512), 'module.encoder_q.fc.2.bias': torch.zeros(128),
               'module.encoder_k.conv1.weight': torch.randn(64, 3, 7, 7), 'module.queue': torch.randn(128, 64), 'module.queue_ptr': torch.zeros(1, dtype=torch.long)})
    torch.save({'epoch': 800, 'arch': 'resnet18', 'state_dict': sd, 'optimizer': {'state': {}, 'param_groups': [{'lr': 0.03}]}}, d/'moco_v2_800ep_pretrain.pth.tar')
    return d/'resnet18-f37072fd.pth', d/'moco_v2_800ep_pretrain.pth.tar', tv, sd


@pytest.fixture(scope='module')
def paper_run(tmp_path_factory):
    d = tmp_path_factory.mktemp('paper')
    synth = d/'data'
    subprocess.run([*CLI, 'synth', str(synth), '--size', 'tiny', '--seed', '5', '--quiet'], check=True)
    lay = SynthLayout(synth)
    fs, cl, tv, sd = fabricate_weights(d)
    from dr_study.foundation import fabricate
    fm = {n: fabricate(n + json.dumps(o), d/f'{n}.pth')[0] for n, o in TINY.items()}
    yaml = lambda m: '{' + ', '.join(f'{k}: {v}' for k, v in m.items()) + '}'
    small = dict(synthetic='null', eyepacs=lay.eyepacs.root, messidor2=lay.messidor2.root, idrid=lay.idrid.root, ifi_fs_weights=fs, ifi_cl_weights=cl,
                 arch='resnet18', image_size=64, fractions='[0.5, 1.0]', epochs_iwne=1, epochs_ifi=1, pretrain_epochs=1, pretrain_batch=16,
                 moco_bank=64, batch_size=16, workers=0, probe_images=24, spectra_boot=20, seeds='[0, 1]', robust_images=8, corruptions='[gaussian_noise, fog]', severities='[1, 3]',
                 n_boot=20, gallery_images=1, faithfulness_images=2, cascade='false', linear_probe='true', foundation=f"[{', '.join(TINY)}]",
                 foundation_weights=yaml(fm), foundation_arch=yaml({n: yaml(o) for n, o in TINY.items()}))
    out = d/'run'
    r = subprocess.run([*CLI, 'reproduce', '--profile', 'paper', '--out', str(out), '--quiet'] + [a for k, v in small.items() for a in ('--set', f'{k}={v}')],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return out, tv, sd, fm, small


def test_paper_path_uses_the_given_weights_not_the_stand_in(paper_run):
    out, tv, sd, _, _ = paper_run
    run = RunLayout(out)
    params = json.loads((out/'data.json').read_text())['params']
    assert params['synthetic'] is None and params['preprocessing'] == 'crop'
    pre = {p.name.split('-')[0] + '-' + p.name.split('-')[1]: p for p in (out/'checkpoints'/'pretrained').iterdir() if p.is_dir()}
    cfgs = [json.loads((p/'config.json').read_text()) for p in (out/'checkpoints'/'pretrained').iterdir() if (p/'config.json').exists()]
    text = json.dumps(cfgs)
    assert 'natural' not in text, 'the stand-in corpus was used'  # no starting point was pretrained on the stand-in
    assert 'resnet18-f37072fd.pth' in text and 'moco_v2_800ep_pretrain.pth.tar' in text
    from dr_study.models import read_checkpoint
    loaded = {p.name: read_checkpoint(next(p.glob('*.safetensors'))) for p in (out/'checkpoints'/'pretrained').iterdir() if p.is_dir() and any(p.glob('*.safetensors'))}
    loaded = {k: w for k, w in loaded.items() if 'conv1.weight' in w}  # the ResNet starting points (the foundation models': under net.)
    assert any(torch.equal(w['conv1.weight'], tv['conv1.weight']) for w in loaded.values())  # IFI-FS: the torchvision file's weights
    assert any(torch.equal(w['conv1.weight'], sd['module.encoder_q.conv1.weight']) for w in loaded.values())  # IFI-CL: encoder_q, not encoder_k


def test_paper_path_draws_every_figure_and_table(paper_run):
    out = paper_run[0]
    for name in ('fig2_auc', 'fig3a_condition', 'fig3b_eigs', 'table2_pareto', 'fig4_robustness', 'table3_xai', 'claims', 'predictions'):
        assert (out/'results'/f'{name}.csv').exists(), name
    for name in ('fig2_auc', 'fig3a_condition', 'fig4_robustness'):
        assert (out/'figures'/f'{name}.svg').exists(), name
    assert (out/'figures'/'fig5_heatmaps.png').exists()
    home = (out/'site'/'index.html').read_text()
    assert 'IFI is a stand-in' not in home and 'moco_v2_800ep_pretrain.pth.tar' in home and 'Synthetic data.' not in home


def test_paper_path_runs_every_foundation_starting_point_both_ways(paper_run):
    out, _, _, fm, _ = paper_run
    from dr_study.foundation import FOUNDATIONS
    run = RunLayout(out)
    cfgs = json.dumps([json.loads((p/'config.json').read_text()) for p in (out/'checkpoints'/'pretrained').iterdir() if (p/'config.json').exists()])
    assert all(f.name in cfgs for f in fm.values())  # each starting point read from its file
    runs = run.read('training_runs'); pred = run.read('predictions')
    for f in FOUNDATIONS.values():
        for m in (f.method, f'{f.method}-LP'):
            assert (runs.method == m).sum() == 2 * 2, m  # 2 fractions x 2 seeds
            assert set(pred[pred.method == m].dataset) == {'eyepacs', 'messidor2'}, m
    assert set(runs.method) >= {'IWNE-FS-LP', 'IWNE-CL-LP', 'IFI-FS-LP', 'IFI-CL-LP'}
    assert set(run.read('robustness_scores').method) >= {f.method for f in FOUNDATIONS.values()}  # robustness: every model
    assert (out/'figures'/'fig2_extended.svg').exists()
    page = (out/'site'/'study-50_evaluate.html').read_text()
    assert 'every starting point, fine-tuned and linearly probed' in page and 'RETFound-Green' in page


def test_paper_path_marks_the_pretraining_overlap(paper_run):
    out = paper_run[0]
    dl = RunLayout(out).read('paired_deltas').fillna({'overlap': ''})
    seen = dl.groupby(['method', 'dataset']).overlap.first().ne('').to_dict()
    assert seen['FLAIR', 'eyepacs'] and seen['FLAIR', 'messidor2'] and seen['FLAIR-LP', 'messidor2']
    assert seen['RETFound-Green', 'eyepacs'] and not seen['RETFound-Green', 'messidor2']
    assert not seen['DINOv2-S', 'eyepacs'] and not seen['IFI-CL', 'eyepacs']
    assert 'seen in pretraining' in (out/'site'/'study-50_evaluate.html').read_text()


def test_paper_path_refuses_a_weights_file_in_another_layout(paper_run, tmp_path):
    out, _, _, fm, small = paper_run
    bad = {**small, 'foundation': '[retfound_green]', 'foundation_weights': f"{{retfound_green: {fm['flair']}}}", 'linear_probe': 'false'}
    r = subprocess.run([*CLI, 'reproduce', '--profile', 'paper', '--out', str(tmp_path/'bad'), '--quiet', '--until', 'pretrain']
                       + [a for k, v in bad.items() for a in ('--set', f'{k}={v}')], capture_output=True, text=True, timeout=900)
    text = r.stdout + r.stderr
    assert r.returncode != 0
    assert "flair.pth: does not match the layout expected, RETFound-Green" in text, text[-3000:]
    assert 'file keys matching no model key or rule' in text and 'vision_model.model.' in text


PAPER = ['IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL']


def test_paper_path_analyses_every_seed_and_the_claims_resample_seeds(paper_run):
    "Training variance reaches the analyses (issue 21): every seed's final model is scored under the distortions, explained and probed for its spectra."
    out = paper_run[0]
    final = out/'checkpoints'/'final'
    for m in PAPER:
        assert all((final/f'{m}{s}.safetensors').exists() for s in ('', '-s0', '-s1'))
        assert (final/f'{m}.safetensors').read_bytes() == (final/f'{m}-s0.safetensors').read_bytes()  # the first seed's, for Figures 3 and 5
    run = RunLayout(out)
    scores = run.read('robustness_scores'); scores = scores[scores.method.isin(PAPER)]
    assert scores.groupby('seed').size().to_dict() == {0: len(scores) // 2, 1: len(scores) // 2}
    xai = run.read('xai_per_image')
    assert set(xai.seed) == {0, 1} and set(PAPER) <= set(xai.method)
    lg = run.read('claims').set_index('id')
    for c in ('ifi_above_iwne', 'robust_iwne_cl', 'robust_ifi_cl_noise_score', 'fs_above_cl_hard_exudates'):
        assert lg.seeds[c] == 2 and 'one training seed' not in lg.here[c], (c, lg.loc[c].to_dict())
    boot = run.read('spectra_boot')
    assert set(boot.seed) == {0, 1} and boot.replicate.min() == -1 and set(run.read('eigenvalues').seed) == {0, 1}
    for c in ('kappa_ifi_lower', 'alpha_cl_lower', 'alpha_iwne_above_116'):
        assert lg.seeds[c] == 2 and lg.test[c].startswith('paired per seed'), (c, lg.loc[c].to_dict())
    assert set(lg.verdict) <= {'supported', 'contradicted', 'not resolved', 'not tested here'}


def test_paper_path_a_vits_spectra_are_those_of_its_patch_embedding_and_token_maps(paper_run):
    run = RunLayout(paper_run[0])
    e = run.read('eigenvalues')
    first = e[e.depth == 0].groupby('method').layer.first()
    assert first['RETFound-Green'] == 'patch_embed.proj' and first['RETFound-MAE'] == 'patch_embed.proj' and first['IFI-FS'] == 'conv1'
    assert {'blocks.0.attn.qkv', 'blocks.1.mlp.fc2'} <= set(e[e.method == 'DINOv2-S'].layer)
    assert 'patch embedding' in (run.site/'study-60_spectra.html').read_text()
    fm = run.read('foundation_models').set_index('method')
    assert sorted(fm.index) == ['DINOv2-S', 'FLAIR', 'RETFound-Green', 'RETFound-MAE'] and fm.overlap['RETFound-Green'].startswith('eyepacs')
    assert {'RETFound-Green', 'FLAIR'} <= set(run.read('calibration').method)


def test_paper_path_explains_each_model_by_what_applies_and_names_the_rest(paper_run):
    from dr_study.explain import NEEDS_RESNET
    run = RunLayout(paper_run[0])
    ap = run.read('xai_applicability')
    vit = ap[ap.method == 'RETFound-Green'].set_index('what')
    assert {'lrp_a1b0', 'lrp_randomized', 'gradcam'} <= set(vit.index) and not vit.applies[[a for a in NEEDS_RESNET if a in vit.index]].any()
    assert vit.applies[['integrated_gradients', 'grad_x_input', 'random']].all() and vit.figure5.idxmax() == 'integrated_gradients'
    assert ap[ap.method.isin(['IFI-FS', 'FLAIR'])].applies.all()  # FLAIR's ResNet-50: LRP, Grad-CAM and the controls
    t3 = run.read('table3_xai')
    assert {'integrated_gradients', 'random'} <= set(t3[t3.method == 'RETFound-Green'].explainer)
    assert 'lrp_a1b0' not in set(t3[t3.method == 'RETFound-Green'].explainer) and 'lrp_a1b0' in set(t3[t3.method == 'FLAIR'].explainer)
    assert 'RETFound-Green' in set(pd.read_csv(run.table('fig5_heatmaps'), usecols=['map'])['map'])  # its map in Figure 5
    page = (run.site/'study-80_explain.html').read_text()
    assert 'why it does not apply' in page and 'Every model under one explainer' in page
