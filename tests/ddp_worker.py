"""Run by tests/test_train.py under `torchrun --nproc_per_node 2`: fine-tune the toy set with DDP on CPU (gloo), recording the batches each process draws."""
import json, os, sys
import numpy as np
import dr_study.train as train
from dr_study.train import TrainConfig, finetune
from toy import ToyFundus

out, seen, loader = sys.argv[1], [], train._loader
def counting(ds, idx, cfg, *, pin, batch=None):  # what finetune's training loader is asked for, per process
    dl = loader(ds, idx, cfg, pin=pin, batch=batch); seen.append(dict(batch=dl.batch_size, images=len(idx))); return dl
train._loader = counting
m = finetune(TrainConfig(epochs=2, batch_size=8, device='cpu', checkpoint_minutes=0), ToyFundus(), np.arange(32), val_idx=np.arange(32, 48), out_dir=out, log=lambda *a: None)
with open(os.path.join(out, f"rank{os.environ['RANK']}.json"), 'w') as f: json.dump(dict(digest=m['params_digest'], world=os.environ['WORLD_SIZE'], loaders=seen), f)
