#!/usr/bin/python3
# torch_ptq.py - owns the PyTorch post-training-quantization peer of qdb's
# quantization accuracy: PyTorch's own PTQ (FX graph mode, HistogramObserver
# on activations, per-channel symmetric MinMax on weights) applied to qdb's
# bundled demo models, calibrated and evaluated on the same Fashion-MNIST
# images qdb uses, printing float and int8 top-1.
#
# The PyTorch model is built FROM THE ONNX FILE (onnx package), so its
# weights are exactly those qdb quantizes: each ONNX node becomes a torch.nn
# submodule (Conv -> Conv2d, Gemm -> Linear, PRelu -> PReLU, ...) or a torch
# function (Add, Mul, Concat, Flatten), run in graph order by a forward that
# torch.fx symbolic tracing unrolls. x*Sigmoid(x) and x*HardSigmoid(x) (how
# opset 13 exports SiLU and Hardswish) are folded back into nn.SiLU and
# nn.Hardswish, the modules PyTorch itself would quantize (--literal keeps
# the three ONNX ops instead).
#
# Data: as qdb's engine/dataset.c - preprocessing (x*scale - mean)/std in
# float32 from the model's profile (NAME.qdb.json), calibration subset of
# the training set chosen by the same seeded selection (splitmix64,
# selection sampling; --seed, --calib-n), evaluation on all test images.
#
# Quantization: prepare_fx/convert_fx, QConfigMapping with HistogramObserver
# (per-tensor quint8) for activations and PerChannelMinMaxObserver (qint8,
# per_channel_symmetric) for weights, on PyTorch's native backend config.
# Debian's torch is built without FBGEMM, so the x86 engine is onednn
# (--engine). Ops without int8 kernels (SiLU) run in float between a
# dequantize and a quantize, as FX does by default. 1.13's int8 PReLU is
# broken twice over (see _prelu_from_reference_fixed): it is repaired unless
# --stock-prelu. Besides the int8 model's accuracy, the same quantization
# simulated in float (FX reference model) is evaluated as a check of the
# int8 kernels ("sim_top1", "sim_agree").
#
# Output: one JSON line per model on stdout; progress, the placement of
# quantized/float ops, activation qparams (-v) and (--ranges) float
# activation ranges on stderr. Exit status 1 when a float model does not reproduce its
# profile's reference accuracy, 2 on a usage or model error.
#
# Usage: /usr/bin/python3 bench/torch_ptq.py [--model PATH]... [--calib-n N]
#        [--seed S] [--threads T] [--engine E] [--reduce-range] [--literal]
#        [--keep-float OP]... [--ranges] [--calib-batch B] [-v]
# Needs Debian's python3-torch (1.13), python3-numpy, python3-onnx only.

import argparse
import copy
import gzip
import json
import operator
import os
import sys
import time
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_MODELS = [os.path.join(ROOT, "models", "demo_cnn.onnx"),
                  os.path.join(ROOT, "models", "demo_mbv2.onnx")]
FLOAT_TOL = 0.0005


class ModelError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ModelError("%s: not an IDX file" % path)
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:
        raise ModelError("%s: not an unsigned-byte IDX file" % path)
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ModelError("%s: truncated" % path)
    return arr.reshape(dims)


def parse_idx_spec(spec):
    if not spec.startswith("idx:"):
        raise ModelError("dataset '%s': only idx: datasets are supported" % spec)
    parts = spec[4:].split(",")
    if len(parts) != 2:
        raise ModelError("dataset '%s': expected idx:IMAGES,LABELS" % spec)
    return parts


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def select_subset(n, total, seed):
    """qdb's calibration subset (engine/dataset.c select_subset): n of
    `total` indices, ascending, Knuth's selection sampling driven by
    splitmix64 seeded with `seed`."""
    st, m, sel = seed & 0xFFFFFFFFFFFFFFFF, 0, []
    for i in range(total):
        if m >= n:
            break
        st, z = splitmix64(st)
        u = float(z >> 11) * 2.0 ** -53
        if float(total - i) * u < float(n - m):
            sel.append(i)
            m += 1
    return np.array(sel, dtype=np.int64)


