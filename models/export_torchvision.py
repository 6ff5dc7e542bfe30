#!/usr/bin/python3
# export_torchvision.py - owns the peer-comparison models: torchvision's
# mobilenet_v2 and resnet18 architectures with seeded random weights (no
# pretrained weights exist on this machine), exported to ONNX (opset 13,
# 1x3x224x224, dynamic batch axis), plus a seeded random input X.npy
# (batch 2, float32) and PyTorch's own output on it, <model>.torch.npy (a
# third opinion when qdb and onnxruntime disagree). Deterministic: the same
# files on every run on a given machine.
# Generated files, never committed.
#
# Usage: /usr/bin/python3 models/export_torchvision.py [OUTDIR]   (default build/peer)
# Needs Debian's python3-torch, python3-torchvision, python3-numpy: run it
# with /usr/bin/python3, not whichever python3 comes first on PATH.
import os
import sys

import numpy as np
import torch
import torchvision

SEED = 20240601
MODELS = ("mobilenet_v2", "resnet18")


def randomise(model, seed):
    """Seeded random weights and BatchNorm statistics that keep the signal
    alive through the network. With random weights, BatchNorm running
    statistics of mean 0 / var 1 let activations explode or collapse (with
    them, MobileNetV2's output does not depend on its input at all), so the
    statistics are first measured on a seeded random batch (as training
    would), then perturbed with seeded noise so that no layer is exactly
    normalised."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                torch.nn.init.uniform_(m.bias, -0.1, 0.1)
        elif isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0.0, m.in_features ** -0.5)
            torch.nn.init.uniform_(m.bias, -0.1, 0.1)
    g = torch.Generator().manual_seed(seed + 1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            c = m.num_features
            m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative average: the stats of this batch
        model.train()
        model(torch.randn(8, 3, 224, 224, generator=g))
        for m in bns:
            c = m.num_features
            sd = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(c, generator=g) * 0.1 * sd)
            m.running_var.mul_(torch.rand(c, generator=g) * 0.5 + 0.75)
            m.momentum = 0.1
    model.eval()
    return model


def build(name, seed):
    ctor = getattr(torchvision.models, name)
    try:
        model = ctor(weights=None)
    except TypeError:  # older torchvision
        model = ctor(pretrained=False)
    return randomise(model, seed)


def save_npy(path, a):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(a, dtype=np.float32))
    os.replace(tmp, path)
    print("wrote", path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/peer"
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    x = np.random.default_rng(SEED).standard_normal((2, 3, 224, 224)).astype(np.float32)
    for k, name in enumerate(MODELS):
        model = build(name, SEED + 100 * k)
        dummy = torch.zeros(1, 3, 224, 224)
        path = os.path.join(out, name + ".onnx")
        tmp = path + ".tmp"
        torch.onnx.export(model, dummy, tmp, opset_version=13,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          do_constant_folding=True)
        os.replace(tmp, path)
        print("wrote", path)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        save_npy(os.path.join(out, name + ".torch.npy"), y)
    # Written last: its presence means the whole set is complete.
    save_npy(os.path.join(out, "X.npy"), x)


if __name__ == "__main__":
    main()
