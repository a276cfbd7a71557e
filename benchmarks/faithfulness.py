"""Seconds per noisy linear imputation (ROAD) at the study's input sizes, and the two metrics' cost per image and map.

    python benchmarks/faithfulness.py [--sizes 96 224] [--repeats 3]

Prints, side by side in one run: seconds per imputation at each size and share removed (a disc-shaped field of view,
pixels removed at random and as one contiguous block, as MoRF removes them), the mean over the shares (the figure that
`dr_study.plan.Throughput.imputation` holds for 224 px), its scaling with the pixel count, and the forward passes a
ROAD + pixel-flipping score of one image and one map costs.
"""
import argparse, time
import numpy as np
from dr_study.faithfulness import noisy_linear_imputation

a = argparse.ArgumentParser(); a.add_argument('--sizes', type=int, nargs='+', default=[96, 224])
a.add_argument('--repeats', type=int, default=3); a.add_argument('--shares', type=float, nargs='+', default=[0.1, 0.3, 0.5, 0.7, 0.9])
args = a.parse_args()
g, mean = np.random.default_rng(0), {}
print(f"{'size':>5} {'order':>10} " + ' '.join(f'{s:>8.0%}' for s in args.shares) + f" {'mean':>8}")
for S in args.sizes:
    Y, X = np.indices((S, S)); fov = np.hypot(Y - S / 2, X - S / 2) < 0.45 * S; x = g.normal(size=(3, S, S))
    pix = np.flatnonzero(fov); dist = np.hypot(Y - S / 3, X - S / 3).ravel()[pix]
    for order, ranked in (('random', g.permutation(pix)), ('contiguous', pix[np.argsort(dist)])):
        ts = []
        for s in args.shares:
            rem = np.zeros(S * S, bool); rem[ranked[:int(s * len(ranked))]] = True; rem = rem.reshape(S, S)
            t = time.perf_counter()
            for _ in range(args.repeats): noisy_linear_imputation(x, rem, rng=g)
            ts.append((time.perf_counter() - t) / args.repeats)
        mean[S, order] = np.mean(ts)
        print(f'{S:>5} {order:>10} ' + ' '.join(f'{t:>8.4f}' for t in ts) + f' {np.mean(ts):>8.4f}')
if len(args.sizes) > 1:
    a, b = min(args.sizes), max(args.sizes)
    for order in ('random', 'contiguous'):
        print(f'{order}: {b} px / {a} px = {mean[b, order] / mean[a, order]:.1f}x the time for {(b / a) ** 2:.1f}x the pixels '
              f'(exponent {np.log(mean[b, order] / mean[a, order]) / np.log((b / a) ** 2):.2f} in the pixel count)')
P = len(args.shares)
print(f'per image and map: {2 * P} imputations and {3 * (P + 1)} forward passes (ROAD MoRF + LeRF, pixel flipping, each with the clean image)')
