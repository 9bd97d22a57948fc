// Check the MLP of mlp.js against funcnn's golden files:
//   node check_golden.js DIR [--bug tanh-square] [--results RESULTS.json]
// Reads DIR/manifest.json (JSON) and DIR/data.bin (raw little-endian arrays), nothing else.
// With --results it also writes what it computed, for funcnn-verify --compare-golden.
"use strict";
const fs = require("fs");
const path = require("path");
const { valueAndGrad, setBug } = require("./mlp.js");

const dir = process.argv[2];
let resultsPath = null;
for (let i = 3; i + 1 < process.argv.length; i += 2) {
  if (process.argv[i] === "--bug") setBug(process.argv[i + 1]);
  else if (process.argv[i] === "--results") resultsPath = process.argv[i + 1];
}
const results = {};  // case id -> outputs, written with --results
const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
const data = fs.readFileSync(path.join(dir, manifest.data_file));
const view = new DataView(data.buffer, data.byteOffset, data.byteLength);

function tensor(info) {  // any stored dtype -> Float64Array (labels stay integers)
  const size = { float64: 8, float32: 4, int32: 4 }[info.dtype];
  const out = new Float64Array(info.nbytes / size);
  for (let i = 0; i < out.length; i++) {
    const at = info.offset + i * size;
    out[i] = info.dtype === "float64" ? view.getFloat64(at, true)
      : info.dtype === "float32" ? view.getFloat32(at, true) : view.getInt32(at, true);
  }
  return out;
}

const rule = manifest.comparison.network;
let passed = 0, failed = 0, skipped = 0;
for (const c of manifest.cases) {
  if (c.kind !== "network") continue;
  const T = (name) => tensor(c.tensors[name]);
  const L = c.sizes.length - 1, B = c.tensors.x.shape[0];
  const params = [];
  for (let l = 0; l < L; l++) params.push({ W: T(`params/${l}/W`), b: T(`params/${l}/b`) });
  const got = valueAndGrad(c.sizes, c.activations, c.loss, params, T("x"), T("y"), B,
                           c.labels === "int32");
  if (got === null) { skipped++; continue; }
  const outputs = results[c.id] = { value: got[0] };
  for (let l = 0; l < L; l++)
    for (const k of ["W", "b"]) outputs[`grads/${l}/${k}`] = Array.from(got[1][l][k]);
  const rtol = rule.rtol[c.dtype];
  let worst = Math.abs(got[0] - c.value) / (rtol * Math.max(1, Math.abs(c.value))), where = "loss";
  for (let l = 0; l < L; l++)
    for (const k of ["W", "b"]) {
      const want = T(`grads/${l}/${k}`), tol = T(`tolerance/${l}/${k}`), have = got[1][l][k];
      for (let i = 0; i < want.length; i++) {
        const allowed = rule.grad_factor * tol[i] + rtol * Math.abs(want[i]);
        const ratio = Math.abs(have[i] - want[i]) / Math.max(allowed, 1e-300);
        if (!(ratio <= worst)) { worst = ratio; where = `grads/${l}/${k}[${i}]`; }
      }
    }
  if (worst <= 1) passed++;
  else { failed++; console.log(`FAIL ${c.id}: ${where} off by ${worst.toPrecision(3)} x the tolerance`); }
}
if (resultsPath !== null) {  // numbers print as the shortest text that reads back exactly
  const doc = { format: "funcnn-golden-results/1", program: "check_golden.js", cases: results };
  const finite = (key, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v);
  fs.writeFileSync(resultsPath, JSON.stringify(doc, finite) + "\n");  // NaN -> "NaN", not null
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped (unsupported loss)`);
process.exit(failed ? 1 : 0);
