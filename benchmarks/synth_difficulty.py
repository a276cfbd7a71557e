"""Is the synthetic benchmark saturated, or hopeless? Referable-DR AUC (95% bootstrap CI over patients) of
 (1) a non-learned lesion counter: dark blobs (black top-hat of the green channel) inside the field of view;
 (2) a small CNN trained from scratch on the EyePACS-like training set (skip with --epochs 0);
on the EyePACS-like test set and the Messidor-2-like external set.

    dr-study prepare --profile smoke --out runs/smoke
    python benchmarks/synth_difficulty.py runs/smoke [--epochs 25] [--arch small|resnet18]
"""
import argparse, json, time
from pathlib import Path
import numpy as np, pandas as pd, torch, torchvision
from torch import nn
from torch.utils.data import DataLoader, Subset
from sklearn.metrics import roc_auc_score
from dr_study.cache import CachedFundus
from dr_study.core import seed_everything
from dr_study.data import referable, referable_score


def scores(model, ds, idx, bs=64):
    model.eval(); out = []
    with torch.no_grad():
        for x, y, i in DataLoader(Subset(ds, idx), batch_size=bs):
            out.append(torch.softmax(model(norm(x)), 1).numpy())
    return np.concatenate(out)


def norm(x): return (x.float() / 255 - 0.4) / 0.25


def small_cnn(n=5):
    "Four conv blocks and global max+mean pooling: a small CNN suited to finding small dark dots."
    blocks, c = [], 3
    for w in (24, 48, 96, 128):
        blocks += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1, bias=False),
                   nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]; c = w
    class Pool(nn.Module):
        def forward(self, x): return torch.cat([x.amax((2, 3)), x.mean((2, 3))], 1)
    return nn.Sequential(*blocks, Pool(), nn.Linear(2 * c, n))


def blob_score(img):
    "Number of dark-blob pixels (relative black top-hat > 0.25 in green) inside the field of view."
    from scipy import ndimage as ndi
    g = img[..., 1].astype(float); n = g.shape[0]
    th = (ndi.grey_closing(g, size=7) - g) / np.maximum(ndi.grey_closing(g, size=7), 1)
    yy, xx = np.mgrid[:n, :n]
    return int(((th > 0.25) & (np.hypot(xx - n / 2, yy - n / 2) < 0.45 * n)).sum())


def auc_ci(y, s, groups, n=1000, seed=0):
    g = np.random.default_rng(seed); pats = pd.unique(groups); by = {p: np.flatnonzero(groups == p) for p in pats}
    auc = roc_auc_score(y, s); boot = []
    for _ in range(n):
        idx = np.concatenate([by[p] for p in g.choice(pats, len(pats))])
        if y[idx].min() != y[idx].max(): boot.append(roc_auc_score(y[idx], s[idx]))
    return auc, *np.percentile(boot, [2.5, 97.5])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run', type=Path); ap.add_argument('--epochs', type=int, default=25); ap.add_argument('--arch', default='small', help='small, or a torchvision model name')
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--definition', default='paper')
    a = ap.parse_args(); seed_everything(a.seed); torch.set_num_threads(2)
    info = json.loads((a.run/'data.json').read_text())
    ep, m2 = CachedFundus(a.run/info['caches']['eyepacs']), CachedFundus(a.run/info['caches']['messidor2'])
    r = ep.records
    tr, va, te = (np.flatnonzero(r.split == s) for s in ('train', 'val', 'test'))
    for name, ds, idx in (('eyepacs test', ep, te), ('messidor2', m2, np.arange(len(m2)))):
        rr = ds.records.iloc[idx]; y = referable(rr.grade.astype(int), a.definition)
        auc, lo, hi = auc_ci(y, np.array([blob_score(ds.image(i)) for i in idx]), rr.patient.to_numpy())
        print(f'lesion counter  {name:14s} n={len(idx)} referable={y.sum()} AUC {auc:.3f} [{lo:.3f}, {hi:.3f}]', flush=True)
    if a.epochs == 0: return
    model = small_cnn() if a.arch == 'small' else getattr(torchvision.models, a.arch)(num_classes=5)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=1e-4)
    best, state = -1, None
    for e in range(a.epochs):
        model.train(); t = time.time()
        for x, y, _ in DataLoader(Subset(ep, tr), batch_size=32, shuffle=True):
            x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(3), x)
            x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(2), x)
            loss = nn.functional.cross_entropy(model(norm(x)), y)
            opt.zero_grad(); loss.backward(); opt.step()
        sv = referable_score(scores(model, ep, va), a.definition)
        auc = roc_auc_score(referable(r.grade[va].astype(int), a.definition), sv)
        print(f'epoch {e}: loss {loss.item():.3f} val AUC {auc:.3f} ({time.time() - t:.0f} s)', flush=True)
        if auc > best: best, state = auc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    for name, ds, idx in (('eyepacs test', ep, te), ('messidor2', m2, np.arange(len(m2)))):
        rr = ds.records.iloc[idx]
        y = referable(rr.grade.astype(int), a.definition); s = referable_score(scores(model, ds, idx), a.definition)
        auc, lo, hi = auc_ci(y, s, rr.patient.to_numpy())
        print(f'{a.arch + " CNN":15s} {name:14s} n={len(idx)} referable={y.sum()} AUC {auc:.3f} [{lo:.3f}, {hi:.3f}]')


if __name__ == '__main__':
    main()
