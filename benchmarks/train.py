"""Is training input-bound? Training images/s of the real fine-tuning loop (`finetune`, one epoch) vs a compute-only ceiling
(forward + backward + step on preloaded batches) and vs the data loader alone, side by side in one run, on a run's
preprocessed cache (default: the smoke setup); target: real loop >= 0.85 x the ceiling on CPU. Where CUDA is available, also ResNet50 at 224 px with and
without bf16 autocast + channels-last, against a plain forward/backward loop on random tensors (the ceiling).

    dr-study prepare --profile smoke --out runs/smoke
    python benchmarks/train.py runs/smoke [--arch resnet18] [--steps 20]
"""
import argparse, json, time
from pathlib import Path
import numpy as np, torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from dr_study.cache import CachedFundus
from dr_study.models import make_model, normalize
from dr_study.train import TrainConfig, augment, finetune


def loader_rate(ds, idx, bs, workers, steps):
    dl = DataLoader(Subset(ds, list(idx)), batch_size=bs, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
    n, t = 0, None
    for k, (x, y, _) in enumerate(dl):
        if k == 1: t = time.perf_counter(); n = 0  # skip the first batch (worker start-up)
        x = normalize(augment(x, torch.Generator().manual_seed(k))); n += len(x)
        if k == steps: break
    return n / (time.perf_counter() - t)


def train_rate(model, batches, device, amp=False, channels_last=False):
    opt = torch.optim.AdamW(model.parameters(), 1e-3); model.train().to(device)
    if channels_last: model = model.to(memory_format=torch.channels_last)
    n = 0
    for k, (x, y) in enumerate(batches):
        if k == 1:
            if device == 'cuda': torch.cuda.synchronize()
            t = time.perf_counter(); n = 0
        x, y = x.to(device, non_blocking=True), y.to(device)
        if channels_last: x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device, torch.bfloat16, enabled=amp):
            loss = nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(); loss.backward(); opt.step(); n += len(x)
    if device == 'cuda': torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run', type=Path); ap.add_argument('--arch', default='resnet18'); ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--batch', type=int, default=32); ap.add_argument('--workers', type=int, default=2)
    a = ap.parse_args()
    info = json.loads((a.run/'data.json').read_text())
    ds = CachedFundus(a.run/info['caches']['eyepacs']); idx = np.flatnonzero(ds.records.split == 'train')
    print(f'{a.arch} at {ds.size} px, batch {a.batch}, {torch.get_num_threads()} threads, CUDA: {torch.cuda.is_available()}')
    rows = []
    for w in (0, a.workers):
        rows.append((f'data loader alone ({w} workers): read + augment + normalize', loader_rate(ds, idx, a.batch, w, a.steps)))
    batches = []
    for k, (x, y, _) in enumerate(DataLoader(Subset(ds, list(idx)), batch_size=a.batch, shuffle=True)):
        batches.append((normalize(augment(x, torch.Generator().manual_seed(k))), y))
        if k == min(a.steps, 8): break
    rows.append(('forward+backward+step on preloaded batches (compute only)', train_rate(make_model(a.arch), batches, 'cpu')))
    import tempfile
    sub = idx[:a.batch * a.steps]
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        finetune(TrainConfig(arch=a.arch, epochs=1, batch_size=a.batch, device='cpu', workers=a.workers), ds, sub, val_idx=sub[:a.batch], out_dir=d, log=lambda *x: None)
        real = len(sub) / (time.perf_counter() - t)
    print(f'{"":64s} {"images/s":>9s}')
    for name, v in rows: print(f'{name:64s} {v:9.1f}')
    print(f'{"real fine-tuning loop (finetune, one epoch incl. validation and checkpoint)":64s} {real:9.1f}')
    print(f'RATIO loader / compute: {max(r[1] for r in rows[:2]) / rows[-1][1]:.1f}x (above 1: training is compute-bound, not input-bound)')
    print(f'RATIO real loop / compute ceiling: {real / rows[-1][1]:.2f} (target >= 0.85)')
    if torch.cuda.is_available():
        x = torch.randn(a.batch * 2, 3, 224, 224, device='cuda'); y = torch.randint(0, 5, (len(x),), device='cuda')
        rnd = [(x, y)] * (a.steps + 1)
        g = [('ResNet50 224 px fp32', dict()), ('ResNet50 224 px bf16 + channels-last', dict(amp=True, channels_last=True))]
        for name, kw in g: print(f'{name + " (random tensors on GPU: ceiling)":64s} {train_rate(make_model("resnet50"), rnd, "cuda", **kw):9.1f}')


if __name__ == '__main__':
    main()
