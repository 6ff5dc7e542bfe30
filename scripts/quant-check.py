#!/usr/bin/python3
# quant-check.py - `make check-quant`: qdb quantize end to end on the bundled
# demo models, checked against facts worked out independently:
#   * 8-bit defaults: quantized top-1 within 1 point of float; float top-1
#     equals the accuracy PyTorch recorded (the profile);
#   * 4-bit weights: the accuracy and the agreement with the float model drop
#     below the 8-bit run's (per-tensor 4-bit drops by more still);
#   * NOCLIPPING vs MSE (the seed tutorial): every MSE threshold is at or
#     below the NOCLIPPING one (some strictly); MSE's accuracy is at least
#     NOCLIPPING's;
#   * NOCLIPPING thresholds are the power of two at or above each layer's
#     max |x| (recomputed here from the reported min / max);
#   * every --set parameter visibly changes what it should in the report;
#   * bad --set values and a missing dataset give one message and exit 2 / 1.
import json, math, os, subprocess, sys, tempfile

QDB = os.environ.get("QDB", "./qdb")
OUT = os.environ.get("OUT", "build/quant-check")
os.makedirs(OUT, exist_ok=True)
failed = []


def fail(msg):
    print("quant-check: FAIL " + msg)
    failed.append(msg)


def quantize(model, *args, evaluate=False, tag="run"):
    rep = os.path.join(OUT, "%s-%s.json" % (os.path.basename(model)[:-5], tag))
    cmd = [QDB, "quantize", model, "--report", rep, "--measure-n", "32"]
    if not evaluate:
        cmd += ["--calib-n", "256"]  # the parameter checks need no accuracy
    if not evaluate:
        cmd.append("--no-eval")
    for a in args:
        cmd += ["--set", a]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        fail("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
        return None
    return json.load(open(rep))


def pow2_ceil(x):
    return 2.0 ** math.ceil(math.log2(x)) if x > 0 else 0.0


def layers(rep, pred=lambda l: True):
    return [l for l in rep["layers"] if pred(l)]


for m in ("demo_cnn", "demo_mbv2"):
    model = "models/%s.onnx" % m
    prof = json.load(open("models/%s.qdb.json" % m))
    base = quantize(model, evaluate=True, tag="default")
    if not base:
        continue
    if abs(base["float_accuracy"] - prof["reference"]["top1"]) > 1e-9:
        fail("%s: float top-1 %.4f, PyTorch recorded %.4f" % (m, base["float_accuracy"], prof["reference"]["top1"]))
    if base["delta"] < -0.01:
        fail("%s: 8-bit delta %.4f is worse than -1 point" % (m, base["delta"]))
    print("quant-check: %s 8-bit: float %.2f %%, quantized %.2f %% (delta %+.2f)" % (
        m, 100 * base["float_accuracy"], 100 * base["quant_accuracy"], 100 * base["delta"]))

    # the report's fields
    for l in base["layers"]:
        for k in ("name", "op", "act_bits", "act_threshold", "weight_bits"):
            if k not in l:
                fail("%s: layer %s lacks %s" % (m, l.get("name"), k))
        if l["act_quantized"]:
            for k in ("act_signed", "act_error_method", "thresholds_by_method", "sqnr_db",
                      "sqnr_own_db", "cosine", "clipped_fraction"):
                if k not in l:
                    fail("%s: layer %s lacks %s" % (m, l["name"], k))
            if sorted(l["thresholds_by_method"]) != sorted(["NOCLIPPING", "MSE", "MAE", "KL", "LP", "HMSE"]):
                fail("%s: layer %s thresholds_by_method %s" % (m, l["name"], l["thresholds_by_method"]))

    # NOCLIPPING: power of two above max |x|, on layers without a known range
    for l in layers(base, lambda l: l["act_quantized"] and l["op"] not in ("Sigmoid", "Softmax", "HardSigmoid", "Tanh")):
        mx = max(abs(l["min"]), abs(l["max"]))
        want = max(pow2_ceil(mx), 2.0 ** -16)
        got = l["thresholds_by_method"]["NOCLIPPING"]
        if not l["name"].endswith("/shift") and abs(got - want) > 1e-12 * want and not (want / 2 >= mx * (1 - 1e-6)):
            fail("%s: %s NOCLIPPING %.6g, power of two above %.6g is %.6g" % (m, l["name"], got, mx, want))

    # 4-bit weights
    w4 = quantize(model, "weights_n_bits=4", evaluate=True, tag="w4")
    w4t = quantize(model, "weights_n_bits=4", "weights_per_channel_threshold=false", evaluate=True, tag="w4t")
    if w4 and w4t:
        if not (w4["quant_accuracy"] < base["quant_accuracy"] and w4["agreement_with_float"] < base["agreement_with_float"]):
            fail("%s: 4-bit weights (%.4f, agreement %.4f) do not drop below 8-bit (%.4f, %.4f)" % (
                m, w4["quant_accuracy"], w4["agreement_with_float"], base["quant_accuracy"], base["agreement_with_float"]))
        if not w4t["agreement_with_float"] < w4["agreement_with_float"]:
            fail("%s: per-tensor 4-bit weights agree more with float than per-channel" % m)
        print("quant-check: %s 4-bit weights: %.2f %% per channel, %.2f %% per tensor" % (
            m, 100 * w4["quant_accuracy"], 100 * w4t["quant_accuracy"]))

    # NOCLIPPING vs MSE
    nc = quantize(model, "activation_error_method=NOCLIPPING", evaluate=True, tag="noclip")
    if nc:
        strictly = 0
        for a, b in zip(base["layers"], nc["layers"]):
            if a["name"] != b["name"] or not a["act_quantized"] or a["name"].endswith("/shift"):
                continue
            if a["act_bits"] != b["act_bits"]:
                continue
            if a["act_threshold"] > b["act_threshold"] * (1 + 1e-9):
                fail("%s: %s MSE threshold %.6g above NOCLIPPING %.6g" % (m, a["name"], a["act_threshold"], b["act_threshold"]))
            strictly += a["act_threshold"] < b["act_threshold"]
        if strictly == 0:
            fail("%s: no MSE threshold below NOCLIPPING" % m)
        if base["quant_accuracy"] < nc["quant_accuracy"] - 1e-12:
            fail("%s: MSE %.4f below NOCLIPPING %.4f" % (m, base["quant_accuracy"], nc["quant_accuracy"]))
        print("quant-check: %s MSE %.2f %% vs NOCLIPPING %.2f %%; %d MSE thresholds lower" % (
            m, 100 * base["quant_accuracy"], 100 * nc["quant_accuracy"], strictly))

# Every parameter changes what it should (demo_mbv2: it has every feature but BatchNorm / ReLU6).
model = "models/demo_mbv2.onnx"
ref = quantize(model, tag="ref")
acts = lambda r: layers(r, lambda l: l["act_quantized"])
wts = lambda r: layers(r, lambda l: l["weight_bits"] is not None)


def check(setting, pred, what):
    r = quantize(model, *setting, tag="set-" + "-".join(s.replace("=", "_") for s in setting))
    if r is None:
        return
    if r["config"].get(setting[0].split("=")[0]) is None:
        fail("%s: config lacks the key" % setting[0])
    try:
        ok = pred(r)
    except Exception as ex:  # a missing field is a failure, not a crash
        ok = False
        what += " (%r)" % ex
    if not ok:
        fail("--set %s: %s" % (" --set ".join(setting), what))


if ref:
    snc_layers = [l["name"] for l in ref["layers"] if "shift_negative_shift" in l]
    check(["activation_n_bits=4"], lambda r: all(l["act_bits"] in (4, 16) for l in acts(r)) and any(l["act_bits"] == 4 for l in acts(r)), "activation bits are not 4")
    check(["weights_n_bits=6"], lambda r: all(l["weight_bits"] == 6 for l in wts(r)) and wts(r), "weight bits are not 6")
    check(["activation_error_method=KL"], lambda r: all(l["act_error_method"] == "KL" and l["act_threshold"] == l["thresholds_by_method"]["KL"] for l in acts(r)), "thresholds are not KL's")
    check(["weights_error_method=NOCLIPPING", "weights_quantization_method=POWER_OF_TWO"],
          lambda r: all(t == 2 ** round(math.log2(t)) for l in wts(r) for t in l["weight_thresholds"]), "weight thresholds are not powers of two")
    check(["activation_quantization_method=SYMMETRIC"], lambda r: any(l["act_threshold"] != 2 ** round(math.log2(l["act_threshold"])) for l in acts(r)), "symmetric thresholds all powers of two")
    check(["activation_quantization_method=UNIFORM"], lambda r: all("act_range_min" in l for l in acts(r)) and r["passes"]["shift_negative"] == 0, "no uniform ranges, or shift-negative ran")
    check(["weights_per_channel_threshold=false"], lambda r: all(len(l["weight_thresholds"]) == 1 for l in wts(r)), "more than one weight threshold per layer")
    check(["enable_weights_quantization=false"], lambda r: not wts(r), "weights still quantized")
    check(["enable_activation_quantization=false"], lambda r: not acts(r), "activations still quantized")
    check(["weights_bias_correction=false"], lambda r: all(l["bias_correction_shift"] == 0 for l in wts(r)) and any(l["bias_correction_shift"] > 0 for l in wts(ref)), "bias still corrected")
    check(["shift_negative_activation_correction=false"], lambda r: r["passes"]["shift_negative"] == 0 and ref["passes"]["shift_negative"] > 0, "shift-negative still applied")
    check(["shift_negative_ratio=0.001"], lambda r: r["passes"]["shift_negative"] < ref["passes"]["shift_negative"], "the ratio did not reduce the corrections")
    shifts = lambda r: [l.get("shift_negative_shift") for l in r["layers"] if "shift_negative_shift" in l]
    by_name = lambda r: {l["name"]: l for l in r["layers"]}
    # without recalculation a shifted tensor keeps its activation's threshold;
    # with it, the threshold is searched again on the shifted histogram
    kept = lambda r: all(l["act_threshold"] == by_name(r)[l["shift_of"]]["act_threshold"] for l in r["layers"] if l.get("shift_of"))
    searched = lambda r: all(l["act_threshold"] == l["thresholds_by_method"][l["act_error_method"]] for l in r["layers"] if l.get("shift_of"))
    if not (kept(ref) and any(l.get("shift_of") for l in ref["layers"])):
        fail("shifted layers do not keep their activation's threshold")
    check(["shift_negative_threshold_recalculation=true"], searched, "shifted thresholds not searched again")
    # on these models the search confirms MCT's default shifts (values stay
    # well below t); tests/test_qmodel.c shows it choosing another one
    check(["shift_negative_params_search=true"], lambda r: len(shifts(r)) == len(shifts(ref)) > 0,
          "the search changed which layers are corrected")
    check(["z_threshold=3"], lambda r: any(a["act_threshold"] < b["act_threshold"] for a, b in zip(acts(r), acts(ref))), "no threshold lowered")
    check(["min_threshold=64"], lambda r: all(l["act_threshold"] >= 64 for l in acts(r) if l["op"] not in ("Sigmoid",)), "thresholds below min_threshold")
    check(["activation_error_method=LP", "l_p_value=8"], lambda r: [l["act_threshold"] for l in acts(r)] != [l["thresholds_by_method"]["LP"] for l in acts(ref)], "p had no effect")
    check(["activation_error_method=HMSE"], lambda r: all(l["act_threshold"] == l["thresholds_by_method"]["HMSE"] for l in acts(r)), "thresholds are not HMSE's")
    check(["input_scaling=true", "activation_error_method=NOCLIPPING"], lambda r: r["passes"]["input_scale"] != 1, "no input scale")
    check(["relu_unbound_correction=true"], lambda r: r["passes"]["relu_rebound"] == 0, "rebound a model without ReLU6")
    check(["activation_channel_equalization=true"], lambda r: r["passes"]["channels_equalized"] == 0, "equalized a model without BatchNorm")

# Rules: provenance in the report, contributions consistent, match's dry run
rep = os.path.join(OUT, "demo_mbv2-rules.json")
r = subprocess.run([QDB, "quantize", "models/demo_mbv2.onnx", "--report", rep, "--measure-n", "16",
                    "--eval-n", "2000", "--rule", "type=HardSwish : act_bits=16",
                    "--rule", "name=/Concat or name=/Mul : act_quant=off", "--rule", "index=3..4 : w_bits=4"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
if r.returncode != 0:
    fail("quantize with rules: exit %d: %s" % (r.returncode, r.stderr.strip()))
else:
    rr = json.load(open(rep))
    byn = {l["name"]: l for l in rr["layers"]}
    if [x["layers"] for x in rr["rules"]] != [6, 2, 2]:
        fail("rules select %s layers, expected 6, 2, 2" % [x["layers"] for x in rr["rules"]])
    if rr["evaluations"] != 5:
        fail("rules: %d evaluations, expected 5" % rr["evaluations"])
    for x in rr["rules"]:
        if abs(x["contribution"] - (rr["quant_accuracy"] - x["score_without"])) > 1e-12:
            fail("rule %s: contribution is not current minus without" % x["text"])
    if [h["label"] for h in rr["history"]] != ["baseline", "without rule 1", "without rule 2",
                                              "without rule 3", "current"] or \
            rr["history"][-1]["score"] != rr["quant_accuracy"] or len(rr["history"][1]["rules"]) != 2:
        fail("rules: history %s" % [(h["label"], h["rules"]) for h in rr["history"]])
    if abs(rr["delta_to_baseline"] - (rr["quant_accuracy"] - rr["baseline_accuracy"])) > 1e-12:
        fail("delta_to_baseline inconsistent")
    if byn["/Concat"]["act_quantized"] or byn["/Concat"]["set_by_rule"].get("act_quant") != 2:
        fail("rule 2 did not keep /Concat in float, or its provenance is missing")
    hs = [l for l in rr["layers"] if l["op"].endswith("HardSwish") and not l.get("shift_of")]
    if len(hs) != 6 or any(l["act_bits"] != 16 or l["set_by_rule"].get("act_bits") != 1 for l in hs):
        fail("rule 1: HardSwish layers not at 16 bits by rule 1")
    w4 = [l for l in rr["layers"] if l["set_by_rule"].get("w_bits") == 3]
    if len(w4) != 2 or any(l["weight_bits"] != 4 for l in w4):
        fail("rule 3: index=3..4 did not give 2 layers 4-bit weights")
    print("quant-check: rules: baseline %.2f %%, current %.2f %%, contributions %s" % (
        100 * rr["baseline_accuracy"], 100 * rr["quant_accuracy"],
        ", ".join("%+.2f" % (100 * x["contribution"]) for x in rr["rules"])))
m = subprocess.run([QDB, "match", "models/demo_mbv2.onnx", "type=Concat or name=/Mul : act_bits=16", "type=Softmax : act_bits=16"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
if m.returncode != 0 or "2 of 27 layers" not in m.stdout or "/Concat" not in m.stdout or "warning: rule 2 matches no layer" not in m.stderr:
    fail("qdb match: exit %d, %r %r" % (m.returncode, m.stdout, m.stderr))
# a filter alone: 'all' lists every layer
m = subprocess.run([QDB, "match", "models/demo_mbv2.onnx", "all", "name=/Concat"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
if m.returncode != 0 or "filter 1: all\n" not in m.stdout or "27 of 27 layers" not in m.stdout or \
        "filter 2: name=/Concat\n" not in m.stdout or "1 of 27 layers" not in m.stdout:
    fail("qdb match (filters): exit %d, %r %r" % (m.returncode, m.stdout, m.stderr))
m = subprocess.run([QDB, "match", "models/demo_mbv2.onnx", "type=Sigmod"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
if m.returncode != 2 or "unknown op type 'Sigmod' (did you mean 'Sigmoid'?)" not in m.stderr:
    fail("qdb match (bad filter): exit %d, %r" % (m.returncode, m.stderr))

# Culprits: a 2-bit-weight layer made on purpose; bisect names it and writes its rule,
# sensitivity ranks it first (probe of 500 test images)
bj = os.path.join(OUT, "bisect.json")
br = os.path.join(OUT, "bisect.rules")
r = subprocess.run([QDB, "bisect", "models/demo_mbv2.onnx", "--rule", "index=9 : w_bits=2",
                    "--json", bj, "--emit-rules", br], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
if r.returncode != 0:
    fail("bisect: exit %d: %s" % (r.returncode, r.stderr.strip()))
else:
    b = json.load(open(bj))
    if not b["found"] or [c["index"] for c in b["culprits"]] != [9]:
        fail("bisect culprits %s, expected [9]" % [c["index"] for c in b["culprits"]])
    if b["evaluations"] != len(b["steps"]) or b["evaluations"] > 2 * 5 + 3:
        fail("bisect: %d probes for 27 layers" % b["evaluations"])
    if b["final_score"] < b["target"] or b["base_score"] >= b["target"]:
        fail("bisect: scores %s" % {k: b[k] for k in ("base_score", "final_score", "target")})
    rules = [l for l in open(br) if l.strip() and not l.startswith("#")]
    if rules != ["name=/blocks/blocks.2/block/block.0/Conv : act_quant=off, w_quant=off\n"]:
        fail("bisect --emit-rules wrote %r" % rules)
    print("quant-check: bisect: culprit %s in %d probes" % (b["culprits"][0]["name"], b["evaluations"]))
sj = os.path.join(OUT, "sensitivity.json")
r = subprocess.run([QDB, "sensitivity", "models/demo_mbv2.onnx", "--rule", "index=9 : w_bits=2",
                    "--json", sj, "--top", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
if r.returncode != 0:
    fail("sensitivity: exit %d: %s" % (r.returncode, r.stderr.strip()))
else:
    sv = json.load(open(sj))
    if not sv["complete"] or len(sv["layers"]) != 27 or sv["evaluations"] != 1 + 2 * 27:
        fail("sensitivity: %d layers, %d evaluations" % (len(sv["layers"]), sv["evaluations"]))
    if sv["layers"][0]["index"] != 9:
        fail("sensitivity ranks layer %d first, expected 9" % sv["layers"][0]["index"])

# Bad input
def expect(cmd, code, needle):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    if r.returncode != code or not lines or needle not in lines[0]:
        fail("%s: exit %d, stderr %r (want exit %d and %r)" % (" ".join(cmd), r.returncode, r.stderr, code, needle))


expect([QDB, "quantize", "models/demo_cnn.onnx", "--set", "activation_n_bits=1"], 2, "activation_n_bits")
expect([QDB, "quantize", "models/demo_cnn.onnx", "--set", "activation_eror_method=KL"], 2, "activation_error_method")
expect([QDB, "quantize", "models/demo_cnn.onnx", "--set", "activation_error_method=KLD"], 2, "KL")
expect([QDB, "quantize", "models/demo_cnn.onnx", "--calib", "idx:/nonexistent/x.gz"], 1, "/nonexistent/x.gz")
expect([QDB, "quantize", "models/demo_cnn.onnx", "--rule", "type=Sigmod : act_bits=16"], 2, "did you mean 'Sigmoid'")
expect([QDB, "quantize", "models/demo_cnn.onnx", "--rule", "all : act_bitz=16"], 2, "act_bits")
expect([QDB, "quantize", "models/demo_cnn.onnx", "--rule", "all : act_bits=17"], 2, "act_bits")
expect([QDB, "match", "models/demo_cnn.onnx", "type=Conv and : act_bits=4"], 2, "column")
expect([QDB, "bisect", "models/demo_cnn.onnx", "--precision", "8"], 2, "--precision")
expect([QDB, "sensitivity", "models/demo_cnn.onnx", "--subset", "0"], 2, "--subset")

if failed:
    print("quant-check: %d failure(s)" % len(failed))
    sys.exit(1)
print("quant-check: all passed")