def preprocess(images, prep):
    """(x*scale - mean)/std in float32 through a 256-entry table, as qdb."""
    if prep.get("channels", "gray") != "gray":
        raise ModelError("only grayscale profiles are supported")
    scale = np.float32(prep.get("scale", 1.0))
    mean = np.float32((prep.get("mean") or [0.0])[0])
    std = np.float32((prep.get("std") or [1.0])[0])
    lut = (np.arange(256, dtype=np.float32) * scale - mean) / std
    return torch.from_numpy(lut[images][:, None, :, :].astype(np.float32))


_cache = {}


def load_split(spec):
    if spec not in _cache:
        ipath, lpath = parse_idx_spec(spec)
        x, y = read_idx(ipath), read_idx(lpath)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ModelError("%s: unexpected IDX shapes %s / %s" % (spec, x.shape, y.shape))
        _cache[spec] = (x, y.astype(np.int64))
    return _cache[spec]


# ---------------------------------------------------------------- ONNX -> nn.Module

def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _sym_pads(pads, what):
    if not pads:
        return 0
    h = len(pads) // 2
    if list(pads[:h]) != list(pads[h:]):
        raise ModelError("%s: asymmetric pads %s not supported" % (what, list(pads)))
    return tuple(pads[:h])


class OnnxNet(nn.Module):
    """The ONNX graph as an nn.Module. self.steps is a fixed list of
    (kind, module key or None, input names, output name, extra); forward
    runs it in order, so torch.fx symbolic tracing unrolls the loop into
    one graph node per step."""

    def __init__(self, path, literal=False):
        super().__init__()
        m = onnx.load(path)
        g = m.graph
        inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        consts = dict(inits)
        real_inputs = [i.name for i in g.input if i.name not in inits]
        if len(real_inputs) != 1 or len(g.output) != 1:
            raise ModelError("%s: expected one input and one output" % path)
        self.input_name = real_inputs[0]
        self.output_name = g.output[0].name
        self.mods = nn.ModuleDict()
        self.steps = []
        self.folded = []          # (kind, node names) of folded activation pairs
        self.node_keys = {}       # ONNX node name -> submodule key
        nodes = list(g.node)
        consumers = {}
        for nd in nodes:
            for i in nd.input:
                consumers.setdefault(i, []).append(nd)
        skip = set()
        for idx, nd in enumerate(nodes):
            if id(nd) in skip:
                continue
            a = _attrs(nd)
            name = nd.name or "%s_%d" % (nd.op_type, idx)
            key = "n%03d_%s" % (idx, nd.op_type.lower())
            ins, out = list(nd.input), nd.output[0] if nd.output else None
            op = nd.op_type
            self.node_keys[name] = key
            if op == "Constant":
                consts[out] = numpy_helper.to_array(a["value"])
                continue
            # x * Sigmoid(x) -> SiLU, x * HardSigmoid(x) -> Hardswish
            if not literal and op in ("Sigmoid", "HardSigmoid"):
                cs = consumers.get(out, [])
                if (len(cs) == 1 and cs[0].op_type == "Mul" and out not in
                        [o.name for o in g.output] and
                        sorted(cs[0].input) == sorted([ins[0], out]) and
                        (op == "Sigmoid" or (abs(a.get("alpha", 0.2) - 1 / 6) < 1e-6 and
                                             abs(a.get("beta", 0.5) - 0.5) < 1e-6))):
                    mod = nn.SiLU() if op == "Sigmoid" else nn.Hardswish()
                    self.mods[key] = mod
                    self.steps.append(("mod", key, [ins[0]], cs[0].output[0], None))
                    skip.add(id(cs[0]))
                    self.folded.append((type(mod).__name__, name, cs[0].name))
                    continue
            if op == "Conv":
                w = inits.get(ins[1])
                if w is None or w.ndim != 4:
                    raise ModelError("%s: only 2-D Conv with constant weights" % name)
                b = inits.get(ins[2]) if len(ins) > 2 and ins[2] else None
                if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                    raise ModelError("%s: auto_pad not supported" % name)
                groups = a.get("group", 1)
                conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]),
                                 stride=tuple(a.get("strides", [1, 1])),
                                 padding=_sym_pads(a.get("pads"), name),
                                 dilation=tuple(a.get("dilations", [1, 1])),
                                 groups=groups, bias=b is not None)
                conv.weight.data = torch.from_numpy(w.copy())
                if b is not None:
                    conv.bias.data = torch.from_numpy(b.copy())
                self.mods[key] = conv
                self.steps.append(("mod", key, [ins[0]], out, None))
            elif op == "Gemm":
                w = inits.get(ins[1])
                if (w is None or a.get("transA", 0) or not a.get("transB", 0) or
                        a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0):
                    raise ModelError("%s: only Gemm(x, W^T, b) with constant W" % name)
                b = inits.get(ins[2]) if len(ins) > 2 and ins[2] else None
                lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
                lin.weight.data = torch.from_numpy(w.copy())
                if b is not None:
                    lin.bias.data = torch.from_numpy(b.reshape(-1).copy())
                self.mods[key] = lin
                self.steps.append(("mod", key, [ins[0]], out, None))
            elif op == "PRelu":
                s = inits.get(ins[1])
                if s is None or (s.size > 1 and s.reshape(-1).size != s.shape[0]):
                    raise ModelError("%s: PRelu slope must be constant, per channel" % name)
                pr = nn.PReLU(s.size)
                pr.weight.data = torch.from_numpy(s.reshape(-1).astype(np.float32).copy())
                self.mods[key] = pr
                self.steps.append(("mod", key, [ins[0]], out, None))
            elif op == "MaxPool":
                if a.get("dilations", [1, 1]) != [1, 1] or a.get("storage_order", 0):
                    raise ModelError("%s: dilated MaxPool not supported" % name)
                k = tuple(a["kernel_shape"])
                self.mods[key] = nn.MaxPool2d(k, stride=tuple(a.get("strides", k)),
                                              padding=_sym_pads(a.get("pads"), name),
                                              ceil_mode=bool(a.get("ceil_mode", 0)))
                self.steps.append(("mod", key, [ins[0]], out, None))
            elif op in ("Relu", "Sigmoid", "HardSigmoid", "GlobalAveragePool"):
                if op == "HardSigmoid" and (abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or
                                            abs(a.get("beta", 0.5) - 0.5) > 1e-6):
                    raise ModelError("%s: HardSigmoid alpha/beta other than 1/6, 1/2" % name)
                self.mods[key] = {"Relu": nn.ReLU, "Sigmoid": nn.Sigmoid,
                                  "HardSigmoid": nn.Hardsigmoid,
                                  "GlobalAveragePool": lambda: nn.AdaptiveAvgPool2d(1)}[op]()
                self.steps.append(("mod", key, [ins[0]], out, None))
            elif op in ("Add", "Mul"):
                fn = torch.add if op == "Add" else torch.mul
                cin = [i for i in ins if i in consts]
                if not cin:
                    self.steps.append(("fn2", None, ins, out, fn))
                elif len(cin) == 1 and consts[cin[0]].size == 1:
                    x = [i for i in ins if i not in consts][0]
                    self.steps.append(("fnc", None, [x], out,
                                       (fn, float(consts[cin[0]].reshape(-1)[0]))))
                else:
                    raise ModelError("%s: %s with a non-scalar constant" % (name, op))
            elif op == "Concat":
                self.steps.append(("cat", None, ins, out, a.get("axis", 0)))
            elif op == "Flatten":
                if a.get("axis", 1) != 1:
                    raise ModelError("%s: Flatten axis must be 1" % name)
                self.steps.append(("flatten", None, [ins[0]], out, None))
            else:
                raise ModelError("%s: ONNX op %s not supported by the converter" % (name, op))

    def run(self, x, record=None):
        env = {self.input_name: x}
        for kind, key, ins, out, extra in self.steps:
            if kind == "mod":
                y = self.mods[key](env[ins[0]])
            elif kind == "fn2":
                y = extra(env[ins[0]], env[ins[1]])
            elif kind == "fnc":
                y = extra[0](env[ins[0]], extra[1])
            elif kind == "cat":
                y = torch.cat([env[i] for i in ins], dim=extra)
            else:  # flatten
                y = torch.flatten(env[ins[0]], 1)
            env[out] = y
            if record is not None:
                record(out, y)
        return env[self.output_name]

    def forward(self, x):
        return self.run(x)


