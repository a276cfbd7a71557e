"""Corrupted sets: images/s per corruption, and the shared cache (corrupt once, score every model) vs corrupting per model.

Images are crops of scikit-image's real fundus photograph (`retina`) at --size px.
 (a) images/s of each of the 19 corruptions at severity 3, in one process, on --rate-images images;
 (b) for --corruptions corruptions x 5 severities: building the cached sets once (a pool of --workers) and scoring
     4 small random ResNet18s on them, vs corrupting the images again for each model (4x corruption + scoring);
 (c) `robustness_table` on 4 methods x 19 corruptions x 5 severities x --table-images images with n_boot=1000.

    python benchmarks/corruptions.py [--images 16] [--rate-images 32] [--size 96] [--workers 2] [--threads 1] [--size 96] [--workers 2]
"""
import argparse, shutil, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from skimage.data import retina
from skimage.transform import resize
from dr_study.models import make_model
from dr_study.robustness import CORRUPTIONS, CorruptedSets, corrupt, image_seed, robustness_table, score_corruptions, SCORE_COLUMNS

SUBSET = ['gaussian_noise', 'glass_blur', 'zoom_blur', 'frost', 'jpeg_compression']


def fundus_crops(n, size, seed=0):
    big = (resize(retina(), (3 * size, 3 * size), anti_aliasing=True) * 255).astype(np.uint8)
    g = np.random.default_rng(seed); w = 2 * size
    out = []
    for o, p in g.integers(0, size, (n, 2)):
        crop = (resize(big[o:o + w, p:p + w], (size, size), anti_aliasing=True) * 255).astype(np.uint8)
        out.append(np.rot90(crop, int(g.integers(4))))
    return np.ascontiguousarray(np.stack(out))


def timed(f):
    t = time.perf_counter(); r = f(); return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', type=int, default=16); ap.add_argument('--rate-images', type=int, default=32); ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--workers', type=int, default=2); ap.add_argument('--corruptions', type=int, default=len(SUBSET))
    ap.add_argument('--table-images', type=int, default=300)
    ap.add_argument('--threads', type=int, default=1, help='torch threads for scoring (1: robust on a shared, busy CPU)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rate_imgs = fundus_crops(a.rate_images, a.size, seed=1); imgs = rate_imgs[:a.images]
    print(f'fundus crops at {a.size} px, {torch.get_num_threads()} torch threads, {a.workers} workers')

    corrupt(rate_imgs[0], 'glass_blur', 1, 0)  # numba compiles once (about 2 s), not timed
    print(f'\n(a) {f"corruption (severity 3, one process, {len(rate_imgs)} images)":46s} {"images/s":>9s}')
    for name in CORRUPTIONS:
        dt, _ = timed(lambda: [corrupt(im, name, 3, image_seed(0, name, 3, i)) for i, im in enumerate(rate_imgs)])
        print(f'    {name:46s} {len(rate_imgs) / dt:9.1f}')

    names = (SUBSET + [n for n in CORRUPTIONS if n not in SUBSET])[:a.corruptions]
    torch.manual_seed(0)
    models = {m: make_model('resnet18').eval() for m in ['IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL']}
    grades = np.random.default_rng(0).integers(0, 5, a.images)
    tmp = Path(tempfile.mkdtemp())
    try:
        def run(folder, group):
            cs = CorruptedSets(folder, imgs, names=names, workers=a.workers)
            tb, _ = timed(cs.build)
            ts, sc = timed(lambda: score_corruptions(group, cs, grades, clean=False))
            return tb, ts, sc
        b1, s1, sc1 = run(tmp/'shared', models)
        per = [run(tmp/f'model{k}', {m: model}) for k, (m, model) in enumerate(models.items())]
        b4, s4 = sum(r[0] for r in per), sum(r[1] for r in per)
        sc4 = pd.concat([r[2] for r in per], ignore_index=True)
        key, cols = ['method', 'corruption', 'severity', 'image'], SCORE_COLUMNS[6:]
        same = np.allclose(sc1.sort_values(key)[cols].to_numpy(), sc4.sort_values(key)[cols].to_numpy(), atol=1e-5)
        print(f'\n(b) {len(names)} corruptions x 5 severities x {a.images} images = {len(names) * 5 * a.images} corrupted images; 4 random ResNet18s')
        print(f'    {"":44s} {"corrupt":>8s} {"score":>8s} {"total":>8s}')
        print(f'    {"shared: build the sets once, score 4 models":44s} {b1:7.1f}s {s1:7.1f}s {b1 + s1:7.1f}s')
        print(f'    {"per model: 4 x (corrupt, score 1 model)":44s} {b4:7.1f}s {s4:7.1f}s {b4 + s4:7.1f}s')
        print(f'    RATIO per-model / shared: total {(b4 + s4) / (b1 + s1):.2f}x, corruption alone {b4 / b1:.2f}x   (same scores: {same})')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n, g, rows = a.table_images, np.random.default_rng(1), []
    grade, patient = g.integers(0, 5, n), (np.arange(n) // 2).astype(str)
    for m in models:
        for c, s in [('none', 0)] + [(c, s) for c in CORRUPTIONS for s in range(1, 6)]:
            p = g.dirichlet(np.ones(5), n)
            rows.append(pd.DataFrame(dict(method=m, corruption=c, severity=s, image=np.arange(n), patient=patient, grade=grade,
                                          **{f'p{k}': p[:, k] for k in range(5)})))
    scores = pd.concat(rows, ignore_index=True)
    dt, t = timed(lambda: robustness_table(scores, n_boot=1000))
    print(f'\n(c) robustness_table: {len(scores)} score rows (4 methods x 19 x 5 + clean, {n} images), n_boot=1000 -> {len(t)} rows in {dt:.1f} s')


if __name__ == '__main__':
    main()
