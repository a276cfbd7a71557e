"""Test fixtures that are not part of the package: a tiny stand-in fundus data set."""
import numpy as np, torch


class ToyFundus(torch.utils.data.Dataset):
    "Random (3, S, S) uint8 images with a class-dependent bright square: a stand-in dataset for tests."
    def __init__(self, n:int=48, size:int=32, seed:int=0):
        import pandas as pd
        g = np.random.default_rng(seed); self.grades = g.integers(0, 5, n)
        self.x = g.integers(0, 120, (n, 3, size, size)).astype(np.uint8)
        for i, k in enumerate(self.grades): self.x[i, :, 2:4 + 4 * k, 2:4 + 4 * k] = 250
        self.records = pd.DataFrame(dict(grade=self.grades, patient=[str(i // 2) for i in range(n)]))
        self.key = f'toy-n{n}-{size}px-seed{seed}'  # what a work unit records of its data
    def __len__(self): return len(self.grades)
    def __getitem__(self, i): return torch.from_numpy(self.x[i]), int(self.grades[i]), i
