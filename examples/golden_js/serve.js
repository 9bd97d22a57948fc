// mlp.js as a foreign program for `funcnn-verify --foreign "node serve.js"`: one JSON
// request per line on stdin, one JSON answer per line on stdout (docs/foreign-protocol.md).
// node serve.js [--bug tanh-square]
"use strict";
const readline = require("readline");
const { valueAndGrad, setBug } = require("./mlp.js");

if (process.argv[2] === "--bug") setBug(process.argv[3]);

function decode(a) {  // {shape, dtype, base64 | data} -> Float64Array
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

function answer(m) {
  if (m.op === "hello")
    return { protocol: "funcnn-foreign/1", dtypes: ["float64", "float32"],
             activations: ["identity", "relu", "leaky_relu", "tanh", "sigmoid", "softplus"],
             losses: ["softmax_cross_entropy", "binary_cross_entropy", "mse"] };
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
