"""Multi-process training: DistributedDataParallel on CPU with 2 processes (gloo), launched by torchrun."""
import json, os, socket, subprocess, sys
from pathlib import Path


def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def test_ddp_two_processes_on_cpu(tmp_path):
    out = tmp_path/'ddp'
    torchrun = Path(sys.executable).parent/'torchrun'
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([str(torchrun), '--nproc_per_node', '2', '--master_port', str(_port()), str(Path(__file__).parent/'ddp_worker.py'), str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [json.loads((out/f'rank{k}.json').read_text()) for k in (0, 1)]
    assert ranks[0]['world'] == '2' and ranks[0]['digest'] == ranks[1]['digest']  # DDP keeps the replicas' parameters identical
    for r in ranks:  # the batch of 8 is global: each process takes 4 of its 16 images per step, so a step sees 8 images as on one process
        assert r['loaders'] == [dict(batch=4, images=16)] * 2, r['loaders']
    m = json.loads((out/'metrics.json').read_text())  # written once, by rank 0
    assert m['complete'] and len(m['history']) == 2 and m['params_digest'] == ranks[0]['digest']
    assert sorted(p.name for p in out.glob('last-*.safetensors')) == ['last-0.safetensors']  # resume state after epoch 0, written once (rank 0); none after the last epoch
