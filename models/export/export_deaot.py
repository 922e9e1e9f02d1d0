#!/usr/bin/env python3
"""Export an aot-benchmark DeAOT checkpoint to samtrack's propagator contract.

The contract (docs/propagator.md) splits DeAOT into four ONNX graphs plus a
JSON sidecar:

  encoder.onnx       image [1,3,H,W]                 -> emb [L,C], s4, s8, s16
  reference.onnx     emb [L,C], onehot [1,S,H,W]     -> cur_k, cur_v, cur_id   (self-matching)
  propagate.onnx     emb, s4, s8, s16,
                     lt_k/lt_v/lt_idv [T,NL,L,*] (T dynamic),
                     st_k/st_v/st_idv [NL,L,*]       -> logits [1,S,lh,lw], cur_k, cur_v, cur_id
  memory_write.onnx  cur_id [NL,L,Cid], onehot       -> idv [NL,L,Cidv]
  propagator.json    sizes, normalisation, file names

It needs a checkout of yoxu515/aot-benchmark (or the `aot/` folder of
z-x-yang/Segment-and-Track-Anything), PyTorch and a DeAOT checkpoint, e.g.

  python export_deaot.py --aot-root ~/aot-benchmark --model r50_deaotl \\
      --ckpt R50_DeAOTL_PRE_YTB_DAV.pth --size 465x833 --out deaot-r50-l --check

Local (short-term) attention: aot-benchmark computes it with the
spatial_correlation_sampler CUDA extension, which ONNX cannot express. The
exporter installs an import stub for that package when it is missing and
replaces every LocalGatedPropagation.forward with the unfold formulation
written as (2·max_dis+1)² shifted slices of the zero-padded keys and values
(mathematically the F.unfold path; upstream's own unfold branch reshapes the
keys with the value width and cannot run). Everything else is aot-benchmark's
own code, called unchanged.
"""

import argparse
import importlib
import inspect
import json
import os
import sys
import types


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--aot-root", required=True,
                   help="aot-benchmark checkout (or SAM-Track's aot/ folder): holds configs/ and networks/")
    p.add_argument("--model", required=True,
                   help="config name under configs/models: deaott, deaots, deaotb, deaotl, r50_deaotl, swinb_deaotl")
    p.add_argument("--ckpt", required=True, help="checkpoint .pth (e.g. R50_DeAOTL_PRE_YTB_DAV.pth)")
    p.add_argument("--size", default="465x833",
                   help="export size HxW; 16k+1 for align-corners models (MobileNet/ResNet), 16k for Swin "
                        "(default 465x833, about 16:9)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--check", action="store_true",
                   help="run the exported graphs with onnxruntime and compare them with PyTorch and with "
                        "aot-benchmark's DeAOTEngine on a random frame pair")
    p.add_argument("--unsafe-load", action="store_true",
                   help="load the checkpoint with torch.load(weights_only=False); only for files you trust")
    return p.parse_args(argv)


def parse_size(s):
    try:
        h, w = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size {s!r}: want HxW, e.g. 465x833")
    if h < 64 or w < 64:
        raise SystemExit(f"--size {s}: too small")
    return h, w


