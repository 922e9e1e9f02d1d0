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
spatial_correlation_sampler extension when installed, else (on CPU, as here)
with F.unfold and a boolean-mask scatter (local2global) that ONNX cannot
express. The exported copy of the model replaces every
LocalGatedPropagation.forward with the same arithmetic written as
(2·max_dis+1)² shifted slices of the zero-padded keys and values; the model
itself stays unmodified, and --check compares the export with aot-benchmark's
own DeAOTInferEngine running it. Everything else is aot-benchmark's own code,
called unchanged.
"""

import argparse
import copy
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
                   help="drive aot-benchmark's unmodified DeAOTInferEngine over a few synthetic frames and "
                        "compare the exported graphs' computation (PyTorch, and onnxruntime if installed) "
                        "with it frame by frame")
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
    # Every parameter of the model must come from the checkpoint.
    if missing:
        raise SystemExit(f"checkpoint {path} lacks {len(missing)} parameters of --model, e.g. {missing[:5]}; "
                         "is it the checkpoint of that model?")
    if unexpected:
        print(f"note: ignoring {len(unexpected)} checkpoint entries not in the model, e.g. {unexpected[:3]}")


def import_aot(aot_root):
    """Puts aot-benchmark on sys.path and returns its configs.default."""
    sys.path.insert(0, os.path.abspath(aot_root))
    try:
        return importlib.import_module("configs.default")
    except ImportError as e:
        raise SystemExit(f"--aot-root {aot_root}: cannot import configs.default ({e}); "
                         "point it at an aot-benchmark checkout with its requirements installed")


def model_config(aot_root, name):
    """aot-benchmark's engine config for a DeAOT model, as its evaluator builds it."""
    default = import_aot(aot_root)
    cfg = default.DefaultEngineConfig("samtrack_export", name)
    if cfg.MODEL_VOS != "deaot":
        raise SystemExit(f"--model {name} is {cfg.MODEL_VOS!r}; only DeAOT models (MODEL_VOS 'deaot') "
                         "follow this contract")
    cfg.TEST_TOP_K = -1  # top-k would bake one memory length into the graph
    return cfg


def build_model(args):
    """aot-benchmark's model with the checkpoint, unmodified."""
    import torch  # noqa: F401
    cfg = model_config(args.aot_root, args.model)
    from networks.models import build_vos_model

    model = build_vos_model(cfg.MODEL_VOS, cfg)
    load_checkpoint(model, args.ckpt, args.unsafe_load)
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    return cfg, model


def exportable_copy(model):
    """A copy of the model whose local attentions ONNX can express."""
    from networks.layers.attention import LocalGatedPropagation

    out = copy.deepcopy(model)
    n = 0
    for m in out.modules():
        if isinstance(m, LocalGatedPropagation):
            m.forward = types.MethodType(local_gated_propagation_forward, m)
            n += 1
    return out, n


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

    # eval(): torch.onnx.export restores the wrapper's own mode afterwards,
    # and a wrapper left in training mode would switch DeAOT's dropouts on.
    return Encoder(model).eval(), Reference(model).eval(), Propagate(model).eval(), MemoryWrite(model).eval(), nl


