"""Linear probes of a label-fraction × seed grid: features computed once and reused, against recomputed for every probe.

    python benchmarks/probe.py [--arch resnet18] [--size 96] [--train 600] [--fractions 10] [--seeds 3]

Prints, side by side in one run: the seconds of one pass of the frozen network over the training, validation and test
images, of one probe's fit, and of the whole grid done three ways: the naive way (each probe runs the network over its
training subset, the validation split and the test sets), features once with a probe per cell, and as `dr_study.probe`
runs it (features once; the seeds of a pretrained starting point share one probe, since it draws nothing); and the
ratios. The images are random (the network's cost does not depend on them); the grades are drawn at random.
"""
import argparse, time
import numpy as np, torch
from dr_study.probe import starting_model, embed, LinearProbe, _softmax
from dr_study.train import ImageArray

a = argparse.ArgumentParser()
a.add_argument('--arch', default='resnet18'); a.add_argument('--size', type=int, default=96)
a.add_argument('--train', type=int, default=600); a.add_argument('--val', type=int, default=150)
a.add_argument('--test', type=int, default=300); a.add_argument('--external', type=int, default=300)
a.add_argument('--fractions', type=int, default=10); a.add_argument('--seeds', type=int, default=3)
a.add_argument('--Cs', type=float, nargs='+', default=[0.01, 0.1, 1.0, 10.0])
args = a.parse_args()
torch.set_num_threads(torch.get_num_threads())
g = np.random.default_rng(0); n = args.train + args.val + args.test + args.external
ds = ImageArray(g.integers(0, 256, (n, args.size, args.size, 3), dtype=np.uint8)); grades = g.integers(0, 5, n)
tr, va = np.arange(args.train), np.arange(args.train, args.train + args.val)
tests = [np.arange(args.train + args.val, args.train + args.val + args.test), np.arange(args.train + args.val + args.test, n)]
fractions = np.linspace(1 / args.fractions, 1, args.fractions); order = g.permutation(args.train)
cells = [(f, s) for f in fractions for s in range(args.seeds)]
model, probe = starting_model(args.arch), LinearProbe(Cs=args.Cs)

def fit(F, idx_tr, Fv, Ft):
    r = probe(F[idx_tr], grades[tr][idx_tr], Fv, grades[va])
    return [_softmax(f @ r['weight'].T + r['bias']) for f in Ft]

t = time.perf_counter()  # cached: one pass over every image, then every probe reads it
F = embed(model, ds, range(n)).astype(np.float64); t_embed = time.perf_counter() - t
t_fits = {}
for f, s in cells:
    t1 = time.perf_counter(); fit(F[tr], order[:int(f * args.train)], F[va], [F[i] for i in tests]); t_fits[f, s] = time.perf_counter() - t1
t_cached = time.perf_counter() - t
# as the pipeline runs it: a probe of a pretrained starting point draws nothing, so the seeds share one unit (one fit per fraction)
t_shared = t_embed + sum(v for (f, s), v in t_fits.items() if s == 0)
t = time.perf_counter()  # recomputed: each probe runs the network over what it needs
for f, s in cells:
    sub = tr[order[:int(f * args.train)]]
    Fs, Fv = embed(model, ds, sub).astype(np.float64), embed(model, ds, va).astype(np.float64)
    Ft = [embed(model, ds, i).astype(np.float64) for i in tests]
    fit(np.concatenate([Fs, np.zeros((args.train - len(sub), Fs.shape[1]))]), np.arange(len(sub)), Fv, Ft)
t_naive = time.perf_counter() - t
print(f'{args.arch} at {args.size} px, {torch.get_num_threads()} threads; {n} images '
      f'({args.train} training, {args.val} validation, {args.test} + {args.external} test); '
      f'{len(cells)} probes ({args.fractions} fractions x {args.seeds} seeds), {len(args.Cs)} values of C each')
print(f'one pass of the network over all images: {t_embed:8.2f} s')
print(f'one probe (fit over the C grid, predictions): {np.mean(list(t_fits.values())):8.3f} s (mean of {len(t_fits)})')
print(f'grid, features recomputed per probe:              {t_naive:8.2f} s')
print(f'grid, features once, a probe per cell:            {t_cached:8.2f} s   speed-up {t_naive / t_cached:5.1f}x')
print(f'grid, features once, seeds sharing a probe (ours): {t_shared:8.2f} s   speed-up {t_naive / t_shared:5.1f}x '
      '(a pretrained starting point; a random network, IWNE-FS, has a probe per seed: the line above)')