# ---------------------------------------------------------------- quantization

def _prelu_from_reference_fixed(cls, mod, scale, zero_point):
    """nnq.PReLU.from_reference with two repairs.
    1. 1.13 calls calculate_qparams() on a weight observer that never saw
       the weights (pytorch issue #100654, fixed in 2.1 by PR #103455): every
       slope is quantized with scale 1, zero point 0, so all slopes become 0
       and the int8 PReLU is a ReLU. Here the observer sees the slopes.
    2. 1.13's quantized::prelu kernel (onednn and qnnpack alike) computes
       the positive side as x * 1 with the 1 taken in the slopes' quantized
       domain: when the slopes' range stops below 1 (scale * (255 - zp) < 1,
       e.g. slopes in [-0.2, 0.4]), every positive output is scaled down.
       Here the observer also sees 1.0, so the range always holds it."""
    qprelu = cls(float(scale), int(zero_point), mod.num_parameters)
    float_wt = mod.weight.float()
    observer = mod.qconfig.weight()
    observer(torch.cat([float_wt.reshape(-1), torch.ones(1)]))
    wt_scale, wt_zp = observer.calculate_qparams()
    qprelu.set_weight(torch.quantize_per_tensor(float_wt, float(wt_scale), int(wt_zp),
                                                torch.quint8))
    return qprelu


