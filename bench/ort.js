#!/usr/bin/env node
// ort.js - owns the onnxruntime side of the peer comparison: reference
// outputs, timing runs, and the .npy comparison used by scripts/peer-check.sh.
//
//   node bench/ort.js run MODEL X.npy Y.npy [--threads T]
//       run MODEL on X.npy with onnxruntime and write the first output to Y.npy
//   node bench/ort.js bench MODEL [--batch B] [--threads T] [--iters N] [--warmup W]
//       time N sequential runs (after W warm-up runs) on a seeded pseudo-random
//       input of batch B; prints one JSON line (same fields as bench_qdb)
//   node bench/ort.js compare A.npy B.npy [--rtol R] [--atol A]
//       A is checked against the reference B elementwise, |a-b| <= atol + rtol*|b|
//       (numpy.allclose); prints max abs/rel error; exit 1 when out of tolerance
//
// Exit status: 0 ok, 1 comparison out of tolerance, 2 usage or I/O error.
// Only float32 C-ordered .npy files are written; float32/float64 are read.
'use strict';

const fs = require('fs');
const path = require('path');

function die(msg) {
    process.stderr.write('ort.js: ' + msg + '\n');
    process.exit(2);
}

// ---------------------------------------------------------------- .npy files

function npyRead(file) {
    let buf;
    try {
        buf = fs.readFileSync(file);
    } catch (err) {
        die(`${file}: ${err.message}`);
    }
    const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
    if (buf.length < 10 || !buf.subarray(0, 6).equals(magic)) die(`${file}: not a .npy file`);
    const major = buf[6];
    let hlen, hoff;
    if (major === 1) {
        hlen = buf.readUInt16LE(8);
        hoff = 10;
    } else if (major === 2 || major === 3) {
        if (buf.length < 12) die(`${file}: truncated header`);
        hlen = buf.readUInt32LE(8);
        hoff = 12;
    } else {
        die(`${file}: unsupported .npy version ${major}`);
    }
    if (hoff + hlen > buf.length) die(`${file}: truncated header`);
    const header = buf.toString('latin1', hoff, hoff + hlen);
    const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
    const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
    const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
    if (!descr || !fortran || !shape) die(`${file}: malformed header ${JSON.stringify(header)}`);
    if (fortran[1] !== 'False') die(`${file}: Fortran-ordered arrays are not supported`);
    const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
        if (!/^\d+$/.test(s)) die(`${file}: bad shape entry '${s}'`);
        return Number(s);
    });
    const numel = dims.reduce((a, b) => a * b, 1);
    const data = buf.subarray(hoff + hlen);
    let out;
    if (descr[1] === '<f4') {
        if (data.length !== numel * 4) die(`${file}: expected ${numel * 4} data bytes, found ${data.length}`);
        out = new Float32Array(numel);
        for (let i = 0; i < numel; i++) out[i] = data.readFloatLE(i * 4);
    } else if (descr[1] === '<f8') {
        if (data.length !== numel * 8) die(`${file}: expected ${numel * 8} data bytes, found ${data.length}`);
        out = new Float32Array(numel);
        for (let i = 0; i < numel; i++) out[i] = data.readDoubleLE(i * 8);
    } else {
        die(`${file}: dtype '${descr[1]}' not supported (float32 or float64 only)`);
    }
    return { dims, data: out };
}

function npyWrite(file, dims, data) {
    const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
    let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
    // Pad with spaces so that the data starts on a 64-byte boundary; ends in '\n'.
    const total = Math.ceil((10 + header.length + 1) / 64) * 64;
    header = header + ' '.repeat(total - 10 - header.length - 1) + '\n';
    const buf = Buffer.alloc(total + data.length * 4);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(buf, 0);
    buf.writeUInt16LE(header.length, 8);
    buf.write(header, 10, 'latin1');
    for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], total + i * 4);
    const tmp = file + '.tmp';
    try {
        fs.writeFileSync(tmp, buf);
        fs.renameSync(tmp, file);
    } catch (err) {
        die(`${file}: ${err.message}`);
    }
}

// ------------------------------------------------------------ bench input

// The benchmark input generator, defined identically in bench/bench_qdb.c:
// a 32-bit LCG (Numerical Recipes constants) seeded with 12345; each value
// is (s >> 8) mapped to [-1, 1) exactly, (k - 2^23) / 2^23.
const BENCH_SEED = 12345;
function benchInput(numel) {
    const out = new Float32Array(numel);
    let s = BENCH_SEED >>> 0;
    for (let i = 0; i < numel; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        out[i] = ((s >>> 8) - 8388608) / 8388608;
    }
    return out;
}

// --------------------------------------------------------------- options

function parseOpts(args, spec) {
    const opts = {};
    const pos = [];
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a.startsWith('--')) {
            const key = a.slice(2);
            if (!(key in spec)) die(`unknown option ${a}`);
            if (i + 1 >= args.length) die(`option ${a} needs a value`);
            const v = Number(args[++i]);
            if (!Number.isFinite(v) || (spec[key] === 'int' && (!Number.isInteger(v) || v < 0)))
                die(`option ${a}: bad value '${args[i]}'`);
            opts[key] = v;
        } else {
            pos.push(a);
        }
    }
    return { opts, pos };
}

function loadOrt() {
    try {
        return require('onnxruntime-node');
    } catch (err) {
        die(`cannot load onnxruntime-node (run 'npm ci' in ${__dirname}): ${err.message}`);
    }
}

