#!/usr/bin/env python3
"""Verify samtrack's DeAOT path against aot-benchmark's own engine, per model variant.

For each variant (DeAOT-T, -S, -B, -L and R50-DeAOT-L by default) it:

  1. builds aot-benchmark's model with seeded random weights (torch.manual_seed,
     then every parameter of 2 or more dimensions + 0.01·N(0,1), as
     ../shared/fixtures/deaot-reference was made) and saves it as a checkpoint;
  2. runs aot-benchmark's unmodified DeAOTInferEngine on a few real frames
     (a DAVIS sequence resized to the export size; its first mask cut into
     vertical strips, one object each), driven as its evaluator drives it;
  3. exports the checkpoint with export_deaot.py;
  4. runs `samtrack track FRAMES --mask FIRST --propagator EXPORT --overlay=false`;
  5. compares samtrack's labels with the engine's on every frame.

It passes when every frame of every variant agrees on at least --min-agree of
its pixels (99.9 %). With --noise-floor it also reports how well the engine agrees
with itself when its weights are perturbed by 1e-7 and 1e-6 relative (the size of
float32 rounding differences), which shows how sensitive a variant's random
weights make the comparison; it does not change what passes.

It needs an aot-benchmark checkout (--aot-root), PyTorch (Debian 12's
python3-torch 1.13.1 is enough), Pillow and numpy, and a built bin/samtrack. Example (from the repository root):

  python3 models/convert/verify_deaot.py --aot-root ~/aot-benchmark --work /tmp/verify-deaot
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import export_deaot  # noqa: E402  (same folder)

VARIANTS = ["deaott", "deaots", "deaotb", "deaotl", "r50_deaotl"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--aot-root", required=True, help="aot-benchmark checkout (holds configs/ and networks/)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated config names (default {','.join(VARIANTS)})")
    p.add_argument("--size", default="241x433", help="export size HxW (default 241x433, as the fixture)")
    p.add_argument("--sequence", default=os.path.join(REPO, "..", "shared", "data", "davis", "%s", "480p", "car-shadow"),
                   help="DAVIS sequence: a path with %%s standing for JPEGImages / Annotations")
    p.add_argument("--frames", type=int, default=8, help="frames to track (default 8)")
    p.add_argument("--objects", type=int, default=3, help="strips the first mask is cut into (default 3)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--samtrack", default=os.path.join(REPO, "bin", "samtrack"), help="samtrack binary")
    p.add_argument("--work", default="/tmp/samtrack-verify-deaot", help="scratch folder (checkpoints, exports, outputs)")
    p.add_argument("--min-agree", type=float, default=0.999, help="pass threshold per frame (default 0.999)")
    p.add_argument("--export-check", action="store_true", help="also run export_deaot.py --check")
    p.add_argument("--noise-floor", action="store_true",
                   help="also run the engine on copies of the model whose weights are scaled by "
                        "1 + r*N(0,1) for r = 1e-7 and 1e-6, and report how far the engine agrees with itself: "
                        "the agreement a faithful reimplementation with other float rounding can expect")
    p.add_argument("--json", help="write the results to this file")
    return p.parse_args(argv)


def random_checkpoint(cfg, seed, path):
    """aot-benchmark's model with seeded random weights, saved as {'state_dict': ...}."""
    import torch
    from networks.models import build_vos_model
    torch.manual_seed(seed)
    model = build_vos_model(cfg.MODEL_VOS, cfg)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for prm in model.parameters():
            if prm.dim() >= 2:
                prm.add_(0.01 * torch.randn(prm.shape, generator=g))
    torch.save({"state_dict": model.state_dict()}, path)


def prepare_frames(args, h, w, folder):
    """The sequence's first frames resized to w×h (PNG) and its first mask cut into strips."""
    import numpy as np
    from PIL import Image
    img_dir, ann_dir = args.sequence % "JPEGImages", args.sequence % "Annotations"
    names = sorted(f for f in os.listdir(img_dir) if f.endswith(".jpg"))[:args.frames]
    if len(names) < 2:
        raise SystemExit(f"--sequence {img_dir}: want at least 2 frames")
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    frames = []
    for i, n in enumerate(names):
        im = Image.open(os.path.join(img_dir, n)).convert("RGB").resize((w, h), Image.BILINEAR)
        im.save(os.path.join(folder, "frames", f"{i:05d}.png"))
        frames.append(np.asarray(im))
    ann = Image.open(os.path.join(ann_dir, names[0].replace(".jpg", ".png"))).resize((w, h), Image.NEAREST)
    fg = np.asarray(ann) > 0
    xs = np.nonzero(fg.any(axis=0))[0]
    if len(xs) == 0:
        raise SystemExit(f"{ann_dir}: the first mask is empty")
    edges = np.linspace(xs[0], xs[-1] + 1, args.objects + 1).round().astype(int)
    label = np.zeros((h, w), np.uint8)
    for k in range(args.objects):
        strip = np.zeros_like(fg)
        strip[:, edges[k]:edges[k + 1]] = True
        label[fg & strip] = k + 1
    pal = Image.fromarray(label, mode="P")
    pal.putpalette([0, 0, 0] + [v for k in range(1, 256) for v in ((k * 67) % 256, (k * 139) % 256, (k * 23) % 256)])
    pal.save(os.path.join(folder, "first_mask.png"))
    return frames, label


