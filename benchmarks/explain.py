"""LRP-alpha1beta0 heatmaps/s: ours (captum on `canonize`d ResNet, z^B first layer) vs zennit (ResNetCanonizer, AlphaBeta(1, 0),
ZBox first layer) on the same random-weight model (BatchNorm statistics randomised) and the same batches, side by side in one run:
a warm-up batch, then the median over repeats of the time to explain all images. Also the mean per-image Pearson correlation
of the two methods' heatmaps (summed over channels). Both canonize once, outside the timed loop.

    python benchmarks/explain.py [--arch resnet18] [--size 96] [--batch 8] [--n 32] [--repeats 3] [--device cpu]
"""
import argparse, os, statistics, time
import torch
from torch import nn
from dr_study.explain import canonize, lrp, LOW, HIGH
from dr_study.models import make_model, normalize


def random_bn(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    for b in m.modules():
        if isinstance(b, nn.BatchNorm2d):
            n = b.num_features
            b.running_mean.copy_(0.3 * torch.randn(n, generator=g)); b.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
            b.weight.data.copy_(0.5 + torch.rand(n, generator=g)); b.bias.data.copy_(0.2 * torch.randn(n, generator=g))
    return m.eval()


def zennit_attributor(model):
    from zennit.torchvision import ResNetCanonizer
    from zennit.composites import SpecialFirstLayerMapComposite, layer_map_base
    from zennit.rules import AlphaBeta, ZBox
    from zennit.types import Convolution, Linear
    from zennit.attribution import Gradient
    dev = next(model.parameters()).device
    ab = lambda: AlphaBeta(alpha=1, beta=0, zero_params=['bias'])
    low, high = torch.tensor(LOW, device=dev).view(1, 3, 1, 1), torch.tensor(HIGH, device=dev).view(1, 3, 1, 1)
    comp = SpecialFirstLayerMapComposite(layer_map=layer_map_base() + [(Convolution, ab()), (Linear, ab())],
                                         first_map=[(Convolution, ZBox(low, high))], canonizers=[ResNetCanonizer()])
    return Gradient(model, comp)


def sync(dev):
    if dev == 'cuda': torch.cuda.synchronize()


def timed(fns, batches, dev, repeats):
    "Median seconds per pass over all batches for each function; repeats interleave the functions (fair under varying load)."
    for fn in fns: fn(batches[0]); sync(dev)  # warm-up
    times, outs = [[] for _ in fns], [None] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t = time.perf_counter(); out = [fn(b) for b in batches]; sync(dev); times[k].append(time.perf_counter() - t)
            outs[k] = torch.cat(out)
    return [statistics.median(t) for t in times], outs


def corr(a, b):
    a, b = a.sum(1).flatten(1).double(), b.sum(1).flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--arch', default='resnet18'); ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--batch', type=int, default=8); ap.add_argument('--n', type=int, default=32)
    ap.add_argument('--repeats', type=int, default=3); ap.add_argument('--target', type=int, default=3)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = ap.parse_args()
    dev = a.device
    torch.manual_seed(0)
    model = random_bn(make_model(a.arch)).to(dev)
    imgs = torch.randint(0, 256, (a.n, 3, a.size, a.size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    batches = [normalize(imgs[i:i + a.batch]).to(dev) for i in range(0, a.n, a.batch)]
    load = ' '.join(f'{v:.1f}' for v in os.getloadavg())
    print(f'{a.arch} at {a.size} px, {a.n} images in batches of {a.batch}, {dev}, {torch.get_num_threads()} threads, '
          f'load average {load}, median of {a.repeats} interleaved repeats after a warm-up batch')

    t = time.perf_counter(); mc = canonize(model); t_canon = time.perf_counter() - t
    onehot = lambda x: torch.eye(model.fc.out_features, device=dev)[[a.target] * len(x)]
    attributor = zennit_attributor(model)
    t = time.perf_counter(); attributor.__enter__(); t_zcanon = time.perf_counter() - t  # zennit canonizes model in place
    try:
        (t_ours, t_z), (ours, theirs) = timed([lambda x: lrp(mc, x, a.target),
                                               lambda x: attributor(x.clone().requires_grad_(True), onehot(x))[1].detach()],
                                              batches, dev, a.repeats)
    finally:
        attributor.__exit__(None, None, None)

    c = corr(ours, theirs)
    print(f'{"method":<44}{"heatmaps/s":>11}{"s/batch":>9}{"canonize s":>11}')
    print(f'{"ours: captum LRP on canonize(model), z^B":<44}{a.n / t_ours:>11.1f}{t_ours / len(batches):>9.3f}{t_canon:>11.2f}')
    print(f'{"zennit: ResNetCanonizer + AlphaBeta + ZBox":<44}{a.n / t_z:>11.1f}{t_z / len(batches):>9.3f}{t_zcanon:>11.2f}')
    print(f'speed ratio ours/zennit: {t_z / t_ours:.2f}x')
    print(f'per-image Pearson correlation of heatmaps: mean {c.mean():.6f}, min {c.min():.6f}')
    print(f'heatmap sums (start = 1 at the target): ours {ours.sum((1, 2, 3)).mean():.4f}, zennit {theirs.sum((1, 2, 3)).mean():.4f}')


if __name__ == '__main__':
    main()
