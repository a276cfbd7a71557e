"MoCo under DDP: two gloo processes on CPU share one queue of keys gathered from both, and end with the same weights."
import os, socket
import numpy as np, pytest, torch
import torch.multiprocessing as tmp


def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _env(rank, world, port):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))


def _queue_worker(rank, world, port, out):
    import torch.distributed as dist
    from dr_study.pretrain import moco_criterion
    _env(rank, world, port); dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        for gather in (True, False):
            torch.manual_seed(0)  # the same initial queue on every process, as under torchrun with one seed
            crit = moco_criterion(0.2, bank=16, distributed=gather)
            q = torch.nn.functional.normalize(torch.randn(4, 128, generator=torch.Generator().manual_seed(10 + rank)), dim=1).requires_grad_(True)
            k = torch.nn.functional.normalize(torch.randn(4, 128, generator=torch.Generator().manual_seed(20 + rank)), dim=1)
            crit(q, k)  # enqueues this step's keys
            torch.save(dict(bank=crit.memory_bank.bank.detach().clone(), keys=k), f'{out}/queue-{gather}-{rank}.pt')
    finally: dist.destroy_process_group()


def _train_worker(rank, world, port, out):
    import dr_study.pretrain as pt
    _env(rank, world, port)
    made, lines, make = [], [], pt.moco_criterion
    pt.moco_criterion = lambda *a, **kw: made.append(make(*a, **kw)) or made[-1]  # keep the queue to look at it afterwards
    x, _ = pt.natural_corpus(512, 16, seed=0)  # small images: the published batch of 256 on a CPU
    w, losses = pt.pretrain_moco(x, None, pt.PretrainConfig(epochs=2, batch_size=256, log=lines.append), bank=1280, lr=0.03, augment='fundus', splits=8)
    torch.save(dict(w=w, losses=losses, bank=made[0].memory_bank.bank, ptr=int(made[0].memory_bank.bank_ptr), lines=lines), f'{out}/train-{rank}.pt')
    import torch.distributed as dist
    dist.destroy_process_group()


def test_queue_gathers_keys_from_every_process(tmp_path):
    tmp.spawn(_queue_worker, args=(2, _port(), str(tmp_path)), nprocs=2, join=True)
    load = lambda g, r: torch.load(tmp_path/f'queue-{g}-{r}.pt', weights_only=True)
    g0, g1, n0, n1 = load(True, 0), load(True, 1), load(False, 0), load(False, 1)
    keys = torch.cat([g0['keys'], g1['keys']])  # both processes' keys, in rank order
    # gathered: one queue, identical on both processes, holding all 8 keys of the step (lightly's bank is (size, dim))
    assert torch.equal(g0['bank'], g1['bank'])
    assert torch.allclose(g0['bank'][:8], keys)
    # not gathered (the bug of lightly issue #1018): each process's queue holds only its own keys
    assert not torch.equal(n0['bank'], n1['bank'])
    assert torch.allclose(n0['bank'][:4], g0['keys']) and torch.allclose(n1['bank'][:4], g1['keys'])


def test_moco_ddp_trains_one_model(tmp_path):
    tmp.spawn(_train_worker, args=(2, _port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path/f'train-{r}.pt', weights_only=True) for r in (0, 1))
    assert np.isfinite(r0['losses']).all() and len(r0['losses']) == 2
    for k, v in r0['w'].items():  # gradients all-reduced, keys and queue shared: both processes hold the same model
        if v.is_floating_point() and 'running' not in k: assert torch.allclose(v, r1['w'][k], atol=1e-6), k
    assert r0['losses'] != r1['losses']  # each process trained on its own share of the images
    # the published batch of 256 is global: 128 images per process and step (MoCo's 8 BatchNorm groups: 4 in each), 256 keys enter the one queue per step;
    # the queue is used as given, longer than the 512 images
    assert r0['lines'][0] == 'MoCo v2: 512 images, batch 256 (2 processes × 128, 4 BatchNorm groups each), queue of 1280 keys', r0['lines']
    assert torch.equal(r0['bank'], r1['bank']) and r0['bank'].shape == (1280, 128)  # identical queues
    ptr = 0
    for _ in range(2 * 512 // 256): ptr = 0 if ptr + 256 >= 1280 else ptr + 256  # 4 steps of 256 keys (2 epochs), lightly restarting the queue when it fills
    assert r0['ptr'] == r1['ptr'] == ptr == 1024


def test_moco_global_batch_does_not_depend_on_processes():
    from dr_study.pretrain import natural_corpus, pretrain_moco, PretrainConfig
    lines = []
    x, _ = natural_corpus(512, 16, seed=0)
    pretrain_moco(x, None, PretrainConfig(epochs=1, batch_size=256, log=lines.append), bank=1280, augment='fundus', splits=8)
    assert lines[0] == 'MoCo v2: 512 images, batch 256 (1 process × 256, 8 BatchNorm groups each), queue of 1280 keys', lines  # the same 256 per step in the same 8 groups of 32


def _unit_worker(rank, world, port, out):
    import torch.distributed as dist
    from dr_study.pretrain import weights_unit
    _env(rank, world, port)
    weights_unit(out, 'moco_dr', dict(recipe='moco_v2', data='test'), make=lambda: ({'w': torch.full((2,), float(rank))}, [float(rank)]), log=lambda *a: None)
    dist.destroy_process_group()


def test_only_rank_0_writes_a_starting_point(tmp_path):
    from safetensors.torch import load_file
    import json
    tmp.spawn(_unit_worker, args=(2, _port(), str(tmp_path)), nprocs=2, join=True)
    units = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(units) == 1 and (units[0]/'unit.json').exists()
    assert torch.equal(load_file(units[0]/'weights.safetensors')['w'], torch.zeros(2))  # rank 0's weights
    assert json.loads((units[0]/'losses.json').read_text()) == [0.0]