async function openSession(ort, model, threads) {
    if (!fs.existsSync(model)) die(`${model}: no such file`);
    try {
        return await ort.InferenceSession.create(model, {
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            executionMode: 'sequential',
        });
    } catch (err) {
        die(`${model}: onnxruntime could not load it: ${err.message}`);
    }
}

// --------------------------------------------------------------- commands

async function cmdRun(args) {
    const { opts, pos } = parseOpts(args, { threads: 'int' });
    if (pos.length !== 3) die('usage: ort.js run MODEL X.npy Y.npy [--threads T]');
    const [model, xfile, yfile] = pos;
    const ort = loadOrt();
    const x = npyRead(xfile);
    const sess = await openSession(ort, model, opts.threads || 1);
    const feeds = {};
    feeds[sess.inputNames[0]] = new ort.Tensor('float32', x.data, x.dims);
    const res = await sess.run(feeds);
    const y = res[sess.outputNames[0]];
    if (y.type !== 'float32') die(`${model}: output '${sess.outputNames[0]}' is ${y.type}, not float32`);
    npyWrite(yfile, y.dims.map(Number), y.data);
}

async function cmdBench(args) {
    const { opts, pos } = parseOpts(args, { batch: 'int', threads: 'int', iters: 'int', warmup: 'int' });
    if (pos.length !== 1)
        die('usage: ort.js bench MODEL [--batch B] [--threads T] [--iters N] [--warmup W]');
    const model = pos[0];
    const batch = opts.batch || 1, threads = opts.threads || 1;
    const iters = opts.iters || 10, warmup = opts.warmup !== undefined ? opts.warmup : 2;
    const ort = loadOrt();
    const sess = await openSession(ort, model, threads);
    // The first input's shape from the model metadata, batch substituted.
    let dims = [batch, 3, 224, 224];
    const meta = sess.inputMetadata && sess.inputMetadata[0];
    if (meta && Array.isArray(meta.shape) && meta.shape.length > 0)
        dims = meta.shape.map((d, i) => (i === 0 ? batch : Number(d)));
    if (dims.some((d) => !Number.isInteger(d) || d <= 0)) die(`${model}: input shape ${JSON.stringify(dims)} is not fixed`);
    const numel = dims.reduce((a, b) => a * b, 1);
    const feeds = {};
    feeds[sess.inputNames[0]] = new ort.Tensor('float32', benchInput(numel), dims);
    for (let i = 0; i < warmup; i++) await sess.run(feeds);
    const times = [];
    for (let i = 0; i < iters; i++) {
        const t0 = process.hrtime.bigint();
        await sess.run(feeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const total = times.reduce((a, b) => a + b, 0);
    const ms = total / iters;
    const out = {
        runtime: 'onnxruntime',
        version: ort.env.versions ? ort.env.versions.node : undefined,
        model: path.basename(model),
        batch, threads, iters, warmup,
        ms_per_batch: +ms.toFixed(3),
        ms_min: +Math.min(...times).toFixed(3),
        images_per_s: +((batch * 1000) / ms).toFixed(2),
        // Whole node process (runtime and V8 included), kB -> MiB.
        peak_rss_mb: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    };
    process.stdout.write(JSON.stringify(out) + '\n');
}

function cmdCompare(args) {
    const { opts, pos } = parseOpts(args, { rtol: 'float', atol: 'float' });
    if (pos.length !== 2) die('usage: ort.js compare A.npy REFERENCE.npy [--rtol R] [--atol A]');
    const rtol = opts.rtol !== undefined ? opts.rtol : 1e-4;
    const atol = opts.atol !== undefined ? opts.atol : 1e-5;
    const a = npyRead(pos[0]);
    const b = npyRead(pos[1]);
    if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
        process.stdout.write(`FAIL shape mismatch: ${pos[0]} [${a.dims}] vs ${pos[1]} [${b.dims}]\n`);
        process.exit(1);
    }
    let maxAbs = 0, maxRel = 0, maxAt = -1, firstBad = -1, bad = 0;
    for (let i = 0; i < a.data.length; i++) {
        const x = a.data[i], y = b.data[i];
        let ok;
        if (Number.isFinite(x) && Number.isFinite(y)) {
            const d = Math.abs(x - y);
            if (d > maxAbs) { maxAbs = d; maxAt = i; }
            if (d > 0) maxRel = Math.max(maxRel, y !== 0 ? d / Math.abs(y) : Infinity);
            ok = d <= atol + rtol * Math.abs(y);
        } else {
            ok = Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y));
            if (!ok) { maxAbs = Infinity; maxAt = i; }
        }
        if (!ok) { bad++; if (firstBad < 0) firstBad = i; }
    }
    const n = a.data.length;
    let line = `max_abs=${maxAbs.toExponential(3)} max_rel=${maxRel.toExponential(3)} ` +
        `out_of_tol=${bad}/${n} (rtol=${rtol} atol=${atol})`;
    if (maxAt >= 0) line += ` worst[${maxAt}]: ${a.data[maxAt]} vs ${b.data[maxAt]}`;
    process.stdout.write((bad ? 'FAIL ' : 'PASS ') + line + '\n');
    process.exit(bad ? 1 : 0);
}

async function main() {
    const [cmd, ...args] = process.argv.slice(2);
    if (cmd === 'run') await cmdRun(args);
    else if (cmd === 'bench') await cmdBench(args);
    else if (cmd === 'compare') cmdCompare(args);
    else die('usage: ort.js run|bench|compare ... (see the header of bench/ort.js)');
}

main().catch((err) => die(err && err.stack ? err.stack : String(err)));
