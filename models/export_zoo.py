#!/usr/bin/python3
# export_zoo.py - owns the model zoo of `make check-zoo`: torchvision's
# classification architectures (whatever Debian's torchvision provides) with
# seeded random weights, exported by PyTorch to ONNX (opset 13, dynamic batch
# axis, eval mode) at a small input size where the architecture allows it.
# For each model NAME it writes, into OUTDIR (default build/zoo):
#   NAME.onnx        the exported model
#   NAME.X.npy       a seeded random input, batch 2, float32
#   NAME.torch.npy   PyTorch's own output on it (context when runtimes disagree)
#   NAME.export-error  instead of the above when PyTorch cannot export it
# Deterministic: the same files on every run on a given machine. Generated
# files, never committed.
#
# Usage: /usr/bin/python3 models/export_zoo.py [--list | --static] [OUTDIR [NAME...]]
#   --list   print the model names, one a line, and exit
#   --static export with a fixed batch of 2 instead of a dynamic batch axis
#            (for probing: lets a constant folder, e.g. onnxruntime's
#            optimizer, remove all of the shape arithmetic)
#   NAME...  export only these (default: all)
# Needs Debian's python3-torch, python3-torchvision, python3-numpy: run it
# with /usr/bin/python3, not whichever python3 comes first on PATH.
import os
import sys
import traceback
import zlib

import numpy as np
import torch
import torchvision

SEED = 20240601
BATCH = 2

# name -> (input size, constructor keyword arguments). Sizes: small where
# the architecture allows it, so the whole zoo runs in minutes on 2 cores.
# AlexNet and VGG end in AdaptiveAvgPool2d((6|7, 6|7)), which the exporter
# only handles when the feature map is a multiple of that (224); ViT, Swin
# and MaxViT are built for 224; Inception v3 needs >= 75 (139 leaves a 3x3
# map before its last pooling); the others end in a global pooling.
# Sizes are chosen so that ceil_mode pooling actually rounds up somewhere.
ZOO = [
    ("alexnet", 224, {}),
    ("vgg11", 224, {}),
    ("resnet18", 96, {}),
    ("resnet50", 96, {}),
    ("resnext50_32x4d", 96, {}),
    ("wide_resnet50_2", 96, {}),
    ("squeezenet1_0", 96, {}),
    ("squeezenet1_1", 96, {}),
    ("densenet121", 96, {}),
    # The auxiliary classifiers are training-only (not exported in eval
    # mode) and Inception's does not fit a 139 input.
    ("inception_v3", 139, {"aux_logits": False, "init_weights": True}),
    ("googlenet", 96, {"aux_logits": False, "init_weights": True}),
    ("shufflenet_v2_x0_5", 96, {}),
    ("mobilenet_v2", 96, {}),
    ("mobilenet_v3_small", 96, {}),
    ("mobilenet_v3_large", 96, {}),
    ("mnasnet0_5", 96, {}),
    ("efficientnet_b0", 96, {}),
    ("efficientnet_v2_s", 96, {}),
    ("regnet_x_400mf", 96, {}),
    ("regnet_y_400mf", 96, {}),
    ("convnext_tiny", 96, {}),
    # ViT-B/16 proper (86M parameters) and a 2-layer ViT on 64x64 inputs with
    # the same structure (class token, position embedding, MultiheadAttention).
    ("vit_b_16", 224, {}),
    ("vit_tiny", 64, None),
    ("swin_t", 224, {}),
    # torch 1.13 cannot export Swin V2 at opset 13 (aten::zero, from an
    # in-place .zero_() in its attention): kept so that the check says so.
    ("swin_v2_t", 224, {}),
    ("maxvit_t", 224, {}),
]


# The BatchNorm statistics are perturbed by this fraction of the default
# noise (mean +- 0.1 sd, variance x [0.75, 1.25]). EfficientNets amplify it
# through their long residual stages (squeeze-excitation gates, no
# normalisation of the residual stream): at full noise EfficientNetV2-S's
# logits reach ~7000 and differ by 2% between PyTorch and onnxruntime.
BN_JITTER = {"efficientnet_b0": 0.1, "efficientnet_v2_s": 0.1}


