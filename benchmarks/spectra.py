"""Streaming vs stacked layer spectra: time, peak memory and agreement, side by side in one run on the same random
ResNet and images. (a) `ActivationSpectra` (one float64 running covariance per layer); (b) keep every hooked activation,
stack each layer's, `np.cov`, `np.linalg.eigvalsh`. A forward-only pass (no hooks) is the baseline both contain.

    python benchmarks/spectra.py [--images 64] [--size 64] [--batch 16] [--arch resnet18] [--layers blocks] [--repeat 3]

Each variant runs in its own fresh subprocess, `--repeat` times in a row; the time is the best of those (the machine
may be shared). Memory columns (over all repeats): `peak RSS +MB` = the process's peak resident set size
(ru_maxrss) minus its resident size just before the measured part (after the model, the images, one warm-up forward
and a small float64 covariance exist, so that lazily loaded library code is not counted), i.e. everything the variant needed on top: torch tensors, numpy arrays, forward temporaries; `numpy peak MB` =
tracemalloc's peak over the measured part, which sees numpy and Python allocations but not torch's; `held MB` = what the
method must keep until the end: the stored float32 activations (stacked) or the float64 running means and co-moments
(streaming).
"""
import warnings; warnings.filterwarnings('ignore', 'rank-deficient')  # small images: the last stage has few rows
import argparse, json, os, resource, subprocess, sys, tempfile, time, tracemalloc
from pathlib import Path
import numpy as np, torch
from dr_study.models import make_model
from dr_study.spectra import ActivationSpectra, StreamingCovariance, layer_modules, _rows


def rss_mb():
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')


def stacked(model, batches, layers):
    store, hs = {}, []
    hook = lambda n: (lambda m, i, o: store.setdefault(n, []).append(o.detach().clone()))
    try:
        hs = [m.register_forward_hook(hook(n)) for n, m in layer_modules(model, layers)]
        with torch.no_grad():
            for x in batches: model(x)
    finally:
        for h in hs: h.remove()
    held = sum(t.nbytes for v in store.values() for t in v)
    out = {}
    for n, v in store.items():
        X = _rows(torch.cat(v)).numpy()
        out[n] = np.linalg.eigvalsh(np.cov(X, rowvar=False))
    return out, held


def child(a):
    torch.manual_seed(0); model = make_model(a.arch).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(a.images, 3, a.size, a.size, generator=g)  # stands in for normalized images
    batches = list(x.split(a.batch))
    with torch.no_grad(): model(batches[0])  # warm-up outside the measurement, for every variant alike: the forward pass and
    r = torch.randn(4096, 64); StreamingCovariance(64).update(r).eigenvalues(); np.linalg.eigvalsh(np.cov(r.numpy(), rowvar=False))  # float64 kernels
    base = rss_mb(); tracemalloc.start(); times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        if a.variant == 'forward':
            with torch.no_grad():
                for b in batches: model(b)
            eig, held = {}, 0
        elif a.variant == 'streaming':
            eig = ActivationSpectra(a.layers)(model, batches)
            held = sum((len(e) ** 2 + len(e)) * 8 for e in eig.values())
        else:
            eig, held = stacked(model, batches, a.layers)
        times.append(time.perf_counter() - t)
    dt = min(times); _, np_peak = tracemalloc.get_traced_memory(); tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if eig: np.savez(a.out, **eig)
    print(json.dumps(dict(time=dt, rss_plus=peak - base, np_peak=np_peak / 2**20, held=held / 2**20, layers=list(eig))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', type=int, default=64); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--batch', type=int, default=16); ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--layers', default='blocks'); ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--variant'); ap.add_argument('--out')
    a = ap.parse_args()
    if a.variant: return child(a)
    print(f'{a.arch}, random weights, {a.images} random images at {a.size} px, batch {a.batch}, layer set {a.layers!r}; '
          f'torch threads {torch.get_num_threads()}, OPENBLAS_NUM_THREADS={os.environ.get("OPENBLAS_NUM_THREADS", "unset")}')
    res = {}
    with tempfile.TemporaryDirectory() as d:
        for v in ('forward', 'streaming', 'stacked'):
            out = Path(d) / f'{v}.npz'
            cmd = [sys.executable, __file__, '--variant', v, '--out', str(out), '--images', str(a.images), '--size', str(a.size),
                   '--batch', str(a.batch), '--arch', a.arch, '--layers', a.layers, '--repeat', str(a.repeat)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode: sys.exit(f'{v} failed:\n{p.stderr[-3000:]}')
            res[v] = json.loads(p.stdout.strip().splitlines()[-1])
            if out.exists(): res[v]['eig'] = dict(np.load(out))
    print(f'{"":44s} {"best of " + str(a.repeat) + " s":>11s} {"peak RSS +MB":>13s} {"numpy peak MB":>14s} {"held MB":>8s}')
    names = {'forward': 'forward passes only (baseline)', 'streaming': '(a) streaming float64 covariance',
             'stacked': '(b) stack activations, np.cov, eigvalsh'}
    for v, r in res.items(): print(f'{names[v]:44s} {r["time"]:11.2f} {r["rss_plus"]:13.1f} {r["np_peak"]:14.1f} {r["held"]:8.2f}')
    s, b = res['streaming'], res['stacked']
    print(f'RATIO stacked / streaming: time {b["time"] / s["time"]:.2f}x, peak RSS increase {b["rss_plus"] / max(s["rss_plus"], 1e-9):.1f}x, '
          f'numpy peak {b["np_peak"] / max(s["np_peak"], 1e-9):.0f}x, held {b["held"] / s["held"]:.0f}x')
    abs_rel, rel = 0.0, 0.0
    for n in s['layers']:
        e, f = s['eig'][n], b['eig'][n]
        abs_rel = max(abs_rel, np.abs(e - f).max() / np.abs(f).max())
        big = f > 1e-6 * f.max(); rel = max(rel, (np.abs(e - f)[big] / f[big]).max())
    print(f'EIGENVALUES over {len(s["layers"])} layers: max |a - b| / max eigenvalue of the layer = {abs_rel:.1e}; '
          f'max relative difference on eigenvalues above 1e-6 x the largest = {rel:.1e}')


if __name__ == '__main__':
    main()
