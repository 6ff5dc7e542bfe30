#!/usr/bin/python3
# train_demo.py - trains and exports the bundled demo models of qdb (issue 3)
# on Fashion-MNIST, read from the Debian package dataset-fashion-mnist
# (/usr/share/datasets/fashion-mnist; never a download).
#
# For each model NAME it writes into models/ (beside this script):
#   NAME.onnx              ONNX opset 13, dynamic batch, input "input"
#                          (N x 1 x 28 x 28, preprocessed), output "logits"
#   NAME.qdb.json          the model profile: datasets, preprocessing, class
#                          names, and PyTorch's own float test accuracy
#   NAME.pytorch-pred.npy  PyTorch's predicted label for each of the 10,000
#                          test images (int64), to compare qdb's eval with
#                          prediction by prediction
# Models:
#   demo_cnn   Conv-BN-ReLU blocks, max pooling, Linear layers
#   demo_mbv2  MobileNetV2-style: inverted residuals with depthwise
#              convolutions, residual Adds, a Concat of two branches with very
#              different value ranges (a BN'd PReLU branch, about [-0.6, 6], and
#              an unnormalised depthwise branch scaled x20, about [-8, 165]),
#              SiLU, HardSwish (exported as HardSigmoid * x at opset 13), PReLU
# Training: AdamW + one-cycle LR, batch 128, 6 epochs each, random horizontal
# flips; about 4-5 minutes per model on 2 CPU threads.
# Preprocessing: x' = (x / 255 - 0.2860) / 0.3530.
#
# Usage: /usr/bin/python3 models/train_demo.py [NAME...]   (make models)
# It also writes build/demo-check/NAME.{X,torch}.npy (16 test images and
# PyTorch's logits) and, when ./qdb is built, checks qdb's logits against them.
# Needs Debian's python3-torch and python3-numpy (CPU only). Seeded, with a
# seeded data order: reruns on the same machine give the same models.

import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # unsigned byte data
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: truncated" % path)
    return arr.reshape(dims)


def load(split):
    x = read_idx(os.path.join(DATA, "%s-images-idx3-ubyte.gz" % split))
    y = read_idx(os.path.join(DATA, "%s-labels-idx1-ubyte.gz" % split))
    x = (x.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x[:, None, :, :].copy()), torch.from_numpy(y.astype(np.int64))


# ---------------------------------------------------------------- models

def conv_bn(cin, cout, k=3, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]


class DemoCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 16), nn.ReLU(inplace=True),
            *conv_bn(16, 32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                # 14x14
            *conv_bn(32, 64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                # 7x7
            *conv_bn(64, 64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                # 3x3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 3 * 3, 128), nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def make_act(kind, ch):
    if kind == "silu":
        return nn.SiLU(inplace=True)
    if kind == "hswish":
        return nn.Hardswish(inplace=True)
    if kind == "prelu":
        return nn.PReLU(ch, init=0.1)
    raise ValueError(kind)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand - 3x3 depthwise - 1x1 linear project,
    with a residual Add when the shape is kept."""

    def __init__(self, cin, cout, stride, expand, act):
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            *conv_bn(cin, mid, 1), make_act(act, mid),
            *conv_bn(mid, mid, 3, stride, groups=mid), make_act(act, mid),
            *conv_bn(mid, cout, 1),
        )

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class DemoMBV2(nn.Module):
    BRANCH_SCALE = 20.0

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(1, 16, 3, 2), nn.SiLU(inplace=True))  # 14x14
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 3, "silu"),     # 14x14, residual
            InvertedResidual(16, 24, 2, 4, "hswish"),   # 7x7
            InvertedResidual(24, 24, 1, 4, "silu"),     # 7x7, residual
            InvertedResidual(24, 32, 1, 4, "prelu"),    # 7x7
            InvertedResidual(32, 32, 1, 4, "hswish"),   # 7x7, residual
        )
        # two branches with very different value ranges, joined by a Concat:
        # a normalised one and an unnormalised one scaled up x20
        self.branch_a = nn.Sequential(*conv_bn(32, 48, 1), nn.PReLU(48, init=0.1))
        self.branch_b = nn.Sequential(
            nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=True), nn.Hardswish(inplace=True))
        self.head = nn.Sequential(*conv_bn(48 + 32, 128, 1), nn.Hardswish(inplace=True))
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        a = self.branch_a(x)
        b = self.branch_b(x) * self.BRANCH_SCALE
        x = self.head(torch.cat([a, b], dim=1))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


MODELS = {
    "demo_cnn": (DemoCNN, 6, 2e-3, 0.90),
    "demo_mbv2": (DemoMBV2, 6, 3e-3, 0.88),
}


# ---------------------------------------------------------------- training

def evaluate(model, x, y, bs=500):
    model.eval()
    preds, top5 = [], 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out = model(x[i:i + bs])
            preds.append(out.argmax(1))
            top5 += (out.topk(5, 1).indices == y[i:i + bs, None]).any(1).sum().item()
    pred = torch.cat(preds)
    return pred, (pred == y).float().mean().item(), top5 / len(y)


def train(name, xtr, ytr, xte, yte):
    cls, epochs, lr, target = MODELS[name]
    torch.manual_seed(1234)
    np.random.seed(1234)
    model = cls()
    bs = 128
    steps = epochs * ((len(xtr) + bs - 1) // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(4321)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot = 0.0
        for i in range(0, len(xtr), bs):
            idx = perm[i:i + bs]
            xb = xtr[idx]
            # light augmentation: horizontal flip of half the batch (seeded)
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        _, acc, _ = evaluate(model, xte, yte)
        print("%s: epoch %d loss %.4f test top1 %.4f (%.0f s)"
              % (name, ep + 1, tot / len(xtr), acc, time.time() - t0), flush=True)
    secs = time.time() - t0
    model.eval()
    return model, secs, target


def export(name, model, xte, yte, secs, target):
    onnx_path = os.path.join(HERE, name + ".onnx")
    torch.onnx.export(model, xte[:1], onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    pred, top1, top5 = evaluate(model, xte, yte)
    np.save(os.path.join(HERE, name + ".pytorch-pred.npy"), pred.numpy().astype(np.int64))
    profile = {
        "model": name + ".onnx",
        "input": {"name": "input", "shape": [1, 28, 28]},
        "preprocess": {"scale": 1.0 / 255.0, "mean": [MEAN], "std": [STD], "channels": "gray"},
        "datasets": {
            "calib": "idx:%s/train-images-idx3-ubyte.gz,%s/train-labels-idx1-ubyte.gz" % (DATA, DATA),
            "eval": "idx:%s/t10k-images-idx3-ubyte.gz,%s/t10k-labels-idx1-ubyte.gz" % (DATA, DATA),
        },
        "classes": CLASSES,
        "reference": {"framework": "pytorch " + torch.__version__,
                      "top1": round(top1, 6), "top5": round(top5, 6), "n": len(yte),
                      "predictions": name + ".pytorch-pred.npy"},
    }
    with open(os.path.join(HERE, name + ".qdb.json"), "w") as f:
        json.dump(profile, f, indent=2)
        f.write("\n")
    print("%s: top1 %.4f top5 %.4f, trained in %.0f s, %s: %d bytes"
          % (name, top1, top5, secs, onnx_path, os.path.getsize(onnx_path)), flush=True)
    check_with_qdb(name, model, onnx_path, xte)
    if top1 < target:
        print("%s: WARNING: top1 %.4f below the target %.2f" % (name, top1, target), file=sys.stderr)
        return False
    return True


def check_with_qdb(name, model, onnx_path, xte, n=16):
    """Writes build/demo-check/NAME.{X,torch}.npy (n preprocessed test images
    and PyTorch's logits on them) and, when ./qdb is built, compares qdb's
    float logits with PyTorch's."""
    root = os.path.dirname(HERE)
    out = os.path.join(root, "build", "demo-check")
    os.makedirs(out, exist_ok=True)
    xp, tp, qp = (os.path.join(out, name + s) for s in (".X.npy", ".torch.npy", ".qdb.npy"))
    with torch.no_grad():
        ref = model(xte[:n]).numpy()
    np.save(xp, xte[:n].numpy())
    np.save(tp, ref)
    qdb = os.path.join(root, "qdb")
    if not os.access(qdb, os.X_OK):
        print("%s: ./qdb not built, logits check skipped" % name)
        return
    r = subprocess.run([qdb, "infer", onnx_path, "--input", xp, "--output", qp])
    if r.returncode != 0:
        print("%s: WARNING: qdb infer failed (%d)" % (name, r.returncode), file=sys.stderr)
        return
    err = float(np.abs(np.load(qp) - ref).max())
    print("%s: qdb vs PyTorch logits on %d test images: max abs error %.3g%s"
          % (name, n, err, "" if err < 1e-4 else "  WARNING: >= 1e-4"), flush=True)


def main():
    names = sys.argv[1:] or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit("train_demo.py: unknown model %s (have: %s)" % (n, ", ".join(MODELS)))
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    ok = True
    for n in names:
        model, secs, target = train(n, xtr, ytr, xte, yte)
        ok &= export(n, model, xte, yte, secs, target)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
