"""The real-data path end to end: `reproduce --profile paper` with every size knob turned down and every paper-only code path kept —
`synthetic: null`, the synthetic benchmark's folders given as the three data paths, crop-only preprocessing, and IFI weights in the
layouts users download (a torchvision `resnet*-*.pth` state dict; a MoCo v2 `*.pth.tar` with `state_dict` under `module.encoder_q.`)."""
import json, subprocess, sys
import pandas as pd, pytest, torch
from dr_study.models import make_model
from dr_study.paths import SynthLayout, RunLayout

CLI = [sys.executable, '-m', 'dr_study.cli']


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
    small = dict(synthetic='null', eyepacs=lay.eyepacs.root, messidor2=lay.messidor2.root, idrid=lay.idrid.root, ifi_fs_weights=fs, ifi_cl_weights=cl,
                 arch='resnet18', image_size=64, fractions='[0.5, 1.0]', epochs_iwne=1, epochs_ifi=1, pretrain_epochs=1, pretrain_batch=16,
                 moco_bank=64, batch_size=16, workers=0, probe_images=24, spectra_boot=20, seeds='[0, 1]', robust_images=8, corruptions='[gaussian_noise, fog]', severities='[1, 3]',
                 n_boot=20, gallery_images=1, cascade='false')
    out = d/'run'
    r = subprocess.run([*CLI, 'reproduce', '--profile', 'paper', '--out', str(out), '--quiet'] + [a for k, v in small.items() for a in ('--set', f'{k}={v}')],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return out, tv, sd


def test_paper_path_uses_the_given_weights_not_the_stand_in(paper_run):
    out, tv, sd = paper_run
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
    assert any(torch.equal(w['conv1.weight'], tv['conv1.weight']) for w in loaded.values())  # IFI-FS: the torchvision file's weights
    assert any(torch.equal(w['conv1.weight'], sd['module.encoder_q.conv1.weight']) for w in loaded.values())  # IFI-CL: encoder_q, not encoder_k


def test_paper_path_draws_every_figure_and_table(paper_run):
    out, _, _ = paper_run
    for name in ('fig2_auc', 'fig3a_condition', 'fig3b_eigs', 'table2_pareto', 'fig4_robustness', 'table3_xai', 'claims', 'predictions'):
        assert (out/'results'/f'{name}.csv').exists(), name
    for name in ('fig2_auc', 'fig3a_condition', 'fig4_robustness'):
        assert (out/'figures'/f'{name}.svg').exists(), name
    assert (out/'figures'/'fig5_heatmaps.png').exists()
    home = (out/'site'/'index.html').read_text()
    assert 'IFI is a stand-in' not in home and 'moco_v2_800ep_pretrain.pth.tar' in home and 'Synthetic data.' not in home