def randomise(model, seed, size, jitter=1.0):
    """Seeded random weights, BatchNorm statistics and LayerNorm affine
    parameters that keep the signal alive through the network; the BatchNorm
    part is models/export_torchvision.py's, at this model's input size:
    statistics measured on a seeded random batch (as training would), then
    perturbed with seeded noise so that no layer is exactly normalised."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv1d)):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    torch.nn.init.uniform_(m.bias, -0.1, 0.1)
            elif isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, 0.0, m.in_features ** -0.5)
                if m.bias is not None:
                    torch.nn.init.uniform_(m.bias, -0.1, 0.1)
            elif isinstance(m, torch.nn.LayerNorm) and m.elementwise_affine:
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, torch.nn.MultiheadAttention):
                if m.in_proj_bias is not None:
                    torch.nn.init.uniform_(m.in_proj_bias, -0.1, 0.1)
        # Parameters initialised to (near) zero or 1e-6 that would switch a
        # path off: ViT's class token, ConvNeXt's layer scale.
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "class_token":
                p.copy_(torch.randn(p.shape, generator=g))
            elif leaf == "layer_scale":
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.25)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for m in bns:
            c = m.num_features
            m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative average: the stats of this batch
        if bns:
            # Only the BatchNorm layers in training mode: stochastic depth
            # (EfficientNet, ConvNeXt, Swin, MaxViT) and dropout must not
            # drop branches while the statistics are measured, or the
            # statistics would not match the eval-mode network.
            model.eval()
            for m in bns:
                m.train()
            model(torch.randn(8, 3, size, size, generator=g))
            for m in bns:
                c = m.num_features
                sd = m.running_var.sqrt()
                m.running_mean.add_(torch.randn(c, generator=g) * (jitter * 0.1) * sd)
                m.running_var.mul_((torch.rand(c, generator=g) - 0.5) * (jitter * 0.5) + 1.0)
                m.momentum = 0.1
    model.eval()
    return model


def construct(name, kwargs):
    if name == "vit_tiny":
        return torchvision.models.VisionTransformer(
            image_size=64, patch_size=16, num_layers=2, num_heads=4,
            hidden_dim=128, mlp_dim=256, num_classes=100)
    ctor = getattr(torchvision.models, name)
    try:
        return ctor(weights=None, **kwargs)
    except TypeError:  # older torchvision
        return ctor(pretrained=False, **kwargs)


def save_npy(path, a):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(a, dtype=np.float32))
    os.replace(tmp, path)


def export(out, name, size, kwargs, static=False):
    seed = SEED + zlib.crc32(name.encode()) % 100000
    # Seeded before construction too: the parameters randomise() leaves to
    # torchvision's own initialisation (attention projections, position
    # embeddings, relative position tables) come from the global generator.
    torch.manual_seed(seed)
    model = randomise(construct(name, kwargs), seed, size, BN_JITTER.get(name, 1.0))
    x = np.random.default_rng(SEED + size).standard_normal(
        (BATCH, 3, size, size)).astype(np.float32)
    path = os.path.join(out, name + ".onnx")
    tmp = path + ".tmp"
    dyn = None if static else {"input": {0: "batch"}, "output": {0: "batch"}}
    torch.onnx.export(model, torch.zeros(BATCH if static else 1, 3, size, size), tmp,
                      opset_version=13, input_names=["input"], output_names=["output"],
                      dynamic_axes=dyn, do_constant_folding=True)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    os.replace(tmp, path)
    save_npy(os.path.join(out, name + ".torch.npy"), y)
    # Written last: its presence means this model's set is complete.
    save_npy(os.path.join(out, name + ".X.npy"), x)


def main():
    args = sys.argv[1:]
    if args[:1] == ["--list"]:
        print("\n".join(n for n, _, _ in ZOO))
        return 0
    static = args[:1] == ["--static"]
    if static:
        args = args[1:]
    out = args[0] if args else "build/zoo"
    want = set(args[1:])
    unknown = want - {n for n, _, _ in ZOO}
    if unknown:
        print("export_zoo: unknown model(s): " + " ".join(sorted(unknown)), file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    failed = 0
    for name, size, kwargs in ZOO:
        if want and name not in want:
            continue
        errfile = os.path.join(out, name + ".export-error")
        for suffix in (".X.npy", ".export-error"):
            if os.path.exists(os.path.join(out, name + suffix)):
                os.remove(os.path.join(out, name + suffix))
        try:
            export(out, name, size, kwargs, static)
            print("export_zoo: wrote", name, f"({size}x{size})", flush=True)
        except Exception:  # report and go on with the rest of the zoo
            failed += 1
            msg = traceback.format_exc()
            with open(errfile, "w") as f:
                f.write(msg)
            print(f"export_zoo: {name}: export failed: {msg.strip().splitlines()[-1]}",
                  file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
