// mlp.js as a foreign program for `funcnn-verify --foreign "node serve.js"`: one JSON
// request per line on stdin, one JSON answer per line on stdout (docs/foreign-protocol.md).
// Protocol version 2: `problem` is kept, `moves` evaluates the loss at moved parameters.
// node serve.js [--bug tanh-square]
"use strict";
const readline = require("readline");
const { valueAndGrad, setBug } = require("./mlp.js");

if (process.argv[2] === "--bug") setBug(process.argv[3]);

function decode(a) {  // {shape, dtype, base64 | data} -> Float64Array (int32 too)
  if (a.data) return Float64Array.from(a.data);
  const bytes = Buffer.from(a.base64, "base64");
  const size = a.dtype === "float64" ? 8 : 4, out = new Float64Array(bytes.length / size);
  for (let i = 0; i < out.length; i++)
    out[i] = a.dtype === "float64" ? bytes.readDoubleLE(i * 8)
      : a.dtype === "float32" ? bytes.readFloatLE(i * 4) : bytes.readInt32LE(i * 4);
  return out;
}

function run(m, params) {
  const { sizes, activations, loss } = m.spec;
  const p = params.map((l) => ({ W: decode(l.W), b: decode(l.b) }));
  const got = valueAndGrad(sizes, activations, loss, p, decode(m.x), decode(m.y),
                           m.x.shape[0], m.y.dtype === "int32");
  if (got === null) throw new Error(`unsupported: ${activations} with ${loss}`);
  return got;
}

let kept = null;  // the last `problem`: its message and its parameters, flat

function moves(m) {  // loss at kept params + step[p] * (sparse direction which[p])
  const d = m.directions, offsets = decode(d.offsets), index = decode(d.index);
  const value = decode(d.value), which = decode(m.which), step = decode(m.step);
  const losses = [];
  for (let p = 0; p < which.length; p++) {
    const theta = Float64Array.from(kept.flat), r = which[p];
    for (let j = offsets[r]; j < offsets[r + 1]; j++) theta[index[j]] += step[p] * value[j];
    if (kept.m.dtype === "float32") for (let i = 0; i < theta.length; i++)
      theta[i] = Math.fround(theta[i]);
    losses.push(run(kept.m, unflat(theta, kept.m.spec.sizes))[0]);
  }
  return { losses };
}

function unflat(theta, sizes) {  // W (row-major) then b, layer by layer
  const layers = [];
  let at = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const nW = sizes[l] * sizes[l + 1];
    layers.push({ W: { data: theta.subarray(at, at + nW) },
                  b: { data: theta.subarray(at + nW, at + nW + sizes[l + 1]) } });
    at += nW + sizes[l + 1];
  }
  return layers;
}

function answer(m) {
  if (m.op === "hello")
    return { protocol: "funcnn-foreign/2", dtypes: ["float64", "float32"],
             activations: ["identity", "relu", "leaky_relu", "tanh", "sigmoid", "softplus"],
             losses: ["softmax_cross_entropy", "binary_cross_entropy", "mse"] };
  if (m.op === "problem") {
    const parts = m.params.flatMap((l) => [decode(l.W), decode(l.b)]);
    const flat = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
    parts.reduce((at, a) => (flat.set(a, at), at + a.length), 0);
    kept = { m, flat };
    return { loss: run(m, m.params)[0] };
  }
  if (m.op === "moves") return moves(m);
  if (m.op === "loss") return { losses: m.params_list.map((p) => run(m, p)[0]) };
  const [value, grads] = run(m, m.params);
  return { loss: value, grads: grads.map((g, l) => ({
    W: { shape: m.params[l].W.shape, data: Array.from(g.W) },
    b: { shape: m.params[l].b.shape, data: Array.from(g.b) } })) };
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line);
  let out;
  try { out = { id: m.id, ...answer(m) }; } catch (e) { out = { id: m.id, error: e.message }; }
  process.stdout.write(JSON.stringify(out) + "\n");
});