def verify_variant(args, name, frames, label, work):
    import numpy as np
    from PIL import Image
    h, w = label.shape
    folder = os.path.join(work, name)
    os.makedirs(folder, exist_ok=True)
    cfg = export_deaot.model_config(args.aot_root, name)
    ckpt = os.path.join(folder, "random.pth")
    random_checkpoint(cfg, args.seed, ckpt)
    # The engine runs the model exactly as export_deaot.py loads it.
    ns = argparse.Namespace(aot_root=args.aot_root, model=name, ckpt=ckpt, unsafe_load=False)
    cfg, model = export_deaot.build_model(ns)
    t0 = time.time()
    ref = export_deaot.run_upstream(cfg, model, frames, label.astype(np.int64), args.objects)
    t_up = time.time() - t0
    floor = noise_floor(cfg, model, frames, label, args.objects, ref) if args.noise_floor else None
    del model
    prop = os.path.join(folder, "propagator")
    cmd = [sys.executable, os.path.join(HERE, "export_deaot.py"), "--aot-root", args.aot_root, "--model", name,
           "--ckpt", ckpt, "--size", f"{h}x{w}", "--out", prop] + (["--check"] if args.export_check else [])
    t0 = time.time()
    run(cmd, os.path.join(folder, "export.log"))
    t_export = time.time() - t0
    out = os.path.join(folder, "samtrack")
    t0 = time.time()
    run([args.samtrack, "track", os.path.join(work, "frames"), "--mask", os.path.join(work, "first_mask.png"),
         "--propagator", prop, "--overlay=false", "--out", out], os.path.join(folder, "samtrack.log"))
    t_track = time.time() - t0
    agree = []
    for i, (want, _, _) in enumerate(ref, 1):
        got = np.asarray(Image.open(os.path.join(out, "masks", f"{i:05d}.png")))
        if got.shape != want.shape:
            raise SystemExit(f"{name}: samtrack's frame {i} is {got.shape}, the engine's {want.shape}")
        agree.append(float((got == want).mean()))
    man = json.load(open(os.path.join(prop, "propagator.json")))
    return {"variant": name, "model": cfg.MODEL_NAME, "layers": man["layers"], "encoder": cfg.MODEL_ENCODER,
            "long_term_mem_gap": man["long_term_mem_gap"], "frames": len(agree), "agree": agree,
            "min_agree": min(agree), "mean_agree": sum(agree) / len(agree),
            "fg_share": float(np.mean([(r[0] > 0).mean() for r in ref])),
            "seconds": {"upstream": round(t_up, 1), "export": round(t_export, 1), "samtrack": round(t_track, 1)},
            "upstream_self_agree": floor,
            "pass": min(agree) >= args.min_agree}


def noise_floor(cfg, model, frames, label, n_obj, ref):
    """The engine's per-frame agreement with its own labels ref when every weight is
    multiplied by 1 + r*N(0,1) (seeded), for r = 1e-7 and 1e-6: float32 rounding
    differences between two correct implementations are of this size."""
    import copy
    import numpy as np
    import torch
    out = {}
    for rel in (1e-7, 1e-6):
        m = copy.deepcopy(model)
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for prm in m.parameters():
                prm.mul_(1 + rel * torch.randn(prm.shape, generator=g))
        got = export_deaot.run_upstream(cfg, m, frames, label.astype(np.int64), n_obj)
        out[f"{rel:g}"] = [float((mine[0] == theirs[0]).mean()) for mine, theirs in zip(got, ref)]
        del m
    return out


def run(cmd, log):
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = open(log).read()[-2000:]
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}); log {log}:\n{tail}")


def main():
    args = parse_args()
    if not os.access(args.samtrack, os.X_OK):
        raise SystemExit(f"--samtrack {args.samtrack}: not an executable; build it with ./dev.sh build")
    h, w = export_deaot.parse_size(args.size)
    os.makedirs(args.work, exist_ok=True)
    frames, label = prepare_frames(args, h, w, args.work)
    results = []
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        print(f"== {name}", flush=True)
        r = verify_variant(args, name, frames, label, args.work)
        results.append(r)
        print(f"   {r['model']}: {r['layers']} layers, {r['encoder']}, gap {r['long_term_mem_gap']}: per-frame agreement "
              + " ".join(f"{100 * a:.3f}" for a in r["agree"]) + f" % -> {'PASS' if r['pass'] else 'FAIL'}"
              f" (seconds {r['seconds']})", flush=True)
        for rel, a in (r["upstream_self_agree"] or {}).items():
            print(f"   the engine against itself, weights x (1 + {rel} N(0,1)): "
                  + " ".join(f"{100 * x:.3f}" for x in a) + " %", flush=True)
    print(f"\n| variant | layers | encoder | long-term gap | frames | min agreement | mean agreement | result |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['layers']} | {r['encoder']} | {r['long_term_mem_gap']} | {r['frames']} | "
              f"{100 * r['min_agree']:.3f} % | {100 * r['mean_agree']:.3f} % | {'PASS' if r['pass'] else 'FAIL'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if not all(r["pass"] for r in results):
        raise SystemExit("verification failed: samtrack's labels differ from aot-benchmark's engine")
    print("all variants pass")


if __name__ == "__main__":
    main()