def fix_prelu(enable):
    import torch.ao.nn.quantized as nnq
    if not hasattr(fix_prelu, "stock"):
        fix_prelu.stock = nnq.PReLU.__dict__["from_reference"]
    nnq.PReLU.from_reference = (classmethod(_prelu_from_reference_fixed) if enable
                                else fix_prelu.stock)


def make_qconfig_mapping(engine, reduce_range, prelu_fix=True):
    from torch.ao.quantization import (QConfig, HistogramObserver,
                                       PerChannelMinMaxObserver,
                                       get_default_qconfig_mapping)
    qc = QConfig(
        activation=HistogramObserver.with_args(dtype=torch.quint8,
                                               qscheme=torch.per_tensor_affine,
                                               reduce_range=reduce_range),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8,
                                                  qscheme=torch.per_channel_symmetric))
    # Start from PyTorch's default mapping for the engine (it holds the
    # fixed-qparams qconfigs of Sigmoid/Hardsigmoid/... that the backend
    # requires, and "reshape" reusing its input's qparams) and put our
    # qconfig wherever the default one was.
    base = get_default_qconfig_mapping(engine)
    default = base.global_qconfig
    mapping = base.set_global(qc)
    for obj, q in list(mapping.object_type_qconfigs.items()):
        if q is default:
            mapping.set_object_type(obj, qc)
    if prelu_fix:
        # quantized::prelu takes one per-tensor quint8 slope tensor: the
        # weight observer PyTorch >= 2.1 maps nn.PReLU to
        # (default_quint8_weight_qconfig), with our activation observer
        from torch.ao.quantization import MinMaxObserver
        mapping.set_object_type(nn.PReLU, QConfig(
            activation=qc.activation,
            weight=MinMaxObserver.with_args(dtype=torch.quint8,
                                            qscheme=torch.per_tensor_affine)))
    return mapping


KEEP_FLOAT_FUNCS = {"add": [torch.add, operator.add], "mul": [torch.mul, operator.mul],
                    "cat": [torch.cat], "flatten": [torch.flatten]}


def keep_float(mapping, net, names):
    """--keep-float: an op (add, mul, flatten, or an nn class name such as
    Conv2d, Linear) or one ONNX node by name stays float. Returns, per name,
    how to recognise its nodes in describe_converted's rows (to check that
    FX really left them float: 1.13's lowering re-quantizes single-input
    activation modules such as Hardswish or PReLU placed between quantized
    ops, whatever their qconfig)."""
    classes = {type(m).__name__: type(m) for m in net.modules()
               if type(m) not in (OnnxNet, nn.ModuleDict)}
    checks = {}
    for n in names:
        if n == "cat":
            # FX 1.13 leaves quantized inputs of an unquantized cat
            # un-dequantized; torch.cat then concatenates int8 tensors of
            # different qparams under the first one's: garbage.
            raise ModelError("--keep-float cat: FX 1.13 mishandles a float cat between "
                             "quantized ops (its inputs are not dequantized)")
        if n in KEEP_FLOAT_FUNCS:
            for f in KEEP_FLOAT_FUNCS[n]:
                mapping.set_object_type(f, None)
            checks[n] = lambda r, n=n: r[1] == n
        elif n in classes:
            mapping.set_object_type(classes[n], None)
            checks[n] = lambda r, n=n: r[1].endswith("." + n)
        elif n in net.node_keys and net.node_keys[n] in net.mods:
            mapping.set_module_name("mods." + net.node_keys[n], None)
            checks[n] = lambda r, k="mods_" + net.node_keys[n]: r[0] == k
        else:
            raise ModelError("--keep-float %s: not an op type (%s) nor the name of an ONNX "
                             "node with weights or a module"
                             % (n, ", ".join(sorted(set(KEEP_FLOAT_FUNCS) | set(classes)))))
    return checks


