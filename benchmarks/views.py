"""MoCo v2's view transform: one view per call (`view_transform('imagenet', S)`, the study's) vs lightly's MoCoV2Transform
whole with one of its two views kept (what it did before), side by side in one run on the same random image.

    python benchmarks/views.py [--size 96] [--calls 300]
"""
import argparse, time
import torch
from lightly.transforms import MoCoV2Transform
from torchvision.transforms.functional import to_pil_image
from dr_study.pretrain import view_transform


def per_call(f, x, calls):
    t = time.perf_counter()
    for _ in range(calls): f(x)
    return (time.perf_counter() - t) / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', type=int, default=96); ap.add_argument('--calls', type=int, default=300)
    a = ap.parse_args()
    x = torch.randint(0, 256, (3, a.size, a.size), dtype=torch.uint8)
    whole = MoCoV2Transform(input_size=a.size)
    fs = {'one view per call (view_transform)': view_transform('imagenet', a.size), 'two views made, one kept (before)': lambda x: whole(to_pil_image(x))[0]}
    t = {k: min(per_call(f, x, a.calls) for _ in range(3)) for k, f in fs.items()}  # best of three, alternating
    for k, v in t.items(): print(f'{k:40s} {v * 1000:8.2f} ms per view')
    one, two = t.values()
    print(f'RATIO before / now: {two / one:.2f}x per view at {a.size} px')


if __name__ == '__main__': main()
