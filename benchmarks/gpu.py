"""GPU figures for the paper profile, side by side in one run (run it on a GPU machine; `--device cpu` only checks that it works).

 (a) ResNet-50 fine-tuning images/s at 224 px: the real loop (`dr_study.train.finetune`, one epoch, cache loader with
     augmentation) vs a forward/backward/step loop on random tensors already on the GPU (the ceiling), fp32 and bf16 autocast
     + channels-last; target: real >= 0.7 x ceiling;
 (b) the cache loader alone (read + augment + normalize) at 0/4/8/16 workers; target: >= 1.5 x the bf16 training rate;
 (c) MoCo v2 pretraining images/s (`pretrain_moco`, one epoch);
 (d) LRP-alpha1beta0 heatmaps/s (`explain_lrp`, canonized once).
The cache is a prepared run's EyePACS cache (`dr-study prepare --profile tiny --set image_size=224 --out RUN`); without RUN one is
prepared in a temporary folder. Pass the measured rates to `dr-study plan --rate-train ... --rate-infer ... --rate-pretrain ...`.

    python benchmarks/gpu.py [RUN] [--arch resnet50] [--batch 64] [--steps 30] [--device cuda]
"""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from dr_study.cache import CachedFundus
from dr_study.models import make_model, normalize
from dr_study.train import TrainConfig, augment, finetune


def sync(dev):
    if str(dev).startswith('cuda'): torch.cuda.synchronize()


def ceiling(arch, size, batch, steps, dev, amp, cl):
    model = make_model(arch).to(dev).train(); opt = torch.optim.AdamW(model.parameters(), 1e-3)
    if cl: model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=dev); y = torch.randint(0, 5, (batch,), device=dev)
    if cl: x = x.contiguous(memory_format=torch.channels_last)
    for k in range(steps + 2):
        if k == 2: sync(dev); t = time.perf_counter()
        with torch.autocast('cuda', torch.bfloat16, enabled=amp): loss = nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    sync(dev); return steps * batch / (time.perf_counter() - t)


def real_loop(ds, idx, arch, batch, workers, dev, amp, cl):
    cfg = TrainConfig(arch=arch, epochs=1, batch_size=batch, device=dev, workers=workers, amp=amp, channels_last=cl)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter(); m = finetune(cfg, ds, idx, val_idx=idx[:batch], out_dir=d, log=lambda *a: None); sync(dev)
    return len(idx) / (time.perf_counter() - t)  # includes one validation pass of one batch and the checkpoint


def loader(ds, idx, batch, workers, steps):
    dl = DataLoader(Subset(ds, list(idx)), batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0, pin_memory=True)
    n = 0
    for k, (x, _, _) in enumerate(dl):
        if k == 1: t = time.perf_counter(); n = 0
        normalize(augment(x, torch.Generator().manual_seed(k))); n += len(x)
        if k == steps: break
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run', type=Path, nargs='?'); ap.add_argument('--arch', default='resnet50'); ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--steps', type=int, default=30); ap.add_argument('--device', default='cuda')
    ap.add_argument('--workers', type=int, nargs='+', default=[0, 4, 8, 16])
    a = ap.parse_args()
    if a.device.startswith('cuda') and not torch.cuda.is_available(): sys.exit('benchmarks/gpu.py: no CUDA device here; nothing measured (use --device cpu to check the script)')
    tmp = None
    if a.run is None:
        tmp = tempfile.TemporaryDirectory(); a.run = Path(tmp.name)/'run'
        subprocess.run([sys.executable, '-m', 'dr_study.cli', 'prepare', '--profile', 'tiny', '--set', 'image_size=224', '--out', str(a.run), '--quiet'], check=True, stdout=subprocess.DEVNULL)
    info = json.loads((a.run/'data.json').read_text())
    ds = CachedFundus(a.run/info['caches']['eyepacs']); idx = np.flatnonzero(ds.records.split != 'test')
    idx = np.resize(idx, max(len(idx), a.batch * a.steps))  # enough images for `steps` batches
    S, dev = ds.size, a.device
    print(f'{a.arch} at {S} px, batch {a.batch}, device {dev}' + (f' ({torch.cuda.get_device_name()})' if dev.startswith('cuda') else f', {torch.get_num_threads()} threads'))
    rows = {}
    for tag, amp, cl in (('fp32', False, False), ('bf16 + channels-last', True, True)):
        if not dev.startswith('cuda') and amp: continue
        c = ceiling(a.arch, S, a.batch, a.steps, dev, amp, cl); r = real_loop(ds, idx, a.arch, a.batch, max(a.workers), dev, amp, cl)
        rows[tag] = (r, c)
        print(f'fine-tuning {tag:22s} real loop {r:8.1f} img/s   ceiling {c:8.1f} img/s   RATIO real/ceiling {r / c:.2f} (target >= 0.70)')
    best = max(r for r, _ in rows.values())
    for w in a.workers:
        v = loader(ds, idx, a.batch, w, a.steps)
        print(f'loader {w:2d} workers {v:8.1f} img/s   RATIO loader/training {v / best:.2f} (target >= 1.5)')
    from dr_study.pretrain import pretrain_moco, PretrainConfig
    imgs = np.stack([ds.image(int(i)) for i in idx[:a.batch * 4]])
    t = time.perf_counter(); pretrain_moco(imgs, None, PretrainConfig(a.arch, 1, a.batch, device=dev, log=lambda *x: None), bank=a.batch * 2); sync(dev)
    print(f'MoCo v2 pretraining {len(imgs) // a.batch * a.batch / (time.perf_counter() - t):8.1f} img/s (one epoch of {len(imgs)} images, start-up included)')
    from dr_study.explain import explain_lrp
    m = make_model(a.arch).to(dev).eval(); x = normalize(torch.from_numpy(imgs[:16]).permute(0, 3, 1, 2).to(dev))
    explain_lrp(m, x[:2]); sync(dev); t = time.perf_counter(); explain_lrp(m, x); sync(dev)
    print(f'LRP heatmaps {len(x) / (time.perf_counter() - t):8.1f} /s')
    if tmp: tmp.cleanup()


if __name__ == '__main__':
    main()