def predictions(model, x, bs=1000):
    with torch.no_grad():
        return torch.cat([model(x[i:i + bs]).argmax(1) for i in range(0, len(x), bs)])


def describe_converted(qm, sample):
    """Which graph nodes run on quantized tensors and which in float, and the
    qparams of every quantized activation (from one interpreted batch)."""
    from torch.fx import Interpreter

    mods = dict(qm.named_modules())
    rows = []

    class Rec(Interpreter):
        def run_node(self, n):
            r = super().run_node(n)
            if n.op in ("call_module", "call_function", "call_method"):
                if n.op == "call_module":
                    what = type(mods[n.target]).__module__.split(".")[-2:]
                    what = "%s.%s" % (what[0], type(mods[n.target]).__name__)
                elif n.op == "call_function":
                    what = getattr(n.target, "__name__", str(n.target))
                else:
                    what = "." + n.target
                if isinstance(r, torch.Tensor):
                    if r.is_quantized:
                        if r.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                            s, z = r.q_scale(), r.q_zero_point()
                            lo, hi = (0 - z) * s, (255 - z) * s
                            info = "q s=%.5g zp=%d range [%.4g, %.4g]" % (s, z, lo, hi)
                        else:
                            info = "q per-channel"
                    else:
                        info = "float"
                    rows.append((n.name, what, info))
            return r

    with torch.no_grad():
        Rec(qm).run(sample)
    return rows


def summarize_placement(rows):
    quant, flt = {}, {}
    for name, what, info in rows:
        if what in ("quantize_per_tensor", ".dequantize", "dequantize"):
            continue
        d = quant if info.startswith("q") else flt
        d[what] = d.get(what, 0) + 1
    return quant, flt


def activation_ranges(net, x, bs=256):
    """min/max and share of negative values of every float activation."""
    stats = {}

    def rec(name, t):
        t = t.detach()
        mn, mx = t.min().item(), t.max().item()
        neg = (t < 0).sum().item()
        s = stats.setdefault(name, [mn, mx, 0, 0])
        s[0], s[1] = min(s[0], mn), max(s[1], mx)
        s[2] += neg
        s[3] += t.numel()

    with torch.no_grad():
        for i in range(0, len(x), bs):
            net.run(x[i:i + bs], record=rec)
    return stats


# ---------------------------------------------------------------- main

