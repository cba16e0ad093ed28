"""Peak memory of the sequence CAE's training step on the CPU against :func:`popcen.models.seqcae.footprint`.

For each V and setting, a fresh process builds the model (``pca_init``, latent 20), takes two Adam steps on a
random (B, 1, V) batch and prints the growth of its peak RSS next to the counted estimate, and the seconds
per step. Settings: ``shallow`` and ``deep`` (patch 8, below) and ``pipeline``, the CAE that
``config/1kg.yaml`` and the schema defaults build (its ``representation`` section). Used for the memory section
of docs/representation.md::

    .venv/bin/python benchmarks/seqcae_memory.py --variants 131072 524288 --batch 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "shallow": dict(base_channels=8, max_depth=1, patch=8),
    "deep": dict(base_channels=16, max_channels=64, max_depth=12, max_length=256, patch=8),
    "pipeline": None,  # the representation section of config/1kg.yaml with the schema defaults
}
ARCHITECTURE_KEYS = ("base_channels", "max_channels", "max_depth", "max_length", "patch")


def setting_kwargs(setting: str) -> dict:
    if SETTINGS[setting] is not None:
        return SETTINGS[setting]
    from _config import load_config

    representation = load_config()["representation"]
    return {k: representation[k] for k in ARCHITECTURE_KEYS}


def one(v: int, batch: int, setting: str) -> dict:
    import torch

    from popcen.models.seqcae import SeqCAE, architecture, footprint, seqcae_loss

    torch.set_num_threads(2)
    config = architecture(v, 20, pca_init=True, **setting_kwargs(setting))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = SeqCAE(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, v)
    t0 = time.perf_counter()
    for _ in range(2):
        opt.zero_grad()
        seqcae_loss(model, (x,)).backward()
        opt.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    est = footprint(config, batch)
    return {
        "setting": setting,
        "variants": v,
        "batch": batch,
        "channels": list(config.channels),
        "seconds_per_step": round((time.perf_counter() - t0) / 2, 2),
        "rss_growth_gb": round((peak - before) * 1024 / 1e9, 3),
        "estimate_gb": round(est["train_bytes_fp32"] / 1e9, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, nargs="+", default=[131072, 524288])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # internal: V batch setting
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one[0]), int(args.one[1]), args.one[2])))
        return
    for setting in args.settings:
        for v in args.variants:
            # a fresh process per point: ru_maxrss is a high-water mark
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(v), str(args.batch), setting],
                check=True,
                capture_output=True,
                text=True,
            )
            print(out.stdout.strip())


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _config
    main()