def install_correlation_stub():
    """Lets aot-benchmark build its modules without spatial_correlation_sampler.

    The stub has no parameters (like the real module), so checkpoints load
    unchanged; calling it is an error, because every local attention is
    replaced before the first forward pass.
    """
    try:
        import spatial_correlation_sampler  # noqa: F401
        return False
    except ImportError:
        pass
    import torch

    class SpatialCorrelationSampler(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()

        def forward(self, *args, **kwargs):
            raise RuntimeError("spatial_correlation_sampler stub called: local attention was not replaced")

    mod = types.ModuleType("spatial_correlation_sampler")
    mod.SpatialCorrelationSampler = SpatialCorrelationSampler
    sys.modules["spatial_correlation_sampler"] = mod
    return True


def local_gated_propagation_forward(self, q, k, v, u, size_2d):
    """LocalGatedPropagation.forward without the correlation sampler.

    Same inputs, outputs and arithmetic as aot-benchmark's
    networks/layers/attention.py LocalGatedPropagation.forward: q, k, v are
    [n, C, h, w], u is [h*w, n, C_u]; the (2*max_dis+1)^2 window offsets are
    visited in unfold order (dy major, dx minor), positions outside the frame
    are masked with -1e8 before the softmax, exactly as qk_mask does.
    """
    import torch
    import torch.nn.functional as F
    from networks.layers.attention import silu

    n, c, h, w = v.size()
    hidden_dim = self.hidden_dim
    if self.use_linear:
        q = k = self.linear_QK(q)
        v = silu(self.linear_V(v))
        u = silu(self.linear_U(u))
        if self.num_head > 1:
            v = v.view(-1, 2, self.num_head, hidden_dim // 2, h * w).permute(0, 2, 1, 3, 4).reshape(n, -1, h, w)
            u = u.view(-1, 2, self.num_head, hidden_dim // 2, h * w).permute(4, 0, 2, 1, 3).reshape(h * w, n, -1)
        else:
            u = u.permute(2, 3, 0, 1).reshape(h * w, n, -1)

    ws = self.window_size
    dil = self.dilation
    pad = self.max_dis * dil
    relative_emb = self.relative_emb_k(q).view(n, self.num_head, ws * ws, h * w)
    q = (q / self.T).view(-1, self.d_att, h, w)                  # [n*nH, d_att, h, w]
    kp = F.pad(k.view(-1, self.d_att, h, w), (pad, pad, pad, pad))
    vp = F.pad(v.view(-1, hidden_dim, h, w), (pad, pad, pad, pad))  # [n*nH, hidden, h+2p, w+2p]

    # Window offsets in unfold order; window positions outside the frame are
    # masked (a constant of the export size, folded at export).
    offsets = [(dy * dil, dx * dil) for dy in range(ws) for dx in range(ws)]
    ones = F.pad(torch.ones(1, 1, h, w, dtype=q.dtype, device=q.device), (pad, pad, pad, pad))
    inside = torch.cat([ones[:, :, y0:y0 + h, x0:x0 + w] for y0, x0 in offsets], dim=1)
    qk = torch.cat([(q * kp[:, :, y0:y0 + h, x0:x0 + w]).sum(dim=1, keepdim=True) for y0, x0 in offsets], dim=1)
    qk = qk.view(n, self.num_head, ws * ws, h * w)
    if self.use_dis:
        kk = F.pad(k.view(-1, self.d_att, h, w).pow(2).sum(dim=1, keepdim=True), (pad, pad, pad, pad))
        kk = torch.cat([kk[:, :, y0:y0 + h, x0:x0 + w] for y0, x0 in offsets], dim=1)
        qk = 2 * qk - kk.view(n, self.num_head, ws * ws, h * w)
    qk = qk + relative_emb
    qk = qk - (1 - inside.view(1, 1, ws * ws, h * w)) * 1e8
    attn = torch.softmax(qk, dim=2).view(-1, ws * ws, h, w)       # linear_gate = softmax
    agg = 0
    for j, (y0, x0) in enumerate(offsets):
        agg = agg + attn[:, j:j + 1] * vp[:, :, y0:y0 + h, x0:x0 + w]
    # [n*nH, hidden, h, w] -> [h*w, n, nH*hidden], as (global_attn @ v^T).permute(2, 0, 1, 3)
    agg = agg.view(n, self.num_head, hidden_dim, h * w).permute(3, 0, 1, 2).reshape(h * w, n, -1)
    output = agg * u
    output = self.dw_conv(output, size_2d)
    output = self.projection(output)
    return output, attn.view(n, self.num_head, ws * ws, h * w)


def load_checkpoint(model, path, unsafe):
    import torch
    kw = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kw["weights_only"] = not unsafe
    try:
        ckpt = torch.load(path, **kw)
    except Exception as e:  # pickled non-tensor objects under weights_only
        raise SystemExit(f"load {path}: {e}\n(if you trust the file, add --unsafe-load)")
    if isinstance(ckpt, dict) and "state_dict" in ckpt:
        state = ckpt["state_dict"]
    elif isinstance(ckpt, dict) and "model" in ckpt:
        state = ckpt["model"]
    else:
        state = ckpt
    model_keys = set(model.state_dict().keys())
    fixed = {}
    for k, v in state.items():
        if k.startswith("module.") and k[7:] in model_keys:
            k = k[7:]
        fixed[k] = v
    missing, unexpected = model.load_state_dict(fixed, strict=False)
    # The stubbed correlation sampler has no parameters, so nothing may miss.
    if missing:
        raise SystemExit(f"checkpoint {path} lacks {len(missing)} parameters of --model, e.g. {missing[:5]}; "
                         "is it the checkpoint of that model?")
    if unexpected:
        print(f"note: ignoring {len(unexpected)} checkpoint entries not in the model, e.g. {unexpected[:3]}")


def build_model(args):
    sys.path.insert(0, os.path.abspath(args.aot_root))
    stubbed = install_correlation_stub()
    import torch  # noqa: F401
    try:
        default = importlib.import_module("configs.default")
    except ImportError as e:
        raise SystemExit(f"--aot-root {args.aot_root}: cannot import configs.default ({e}); "
                         "point it at an aot-benchmark checkout with its requirements installed")
    cfg = default.DefaultEngineConfig("samtrack_export", args.model)
    if cfg.MODEL_VOS != "deaot":
        raise SystemExit(f"--model {args.model} is {cfg.MODEL_VOS!r}; only DeAOT models (MODEL_VOS 'deaot') "
                         "follow this contract")
    cfg.TEST_TOP_K = -1  # top-k would bake one memory length into the graph
    from networks.models import build_vos_model
    from networks.layers.attention import LocalGatedPropagation

    model = build_vos_model(cfg.MODEL_VOS, cfg)
    load_checkpoint(model, args.ckpt, args.unsafe_load)
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    n = 0
    for m in model.modules():
        if isinstance(m, LocalGatedPropagation):
            m.forward = types.MethodType(local_gated_propagation_forward, m)
            n += 1
    print(f"{cfg.MODEL_NAME}: {cfg.MODEL_LSTT_NUM} layers, encoder {cfg.MODEL_ENCODER}, "
          f"align_corners {cfg.MODEL_ALIGN_CORNERS}; {n} local attentions replaced"
          f"{' (spatial_correlation_sampler stubbed)' if stubbed else ''}")
    return cfg, model


def wrappers(model, h, w):
    """The four graphs as nn.Modules over aot-benchmark's own methods."""
    import torch
    from networks.layers.basic import seq_to_2d

    nl = len(model.LSTT.layers)

    def to_tokens(x2d):  # [1, C, h, w] -> [L, 1, C], as AOTEngine.assign_identity / LSTT_forward
        return x2d.view(1, x2d.size(1), h * w).permute(2, 0, 1)

    def memories_out(memories, L, cid):
        # memories[l][0] = [curr_K, curr_V, None, curr_ID_V]; layer 0 has no ID input.
        ks = torch.stack([m[0][0][:, 0] for m in memories])
        vs = torch.stack([m[0][1][:, 0] for m in memories])
        ids = torch.stack([m[0][3][:, 0] if m[0][3] is not None else torch.zeros(L, cid) for m in memories])
        return ks, vs, ids

    cid = model.LSTT.layers[0].d_model

    class Wrapper(torch.nn.Module):
        # The DeAOT model is a registered submodule, so that its weights are
        # the exported graph's initializers.
        def __init__(self, aot):
            super().__init__()
            self.aot = aot

    class Encoder(Wrapper):
        def forward(self, image):
            xs = self.aot.encode_image(image)  # [s4, s8, s16, emb16 (projected)]
            emb = xs[-1][0].reshape(xs[-1].size(1), -1).permute(1, 0)  # [L, C]
            return emb, xs[0], xs[1], xs[2]

    class Reference(Wrapper):
        def forward(self, emb, onehot):
            id_emb = to_tokens(self.aot.get_id_emb(onehot))
            _, memories = self.aot.LSTT(emb.unsqueeze(1), None, None, id_emb, None, (h, w))
            return memories_out(memories, emb.size(0), cid)

    class Propagate(Wrapper):
        def forward(self, emb, s4, s8, s16, lt_k, lt_v, lt_idv, st_k, st_v, st_idv):
            longs, shorts = [], []
            for l in range(nl):
                longs.append([lt_k[:, l].reshape(-1, 1, lt_k.size(-1)), lt_v[:, l].reshape(-1, 1, lt_v.size(-1)),
                              None, lt_idv[:, l].reshape(-1, 1, lt_idv.size(-1))])
                shorts.append([seq_to_2d(st_k[l].unsqueeze(1), (h, w)), seq_to_2d(st_v[l].unsqueeze(1), (h, w)),
                               None, seq_to_2d(st_idv[l].unsqueeze(1), (h, w))])
            lstt_embs, memories = self.aot.LSTT(emb.unsqueeze(1), longs, shorts, None, None, (h, w))
            emb16 = emb.permute(1, 0).reshape(1, emb.size(1), h, w)
            logits = self.aot.decode_id_logits(lstt_embs, [s4, s8, s16, emb16])
            return (logits,) + memories_out(memories, emb.size(0), cid)

    class MemoryWrite(Wrapper):
        # DeAOTEngine.update_short_term_memory: assign_identity, then per
        # layer fuse_key_value_id(curr_K, curr_ID_V, id_emb).
        def forward(self, *args):
            cur_id, onehot = (None, args[0]) if nl == 1 else args
            id_emb = to_tokens(self.aot.get_id_emb(onehot))
            out = []
            for l, layer in enumerate(self.aot.LSTT.layers):
                value = None if l == 0 else cur_id[l].unsqueeze(1)
                _, idv = layer.fuse_key_value_id(None, value, id_emb)
                out.append(idv[:, 0])
            return torch.stack(out)

    return Encoder(model), Reference(model), Propagate(model), MemoryWrite(model), nl


def export(args):
    import torch

    H, W = parse_size(args.size)
    cfg, model = build_model(args)
    if cfg.MODEL_ALIGN_CORNERS and (H % 16 != 1 or W % 16 != 1):
        print(f"warning: {cfg.MODEL_NAME} was trained with align_corners and 16k+1 sizes; {H}x{W} is not")
    if not cfg.MODEL_ALIGN_CORNERS and (H % 16 or W % 16):
        print(f"warning: {cfg.MODEL_NAME} wants sizes divisible by 16; {H}x{W} is not")
    os.makedirs(args.out, exist_ok=True)
    S = cfg.MODEL_MAX_OBJ_NUM + 1

    g = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, H, W, generator=g)
    with torch.no_grad():
        feats = model.encode_image(image)
    h, w = feats[-1].shape[-2:]
    enc, ref, prop, mw, nl = wrappers(model, h, w)
    onehot = torch.zeros(1, S, H, W)
    onehot[:, 0] = 1
    onehot[:, 0, H // 4:H // 2, W // 4:W // 2] = 0
    onehot[:, 1, H // 4:H // 2, W // 4:W // 2] = 1
    with torch.no_grad():
        emb, s4, s8, s16 = enc(image)
        cur_k, cur_v, cur_id = ref(emb, onehot)
        mw_args = (onehot,) if nl == 1 else (cur_id, onehot)
        idv = mw(*mw_args)
        T = 2  # export with T=2 so that no size-1 axis is specialised
        lt = [x.unsqueeze(0).repeat(T, 1, 1, 1) for x in (cur_k, cur_v, idv)]
        prop_args = (emb, s4, s8, s16, lt[0], lt[1], lt[2], cur_k, cur_v, idv)
        logits = prop(*prop_args)[0]

    kw = {"opset_version": args.opset, "do_constant_folding": True}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kw["dynamo"] = False  # the TorchScript exporter handles the Python loops and dynamic T
    files = {"encoder": "encoder.onnx", "reference": "reference.onnx",
             "propagate": "propagate.onnx", "memory_write": "memory_write.onnx"}
    jobs = [
        ("encoder", enc, (image,), ["image"], ["emb", "s4", "s8", "s16"], None),
        ("reference", ref, (emb, onehot), ["emb", "onehot"], ["cur_k", "cur_v", "cur_id"], None),
        ("propagate", prop, prop_args,
         ["emb", "s4", "s8", "s16", "lt_k", "lt_v", "lt_idv", "st_k", "st_v", "st_idv"],
         ["logits", "cur_k", "cur_v", "cur_id"],
         {"lt_k": {0: "T"}, "lt_v": {0: "T"}, "lt_idv": {0: "T"}}),
        ("memory_write", mw, mw_args, (["onehot"] if nl == 1 else ["cur_id", "onehot"]), ["idv"], None),
    ]
    for name, mod, margs, ins, outs, dyn in jobs:
        path = os.path.join(args.out, files[name])
        print(f"exporting {path} ...")
        with torch.no_grad():
            torch.onnx.export(mod, margs, path, input_names=ins, output_names=outs,
                              dynamic_axes=dyn, **kw)

    man = {
        "format": "samtrack-deaot/1",
        "name": f"{cfg.MODEL_NAME} {os.path.basename(args.ckpt)} {H}x{W}",
        "files": files,
        "slots": cfg.MODEL_MAX_OBJ_NUM,
        "image": {"height": H, "width": W, "scale": 1.0 / 255,
                  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "tokens": {"height": int(h), "width": int(w), "stride": 16},
        "logits": {"height": int(logits.shape[2]), "width": int(logits.shape[3]),
                   "align_corners": bool(cfg.MODEL_ALIGN_CORNERS)},
        "onehot": {"height": H, "width": W},
        "layers": nl,
        "embed_dim": int(emb.shape[1]),
        "key_dim": int(cur_k.shape[-1]),
        "value_dim": int(cur_v.shape[-1]),
        "id_dim": int(cur_id.shape[-1]),
        "id_value_dim": int(idv.shape[-1]),
    }
    with open(os.path.join(args.out, "propagator.json"), "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    print(json.dumps(man, indent=2))
    if args.check:
        check(args, cfg, model, man, enc, ref, prop, mw, nl)


def check(args, cfg, model, man, enc, ref, prop, mw, nl):
    """Compare the ONNX graphs with PyTorch and with DeAOTEngine."""
    import numpy as np
    import torch
    try:
        import onnxruntime as ort
    except ImportError:
        raise SystemExit("--check needs onnxruntime (pip install onnxruntime)")
    H, W = man["image"]["height"], man["image"]["width"]
    S = man["slots"] + 1
    sess = {k: ort.InferenceSession(os.path.join(args.out, v), providers=["CPUExecutionProvider"])
            for k, v in man["files"].items()}

    def run(name, **feeds):
        s = sess[name]
        names = [i.name for i in s.get_inputs()]
        return s.run(None, {k: feeds[k].numpy() for k in names})

    g = torch.Generator().manual_seed(1)
    img0 = torch.randn(1, 3, H, W, generator=g)
    img1 = torch.roll(img0, shifts=(3, 5), dims=(2, 3))  # the next frame: a small shift
    label = torch.zeros(1, 1, H, W)
    label[:, :, H // 5:H // 2, W // 5:W // 2] = 1
    label[:, :, H // 2:4 * H // 5, W // 2:4 * W // 5] = 2
    onehot = torch.cat([(label == k).float() for k in range(S)], dim=1)

    # ONNX pipeline, as samtrack runs it.
    e0 = dict(zip(["emb", "s4", "s8", "s16"], map(torch.from_numpy, run("encoder", image=img0))))
    k0, v0, id0 = map(torch.from_numpy, run("reference", emb=e0["emb"], onehot=onehot))
    idv0 = torch.from_numpy(run("memory_write", cur_id=id0, onehot=onehot)[0])
    e1 = dict(zip(["emb", "s4", "s8", "s16"], map(torch.from_numpy, run("encoder", image=img1))))
    out = run("propagate", **e1, lt_k=k0.unsqueeze(0), lt_v=v0.unsqueeze(0), lt_idv=idv0.unsqueeze(0),
              st_k=k0, st_v=v0, st_idv=idv0)
    logits_onnx = torch.from_numpy(out[0])

    # The same in PyTorch through the wrappers.
    with torch.no_grad():
        pe = enc(img1)
        pk, pv, pid = ref(enc(img0)[0], onehot)
        pidv = mw(onehot) if nl == 1 else mw(pid, onehot)
        pl = prop(*pe, pk.unsqueeze(0), pv.unsqueeze(0), pidv.unsqueeze(0), pk, pv, pidv)[0]
    scale = max(1.0, logits_onnx.abs().max().item())
    dw = (pl - logits_onnx).abs().max().item() / scale
    print(f"check: ONNX vs PyTorch wrappers, max |logit diff| / max |logit| = {dw:.2e}")

    # Against aot-benchmark's own engine (reference + one propagation).
    from networks.engines.deaot_engine import DeAOTEngine
    try:
        eng = DeAOTEngine(model, gpu_id=0)
    except TypeError:  # SAM-Track's vendored copy takes device=
        eng = DeAOTEngine(model, device="cpu")
    eng.eval()
    eng.restart_engine()
    with torch.no_grad():
        eng.add_reference_frame(img0, label, frame_step=0, obj_nums=[2])
        eng.match_propogate_one_frame(img1)
        le = eng.decode_current_logits()
    d = (le[:, :3] - logits_onnx[:, :3]).abs().max().item() / scale
    agree = (le[:, :3].argmax(1) == logits_onnx[:, :3].argmax(1)).float().mean()
    print(f"check: ONNX vs DeAOTEngine, max |logit diff| / max |logit| over the 3 live slots = {d:.2e}, "
          f"argmax agreement {100 * agree:.2f}%")
    if not np.isfinite(d) or d > 1e-3 or dw > 1e-3:
        raise SystemExit("check failed: the exported graphs do not reproduce PyTorch / DeAOTEngine")
    print("check passed")


if __name__ == "__main__":
    export(parse_args())
