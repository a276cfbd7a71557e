"""Does a ResNet trained from scratch learn referable DR at smoke scale? The same fine-tuning (`dr_study.train.finetune`,
IWNE-FS: random init, all labels) on prepared runs that differ only in their preprocessing, side by side: validation AUC
per epoch, then the test AUCs (95% bootstrap CI over patients) of the best epoch.

    dr-study prepare --profile smoke --set preprocessing=crop --out runs/prep-crop
    dr-study prepare --profile smoke --set preprocessing=graham --out runs/prep-graham
    python benchmarks/learnability.py runs/prep-crop runs/prep-graham [--epochs 10] [--lr 1e-3]
"""
import argparse, json, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from dr_study.cache import CachedFundus
from dr_study.data import referable, referable_score
from dr_study.evaluate import AUC
from dr_study.models import load_model
from dr_study.train import TrainConfig, finetune, predict


def run_one(run, epochs, lr, seed, out):
    info = json.loads((run/'data.json').read_text())
    ep, m2 = (CachedFundus(run/info['caches'][k]) for k in ('eyepacs', 'messidor2'))
    r = ep.records
    tr, va, te = (np.flatnonzero(r.split == s) for s in ('train', 'val', 'test'))
    t = time.monotonic()
    res = finetune(TrainConfig(epochs=epochs, lr=lr, seed=seed, device='cpu'), ep, tr, val_idx=va, out_dir=out, log=lambda *a: None)
    model = load_model(Path(out)/'best.safetensors')
    tests = {}
    for name, ds, idx in (('eyepacs', ep, te), ('messidor2', m2, np.arange(len(m2)))):
        rec = ds.records.iloc[idx]
        tests[name] = AUC(1000)(referable(rec.grade.astype(int), 'paper'), referable_score(predict(model, ds, idx), 'paper'), rec.patient.to_numpy())
    return [h['val_auc'] for h in res['history']], tests, time.monotonic() - t, ep.meta['prep']


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('runs', type=Path, nargs='+', help='prepared run folders (dr-study prepare)')
    ap.add_argument('--epochs', type=int, default=10); ap.add_argument('--lr', type=float, default=1e-3); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    rows = []
    for run in a.runs:
        val, tests, secs, prep = run_one(run, a.epochs, a.lr, a.seed, tempfile.mkdtemp())
        label = f"{prep['method']} {prep['size']}px"
        print(f'{label:14s} val AUC per epoch: ' + ' '.join(f'{v:.3f}' for v in val) + f'   ({secs:.0f} s)', flush=True)
        rows.append(dict(preprocessing=label, best_val=max(val), **{f'{k} test AUC': f"{v['auc']:.3f} [{v['lo']:.3f}, {v['hi']:.3f}]" for k, v in tests.items()}))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == '__main__':
    main()
