"""Small models and batches for test_recorder, and its DDP worker: light to import in spawned processes."""
import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import reportgen


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(), nn.Linear(16, 16), nn.LeakyReLU(), nn.Linear(16, 3))


def batch(n: int = 8):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def ddp_worker(rank: int, folder: Path) -> None:
    """One of two processes: each trains on its half of the batch; DDP averages the gradients."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder / 'store'}", rank=rank, world_size=2)
    model, (x, y) = mlp(), batch()
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    half = slice(4 * rank, 4 * rank + 4)
    with reportgen.Recorder(ddp, folder / "runs" / "ddp", every=1) as rec:
        for _ in range(3):
            loss = F.cross_entropy(ddp(x[half]), y[half])
            opt.zero_grad()
            loss.backward()
            rec.step(loss=loss, optimizer=opt)
            opt.step()
        rec.epoch()
    (folder / f"rank{rank}.json").write_text(json.dumps({"active": rec.active, "run": rec.run is not None}))
    dist.barrier()  # both ranks got here: nothing in the recorder waited on the other
    dist.destroy_process_group()
