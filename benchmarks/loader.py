"""Images/s of the preprocessed cache vs decoding and resizing the originals, side by side in one run.

Synthetic EyePACS-like photographs of 2592-3456 px width (as the real cameras) are written as JPEGs, then read
 (a) from the originals: full decode + field-of-view crop + resize, what training without a cache would do;
 (b) from the originals with reduced-size JPEG decoding, what the cache build does once;
 (c) from the cache through a PyTorch DataLoader, what training does every epoch.

    python benchmarks/loader.py [--n 24] [--size 224] [--epochs 5]
"""
import argparse, tempfile, time
from dataclasses import replace
from pathlib import Path
import torch
from torch.utils.data import DataLoader
from dr_study.core import rng
from dr_study.data import Record, records_frame
from dr_study.preprocess import Prep, load_fundus
from dr_study.cache import build_cache, CachedFundus
from dr_study.synthetic import SITES, Eye, photograph, sample_lesions, lesion_counts, _save


def rate(f, n):
    t = time.perf_counter(); f(); return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=24); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--epochs', type=int, default=5); ap.add_argument('--workers', type=int, default=2)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix='dr_bench_'))
    site = replace(SITES['eyepacs'], sizes=((2592, 1944), (3456, 2304)), blur_p=0.0, flip_p=0.0)
    recs = []
    for i in range(a.n):
        g = rng(0, 'bench', i); e = Eye(side=('left', 'right')[i % 2], seed=i)
        e.lesions = sample_lesions(g, e, lesion_counts(g, i % 5))
        img, _, info = photograph(e, site, 1.0, g)
        p = d/f'{i}_{e.side}.jpeg'; _save(img, p, info)
        recs.append(Record('bench', 'train', p.stem, str(i), e.side, i % 5, str(p)))
    df = records_frame(recs)
    widths = [load_fundus(r.image, Prep(64))[2]['width'] for r in recs[:2]]
    print(f'{a.n} synthetic JPEGs, widths {sorted(set(widths))}..., target {a.size} px, torch threads {torch.get_num_threads()}')

    full = rate(lambda: [load_fundus(r.image, Prep(a.size, draft=False)) for r in recs], a.n)
    draft = rate(lambda: [load_fundus(r.image, Prep(a.size)) for r in recs], a.n)
    t = time.perf_counter(); cd = build_cache(df, d/'cache', 'bench', prep=Prep(a.size), workers=a.workers, progress=False)
    build = a.n / (time.perf_counter() - t)
    ds = CachedFundus(cd)
    def epochs(workers):
        dl = DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
        for _ in range(a.epochs):
            for x, y, i in dl: x.float()
    cached0 = rate(lambda: epochs(0), a.n * a.epochs)
    cached2 = rate(lambda: epochs(a.workers), a.n * a.epochs)
    print(f'{"path":58s} {"images/s":>10s} {"vs (a)":>8s}')
    for name, v in [('(a) originals: full decode + FOV crop + resize', full),
                    ('(b) originals: reduced-size JPEG decode + crop + resize', draft),
                    (f'    cache build with {a.workers} workers (one time)', build),
                    ('(c) cache -> DataLoader, 0 workers, batch 32', cached0),
                    (f'(c) cache -> DataLoader, {a.workers} workers, batch 32', cached2)]:
        print(f'{name:58s} {v:10.1f} {v / full:7.1f}x')
    print(f'RATIO cached loader (best) / decode-and-resize originals: {max(cached0, cached2) / full:.0f}x')


if __name__ == '__main__':
    main()