def run_model(path, args):
    from torch.ao.quantization.quantize_fx import (prepare_fx, convert_fx,
                                                   convert_to_reference_fx)
    t0 = time.time()
    name = os.path.basename(path)
    if name.endswith(".onnx"):
        name = name[:-5]
    prof_path = os.path.join(os.path.dirname(path), name + ".qdb.json")
    if not os.path.exists(prof_path):
        raise ModelError("no profile %s" % prof_path)
    with open(prof_path) as f:
        prof = json.load(f)
    ref = prof.get("reference", {})

    xtr_u8, _ = load_split(prof["datasets"]["calib"])
    xte_u8, yte = load_split(prof["datasets"]["eval"])
    total = len(xtr_u8)
    n = args.calib_n if 0 < args.calib_n < total else total
    sel = select_subset(n, total, args.seed) if n < total else np.arange(total)
    xcal = preprocess(xtr_u8[sel], prof["preprocess"])
    xte = preprocess(xte_u8, prof["preprocess"])
    yte = torch.from_numpy(yte)

    net = OnnxNet(path, literal=args.literal).eval()
    for kind, a, b in net.folded:
        log("%s: folded %s * x -> nn.%s" % (name, a, kind))

    fpred = predictions(net, xte)
    ftop1 = (fpred == yte).float().mean().item()
    ok = True
    msg = "%s: float top1 %.4f" % (name, ftop1)
    if "top1" in ref:
        msg += " (profile reference %.4f)" % ref["top1"]
        if abs(ftop1 - ref["top1"]) > FLOAT_TOL:
            ok = False
            msg += "  ERROR: float model does not reproduce the reference"
    pp = os.path.join(os.path.dirname(path), ref.get("predictions", name + ".pytorch-pred.npy"))
    if os.path.exists(pp):
        rp = torch.from_numpy(np.load(pp).astype(np.int64))
        if rp.shape == fpred.shape:
            msg += ", %d prediction(s) differ from %s" % (
                (rp != fpred).sum().item(), os.path.basename(pp))
    log(msg)

    if args.ranges:
        st = activation_ranges(net, xcal)
        log("%s: float activation ranges on the %d calibration images:" % (name, len(xcal)))
        for out, (mn, mx, neg, cnt) in st.items():
            log("  %-48s [%9.4f, %9.4f]  negative %5.1f%%" % (out, mn, mx, 100.0 * neg / cnt))

    torch.backends.quantized.engine = args.engine
    fix_prelu(not args.stock_prelu)
    mapping = make_qconfig_mapping(args.engine, args.reduce_range, not args.stock_prelu)
    checks = keep_float(mapping, net, args.keep_float or [])
    kept_float = []
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pm = prepare_fx(net, mapping, example_inputs=(xcal[:1],))
                tc = time.time()
                with torch.no_grad():
                    for i in range(0, len(xcal), args.calib_batch):
                        pm(xcal[i:i + args.calib_batch])
                rm = convert_to_reference_fx(copy.deepcopy(pm))
                qm = convert_fx(pm)
                qm(xcal[:2])
            break
        except Exception as ex:  # keep the failing op type in float, retry
            bad = None
            for m in net.modules():
                if (type(m).__name__ in str(ex) and type(m) not in kept_float and
                        type(m) not in (OnnxNet, nn.ModuleDict)):
                    bad = type(m)
                    break
            if bad is None:
                raise ModelError("prepare_fx/convert_fx failed%s: %s: %s"
                                 % (" with --keep-float %s" % " ".join(args.keep_float)
                                    if args.keep_float else "", type(ex).__name__, ex))
            log("%s: convert failed (%s); keeping %s in float" % (name, ex, bad.__name__))
            mapping.set_object_type(bad, None)
            kept_float.append(bad)
    calib_s = time.time() - tc
    log("%s: calibrated on %d images in %.1f s (engine %s, reduce_range %s)"
        % (name, len(xcal), calib_s, args.engine, args.reduce_range))

    for mname, mod in qm.named_modules():
        if type(mod).__name__ == "PReLU" and hasattr(mod.weight, "q_scale"):
            fw = net.mods[mname.split(".")[-1]].weight.detach()
            err = (mod.weight.dequantize() - fw).abs().max().item()
            lost = err > 0.5 * fw.abs().max().item()
            log("%s: int8 %s slopes [%.3f, %.3f] quantized with scale %.4g, zp %d: "
                "max error %.4g%s" % (name, mname, fw.min().item(), fw.max().item(),
                                      mod.weight.q_scale(), mod.weight.q_zero_point(), err,
                                      "  (slopes lost: pytorch issue #100654)" if lost else ""))
    rows = describe_converted(qm, xcal[:8])
    quant, flt = summarize_placement(rows)
    log("%s: quantized: %s" % (name, ", ".join("%s x%d" % kv for kv in quant.items()) or "-"))
    log("%s: float:     %s" % (name, ", ".join("%s x%d" % kv for kv in flt.items()) or "-"))
    for n, is_it in checks.items():
        hit = [r for r in rows if is_it(r)]
        if not hit or any(r[2].startswith("q") for r in hit):
            log("%s: WARNING: --keep-float %s: %s" % (
                name, n, "no such node in the converted graph" if not hit else
                "FX quantized it anyway (%s)" % ", ".join(r[0] for r in hit
                                                          if r[2].startswith("q"))))
    if args.verbose:
        for r in rows:
            log("  %-28s %-34s %s" % r)

    qpred = predictions(qm, xte)
    qtop1 = (qpred == yte).float().mean().item()
    # the same quantization simulated in float (reference model: dequantize
    # - float op - quantize, same qparams): checks the int8 kernels
    rpred = predictions(rm, xte)
    rtop1 = (rpred == yte).float().mean().item()
    agree = (rpred == qpred).float().mean().item()
    log("%s: simulated (reference-model) int8 top1 %.4f; int8 kernels agree with it on "
        "%.2f%% of the test images%s" % (name, rtop1, 100 * agree,
                                         "  WARNING: int8 kernels and simulation disagree"
                                         if abs(rtop1 - qtop1) > 0.003 else ""))
    secs = time.time() - t0
    log("%s: int8 top1 %.4f (float %.4f, delta %+.4f), %.1f s"
        % (name, qtop1, ftop1, qtop1 - ftop1, secs))
    rec = {"model": name, "framework": "pytorch %s fx" % torch.__version__.split("a")[0],
           "engine": args.engine, "reduce_range": args.reduce_range,
           "activations": "literal" if args.literal else "folded",
           "prelu": "stock-1.13" if args.stock_prelu else "repaired",
           "calib_n": len(xcal), "seed": args.seed,
           "float_top1": round(ftop1, 6), "quant_top1": round(qtop1, 6),
           "delta": round(qtop1 - ftop1, 6),
           "sim_top1": round(rtop1, 6), "sim_agree": round(agree, 6),
           "float_ref_top1": ref.get("top1"), "float_ok": ok,
           "float_ops": sorted(flt),
           "kept_float": (args.keep_float or []) + [t.__name__ for t in kept_float],
           "seconds": round(secs, 2)}
    print(json.dumps(rec), flush=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description="PyTorch FX post-training quantization peer")
    ap.add_argument("--model", action="append", help="ONNX model (repeatable; default: "
                    "models/demo_cnn.onnx and models/demo_mbv2.onnx)")
    ap.add_argument("--calib-n", type=int, default=1024,
                    help="calibration images from the training set (default 1024; 0: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the calibration subset")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    ap.add_argument("--engine", default="onednn",
                    help="quantized engine (default onednn: Debian's torch has no fbgemm)")
    ap.add_argument("--reduce-range", action="store_true",
                    help="7-bit activations, as PyTorch's fbgemm default qconfig")
    ap.add_argument("--literal", action="store_true",
                    help="keep x*Sigmoid(x) and x*HardSigmoid(x) as three ops")
    ap.add_argument("--calib-batch", type=int, default=128,
                    help="calibration batch size (default 128)")
    ap.add_argument("--stock-prelu", action="store_true",
                    help="keep PyTorch 1.13's quantized PReLU as is (its slopes all "
                    "become 0: pytorch issue #100654); default: repaired")
    ap.add_argument("--keep-float", action="append", metavar="OP",
                    help="keep an op type (add, mul, flatten, Conv2d, Linear, ...) or an "
                    "ONNX node (by name, e.g. /head/head.0/Conv) in float (repeatable; FX "
                    "1.13 cannot keep cat or PReLU float, and re-quantizes Hardswish)")
    ap.add_argument("--ranges", action="store_true",
                    help="print float activation ranges on the calibration set")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every node of the converted graph with its qparams")
    args = ap.parse_args()
    if args.calib_n < 0 or args.seed < 0 or args.threads < 0 or args.calib_batch <= 0:
        ap.error("--calib-n, --seed, --threads must be >= 0, --calib-batch > 0")
    if args.engine not in torch.backends.quantized.supported_engines or args.engine == "none":
        ap.error("engine %s not available (have: %s)" % (
            args.engine, ", ".join(e for e in torch.backends.quantized.supported_engines
                                   if e != "none")))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ok = True
    for path in args.model or DEFAULT_MODELS:
        try:
            ok &= run_model(path, args)
        except (ModelError, OSError, KeyError, ValueError) as ex:
            log("torch_ptq: %s: %s" % (path, ex))
            return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