def export(args):
    import torch

    H, W = parse_size(args.size)
    cfg, upstream = build_model(args)
    model, n = exportable_copy(upstream)
    print(f"{cfg.MODEL_NAME}: {cfg.MODEL_LSTT_NUM} layers, encoder {cfg.MODEL_ENCODER}, "
          f"align_corners {cfg.MODEL_ALIGN_CORNERS}, long-term gap {cfg.TEST_LONG_TERM_MEM_GAP}; "
          f"{n} local attentions rewritten for the export")
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
        "long_term_mem_gap": int(cfg.TEST_LONG_TERM_MEM_GAP),
    }
    with open(os.path.join(args.out, "propagator.json"), "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    print(json.dumps(man, indent=2))
    if args.check:
        check(args, cfg, upstream, man, (enc, ref, prop, mw), nl)


def normalise(rgb):
    """An HxWx3 uint8 RGB frame as aot-benchmark's evaluator feeds it: [1,3,H,W], /255, ImageNet mean/std."""
    import numpy as np
    import torch
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return ((t - mean) / std).unsqueeze(0)


def run_upstream(cfg, model, frames, first_label, n_obj):
    """aot-benchmark's DeAOTInferEngine, unmodified, driven as its evaluator drives it
    (one scale, no flip): the reference frame, then per following frame
    match_propogate_one_frame, decode_current_logits at the frame size, softmax,
    argmax and update_memory with the labels resized (nearest) to the input size.

    Returns, per following frame, (labels [H,W] int64, probs [n+1,H,W] float32,
    the first engine's logits before resizing [1,S,lh,lw])."""
    import torch
    import torch.nn.functional as F
    from networks.engines import build_engine

    engine = build_engine(cfg.MODEL_ENGINE, phase="eval", aot_model=model, gpu_id=0,
                          long_term_mem_gap=cfg.TEST_LONG_TERM_MEM_GAP,
                          short_term_mem_skip=cfg.TEST_SHORT_TERM_MEM_SKIP)
    engine.eval()
    H, W = frames[0].shape[:2]
    out = []
    with torch.no_grad():
        label = torch.from_numpy(first_label.astype("float32"))[None, None]
        engine.add_reference_frame(normalise(frames[0]), label, frame_step=0, obj_nums=[n_obj])
        for rgb in frames[1:]:
            engine.match_propogate_one_frame(normalise(rgb))
            logits = engine.decode_current_logits((H, W))
            prob = torch.softmax(logits, dim=1)
            lab = torch.argmax(prob, dim=1, keepdim=True).float()
            engine.update_memory(F.interpolate(lab, size=engine.input_size_2d, mode="nearest"))
            out.append((lab[0, 0].long().numpy(), prob[0, :n_obj + 1].numpy(),
                        engine.aot_engines[0].pred_id_logits.clone()))
    return out


def synthetic_frames(h, w, n, seed=1):
    """n frames of a smooth seeded random colour field drifting by a few pixels a frame,
    and a first-frame label map with 3 objects (two boxes and a disc)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(seed)
    field = torch.rand(1, 3, h // 8 + 4, w // 8 + 4, generator=g)
    field = F.interpolate(field, size=(h + 32, w + 48), mode="bilinear", align_corners=False)
    frames = [(field[0, :, 2 * i:2 * i + h, 3 * i:3 * i + w].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
              for i in range(n)]
    label = np.zeros((h, w), np.int64)
    label[h // 5:h // 2, w // 8:w // 3] = 1
    label[h // 2:4 * h // 5, w // 2:4 * w // 5] = 2
    yy, xx = np.mgrid[:h, :w]
    label[(yy - h // 3) ** 2 + (xx - 5 * w // 6) ** 2 < (h // 6) ** 2] = 3
    return frames, label


def check(args, cfg, upstream, man, graphs, nl, frames_n=6):
    """Drives aot-benchmark's unmodified engine and the exported computation over the same
    frames, feeding both the engine's labels, and compares every frame's logits; the
    exported computation runs as the PyTorch wrappers and, with onnxruntime installed,
    as the ONNX graphs."""
    import numpy as np
    import torch
    H, W = man["image"]["height"], man["image"]["width"]
    S = man["slots"] + 1
    frames, label = synthetic_frames(H, W, frames_n)
    ref_out = run_upstream(cfg, upstream, frames, label, 3)
    gap = man["long_term_mem_gap"]

    def onehot(lab):
        t = torch.from_numpy(lab)[None, None]
        return torch.cat([(t == k).float() for k in range(S)], dim=1)

    runners = {"PyTorch wrappers": torch_runner(graphs, nl)}
    ort_runner = onnx_runner(args.out, man)
    if ort_runner is None:
        print("check: onnxruntime (Python) is not installed, so the ONNX graphs themselves are not run here; "
              "models/convert/verify_deaot.py runs them through samtrack")
    else:
        runners["ONNX graphs"] = ort_runner
    worst = 0.0
    for name, run in runners.items():
        e = run("encoder", image=normalise(frames[0]))
        k, v, cid = run("reference", onehot=onehot(label), **e)
        idv = run("memory_write", cur_id=cid, onehot=onehot(label))[0]
        lt, st, last = [(k, v, idv)], (k, v, idv), 0
        for step, rgb in enumerate(frames[1:], 1):
            e = run("encoder", image=normalise(rgb))
            logits, k, v, cid = run("propagate", lt_k=torch.stack([m[0] for m in lt]),
                                    lt_v=torch.stack([m[1] for m in lt]), lt_idv=torch.stack([m[2] for m in lt]),
                                    st_k=st[0], st_v=st[1], st_idv=st[2], **e)
            want = ref_out[step - 1][2]
            d = ((logits[:, :4] - want[:, :4]).abs().max() / max(1.0, want[:, :4].abs().max().item())).item()
            agree = (logits[:, :4].argmax(1) == want[:, :4].argmax(1)).float().mean().item()
            print(f"check: {name}, frame {step}: max |logit diff| / max |logit| = {d:.2e} over the 4 live slots, "
                  f"argmax agreement at logit resolution {100 * agree:.2f}%")
            worst = max(worst, d if np.isfinite(d) else float("inf"))
            lab = ref_out[step - 1][0]  # the engine's labels, for both
            idv = run("memory_write", cur_id=cid, onehot=onehot(lab))[0]
            st = (k, v, idv)
            if step - last >= gap:
                lt.append(st)
                last = step
    if worst > 1e-3:
        raise SystemExit(f"check failed: the export differs from aot-benchmark's DeAOTInferEngine "
                         f"(worst relative logit difference {worst:.2e} > 1e-3)")
    print("check passed: the export reproduces aot-benchmark's DeAOTInferEngine")


def torch_runner(graphs, nl):
    import torch
    enc, ref, prop, mw = graphs

    def run(name, **t):
        with torch.no_grad():
            if name == "encoder":
                return dict(zip(["emb", "s4", "s8", "s16"], enc(t["image"])))
            if name == "reference":
                return ref(t["emb"], t["onehot"])
            if name == "memory_write":
                return (mw(t["onehot"]) if nl == 1 else mw(t["cur_id"], t["onehot"])),
            return prop(t["emb"], t["s4"], t["s8"], t["s16"], t["lt_k"], t["lt_v"], t["lt_idv"],
                        t["st_k"], t["st_v"], t["st_idv"])
    return run


def onnx_runner(out, man):
    """The exported graphs through onnxruntime, fed by declared input name, or None."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    import torch
    sess = {k: ort.InferenceSession(os.path.join(out, v), providers=["CPUExecutionProvider"])
            for k, v in man["files"].items()}

    def run(name, **t):
        s = sess[name]
        res = s.run(None, {i.name: t[i.name].numpy() for i in s.get_inputs()})
        res = [torch.from_numpy(r) for r in res]
        if name == "encoder":
            return dict(zip([o.name for o in s.get_outputs()], res))
        return res
    return run


if __name__ == "__main__":
    export(parse_args())
