// A small MLP in plain JavaScript (no dependencies): dense layers, identity / relu /
// leaky_relu / tanh / sigmoid / softplus, and softmax cross-entropy, binary
// cross-entropy and mse, each the mean over the batch (and over the outputs for the
// last two). Arrays are flat Float64Arrays, row-major; W is (n_in, n_out).
"use strict";

let BUG = "";  // "tanh-square": tanh' = 1 - a (the square forgotten), to see a check fail

const ACT = {
  identity: [(z) => z, (z, a) => 1],
  relu: [(z) => (z > 0 ? z : 0), (z, a) => (z > 0 ? 1 : 0)],
  leaky_relu: [(z) => (z > 0 ? z : 0.01 * z), (z, a) => (z > 0 ? 1 : 0.01)],
  tanh: [Math.tanh, (z, a) => (BUG === "tanh-square" ? 1 - a : 1 - a * a)],
  sigmoid: [sigmoid, (z, a) => a * (1 - a)],
  softplus: [(z) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))), (z, a) => sigmoid(z)],
};

function sigmoid(z) {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

// Mean loss and dL/dz for logits z (B x C); y: Int32Array labels or targets (B x C).
function lossAndGrad(name, z, y, B, C, labels) {
  const dz = new Float64Array(B * C);
  let total = 0;
  // Integer labels: the class index (one-hot), except that with one output a 0/1 label is
  // the target itself (binary cross-entropy, mse), as funcnn reads labels.
  const oneHot = C > 1 || name === "softmax_cross_entropy";
  const target = (b, c) => (labels ? (oneHot ? (y[b] === c ? 1 : 0) : y[b]) : y[b * C + c]);
  for (let b = 0; b < B; b++) {
    if (name === "softmax_cross_entropy") {
      let m = -Infinity, s = 0, tsum = 0;
      for (let c = 0; c < C; c++) m = Math.max(m, z[b * C + c]);
      for (let c = 0; c < C; c++) s += Math.exp(z[b * C + c] - m);
      for (let c = 0; c < C; c++) tsum += target(b, c);
      for (let c = 0; c < C; c++) {
        const logp = z[b * C + c] - m - Math.log(s);
        total -= target(b, c) * logp;
        dz[b * C + c] = (Math.exp(logp) * tsum - target(b, c)) / B;
      }
    } else if (name === "binary_cross_entropy") {
      for (let c = 0; c < C; c++) {
        const v = z[b * C + c], t = target(b, c);
        // -t log s(v) - (1 - t) log(1 - s(v)) = softplus(v) - t v
        total += Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))) - t * v;
        dz[b * C + c] = (sigmoid(v) - t) / (B * C);
      }
    } else if (name === "mse") {
      for (let c = 0; c < C; c++) {
        const d = z[b * C + c] - target(b, c);
        total += d * d;
        dz[b * C + c] = (2 * d) / (B * C);
      }
    } else {
      return null;
    }
  }
  return [name === "softmax_cross_entropy" ? total / B : total / (B * C), dz];
}

// params: [{W, b}], sizes: [n0, ..., nL]; returns [loss, [{W, b}]] or null if unsupported.
function valueAndGrad(sizes, acts, lossName, params, x, y, B, labels) {
  const L = sizes.length - 1;
  if (acts.some((a) => !(a in ACT))) return null;
  const inputs = [x], pre = [];
  let a = x;
  for (let l = 0; l < L; l++) {
    const n = sizes[l], m = sizes[l + 1], { W, b } = params[l];
    const z = new Float64Array(B * m);
    for (let i = 0; i < B; i++)
      for (let j = 0; j < m; j++) {
        let s = b[j];
        for (let k = 0; k < n; k++) s += a[i * n + k] * W[k * m + j];
        z[i * m + j] = s;
      }
    pre.push(z);
    if (l < L - 1) {
      a = z.map(ACT[acts[l]][0]);
      inputs.push(a);
    }
  }
  const result = lossAndGrad(lossName, pre[L - 1], y, B, sizes[L], labels);
  if (result === null) return null;
  let [value, g] = result;
  const grads = new Array(L);
  for (let l = L - 1; l >= 0; l--) {
    const n = sizes[l], m = sizes[l + 1], ain = inputs[l], W = params[l].W;
    const dW = new Float64Array(n * m), db = new Float64Array(m);
    for (let i = 0; i < B; i++)
      for (let j = 0; j < m; j++) {
        const gij = g[i * m + j];
        db[j] += gij;
        for (let k = 0; k < n; k++) dW[k * m + j] += ain[i * n + k] * gij;
      }
    grads[l] = { W: dW, b: db };
    if (l > 0) {
      const below = new Float64Array(B * n), deriv = ACT[acts[l - 1]][1];
      for (let i = 0; i < B; i++)
        for (let k = 0; k < n; k++) {
          let s = 0;
          for (let j = 0; j < m; j++) s += g[i * m + j] * W[k * m + j];
          below[i * n + k] = s * deriv(pre[l - 1][i * n + k], ain[i * n + k]);
        }
      g = below;
    }
  }
  return [value, grads];
}

module.exports = { valueAndGrad, setBug: (b) => { BUG = b; } };
