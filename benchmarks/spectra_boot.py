"""The κ and α intervals' subsamples: from the kept Gram matrices vs recomputing each subsample from the activations,
side by side in one run on the same activations and the same delete-d subsamples (by patient); then the host memory of
the paper's recipe at paper scale.

(a) `resampled_eigenvalues`: every subsample's spectrum from the layer's N x N Gram matrix, each feature's scaling fixed
    at the probe set's (what `SpectrumStatistics` does);
(b) exact: each subsample's images stacked, every feature standardized again on the subsample,
    `standardized_eigenvalues` (a pass over all F features per subsample).
Both give κ (Eq. 1) and distfit's Pareto α (scipy's fit) per subsample; the table shows the time per subsample, the
ratio, and how far (a) is from (b): the median |Δ| of log κ and of α over subsamples, beside the spread (sd) of (b) over
subsamples — the approximation matters only if the first is not small against the second.

    python benchmarks/spectra_boot.py [--images 200] [--size 96] [--arch resnet18] [--resamples 20]
    python benchmarks/spectra_boot.py --memory [--images 1000] [--size 224] [--arch resnet50] [--layers 3]

`--memory` runs `FeatureSpectra(keep_grams=...)` on random images in a fresh subprocess and prints its peak resident
set size: the largest layer's activations (conv1: 64 x (S/2)^2 features per image), held twice while they are
concatenated, dominate it; the later layers are smaller and share the same activation budget, so the first layers'
peak is the whole recipe's (plus 8 N^2 bytes per kept Gram matrix).
"""
import argparse, json, resource, subprocess, sys, time
import numpy as np, torch
from scipy import stats
from dr_study.models import make_model
from dr_study.spectra import FeatureSpectra, early_layers, delete_d_weights, condition_number, paper_layers, resampled_eigenvalues, standardized_eigenvalues, standardized_gram


def stats_of(e):
    e = np.asarray(e); return np.log(condition_number(e)), stats.pareto.fit(e[e > 0])[0]


def compare(a):
    torch.manual_seed(0); model = make_model(a.arch).eval()
    x = torch.randn(a.images, 3, a.size, a.size, generator=torch.Generator().manual_seed(1))
    store = {}
    layer = dict(paper_layers(model))[a.layer]
    h = layer.register_forward_hook(lambda m, i, o: store.setdefault('x', []).append(o.detach().flatten(1).clone()))
    with torch.no_grad():
        for b in x.split(32): model(b)
    h.remove(); X = torch.cat(store['x'])
    W = delete_d_weights(np.arange(a.images) // 2, a.resamples)[0]
    k = int(min(100, (W > 0).sum(1).min() - 1))
    t = time.perf_counter(); G = standardized_gram(X); t_gram = time.perf_counter() - t
    t = time.perf_counter(); A = resampled_eigenvalues(G, W, k); t_a = (time.perf_counter() - t) / len(W)
    t = time.perf_counter()
    B = [standardized_eigenvalues(X[w > 0], k) for w in W]
    t_b = (time.perf_counter() - t) / len(W)
    sa, sb = np.array([stats_of(e) for e in A]), np.array([stats_of(e) for e in B])
    print(f'{a.arch}, random weights, layer {a.layer} ({X.shape[1]:,} features), {a.images} random images at {a.size} px, '
          f'{len(W)} delete-d subsamples (2 images per patient, a quarter of the patients left out), top {k} eigenvalues; torch threads {torch.get_num_threads()}')
    print(f'{"":52s} {"s per subsample":>15s}')
    print(f'{"(a) from the Gram matrix (once: " + f"{t_gram:.2f} s)":52s} {t_a:15.4f}')
    print(f'{"(b) exact: stack the subsample, standardize again":52s} {t_b:15.4f}')
    print(f'RATIO (b) / (a): {t_b / t_a:.0f}x per subsample')
    for j, name in enumerate(('log κ', 'α (Pareto)')):
        print(f'{name:12s} median |(a) − (b)| {np.median(np.abs(sa[:, j] - sb[:, j])):.4f}   sd of (b) over subsamples {sb[:, j].std(ddof=1):.4f}')


def memory_child(a):
    torch.manual_seed(0); model = make_model(a.arch).eval()
    x = torch.randn(a.images, 3, a.size, a.size, generator=torch.Generator().manual_seed(1))
    batches = list(x.split(32))
    t = time.perf_counter(); fs = FeatureSpectra(max_layers=a.layers, keep_grams=a.layers); fs(model, batches)
    print(json.dumps(dict(seconds=time.perf_counter() - t, peak_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                          images_gib=x.nbytes / 2**30, grams=len(fs.grams_))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', type=int); ap.add_argument('--size', type=int); ap.add_argument('--arch')
    ap.add_argument('--layer', default='conv1'); ap.add_argument('--resamples', type=int, default=20)  # subsamples
    ap.add_argument('--memory', action='store_true'); ap.add_argument('--layers', type=int, default=3); ap.add_argument('--child', action='store_true')
    a = ap.parse_args()
    if a.memory:
        a.images, a.size, a.arch = a.images or 1000, a.size or 224, a.arch or 'resnet50'
        if a.child: return memory_child(a)
        p = subprocess.run([sys.executable, __file__, '--memory', '--child', '--images', str(a.images), '--size', str(a.size), '--arch', a.arch,
                            '--layers', str(a.layers)], capture_output=True, text=True)
        if p.returncode: sys.exit(p.stderr[-3000:])
        r = json.loads(p.stdout.strip().splitlines()[-1])
        print(f'{a.arch} at {a.size} px, {a.images} random images, the first {a.layers} layers, Gram matrices kept: {r["seconds"]:.0f} s, '
              f'peak RSS {r["peak_gib"]:.2f} GiB (the input images alone {r["images_gib"]:.2f} GiB); 99 layers add at most '
              f'{(early_layers(99) - a.layers) * 8 * a.images ** 2 / 2**30:.2f} GiB of Gram matrices for the initial third')
        return
    a.images, a.size, a.arch = a.images or 200, a.size or 96, a.arch or 'resnet18'
    compare(a)


if __name__ == '__main__': main()
