/* Check a small MLP written in C against funcnn's golden files.
 *
 *   gcc -O2 -std=c99 -o check_golden check_golden.c -lm
 *   ./check_golden DIR [--bug tanh-square] [--results RESULTS.json]
 *
 * With --results it also writes what it computed for each supported network case (the
 * mean loss and every gradient, numbers printed with %.17g) as a results file for
 * `funcnn-verify --compare-golden RESULTS.json --golden DIR`, which applies funcnn's
 * comparison rule and prints hints (docs/golden-format.md, "Results files").
 *
 * Reads DIR/index.txt (the flat text twin of manifest.json: one record per line, fields
 * separated by spaces) and DIR/data.bin (raw little-endian arrays), nothing else. The MLP:
 * dense layers z = a W + b (W is n_in x n_out, row-major), identity / relu / leaky_relu /
 * tanh / sigmoid / softplus, and softmax cross-entropy (labels), binary cross-entropy and
 * mse, each the mean over the batch (and the outputs for the last two). Exit status 0
 * when every supported network case passes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 8
#define MAXT 64

typedef struct { char name[64], dtype[16]; long offset, nbytes; } Tensor;
typedef struct {
  char id[160], dtype[16], acts[128], loss[48], labels[16];
  int sizes[MAXL + 1], nsizes, ntensors; double value; Tensor t[MAXT];
} Case;

static unsigned char *data;
static int bug_tanh;
static FILE *results; /* --results: the JSON being written, or NULL */
static int results_cases;
static double grad_factor, rtol64, rtol32;

static double *load(const Case *c, const char *name, long *count) {
  for (int i = 0; i < c->ntensors; i++) {
    const Tensor *t = &c->t[i];
    if (strcmp(t->name, name)) continue;
    int wide = !strcmp(t->dtype, "float64");
    long n = t->nbytes / (wide ? 8 : 4);
    double *out = malloc(sizeof(double) * (n ? n : 1));
    for (long k = 0; k < n; k++) {
      const unsigned char *p = data + t->offset + k * (wide ? 8 : 4);
      uint64_t bits = 0; /* little-endian, whatever the host */
      for (int j = (wide ? 7 : 3); j >= 0; j--) bits = bits << 8 | p[j];
      if (wide) { double d; memcpy(&d, &bits, 8); out[k] = d; }
      else if (!strcmp(t->dtype, "float32")) { uint32_t b = (uint32_t)bits; float f; memcpy(&f, &b, 4); out[k] = f; }
      else out[k] = (double)(int32_t)(uint32_t)bits;
    }
    if (count) *count = n;
    return out;
  }
  fprintf(stderr, "case %s: no tensor %s\n", c->id, name);
  exit(2);
}

static double sigm(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

static int act_id(const char *a) {
  const char *names[] = {"identity", "relu", "leaky_relu", "tanh", "sigmoid", "softplus"};
  for (int i = 0; i < 6; i++) if (!strcmp(a, names[i])) return i;
  return -1;
}

static double act(int f, double z) {
  switch (f) {
    case 1: return z > 0 ? z : 0;
    case 2: return z > 0 ? z : 0.01 * z;
    case 3: return tanh(z);
    case 4: return sigm(z);
    case 5: return fmax(z, 0) + log1p(exp(-fabs(z)));
    default: return z;
  }
}

static double deriv(int f, double z, double a) {
  switch (f) {
    case 1: return z > 0;
    case 2: return z > 0 ? 1 : 0.01;
    case 3: return bug_tanh ? 1 - a : 1 - a * a;
    case 4: return a * (1 - a);
    case 5: return sigm(z);
    default: return 1;
  }
}

/* Mean loss; dz = dL/dz (B x C). Returns NAN for an unsupported loss. */
static double loss_grad(const char *name, const double *z, const double *y, int labels,
                        int B, int C, double *dz) {
  double total = 0;
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      /* Labels are class indices (one-hot), except that with one output a 0/1 label is
         the target itself (binary cross-entropy, mse), as funcnn reads labels. */
      int one_hot = C > 1 || !strcmp(name, "softmax_cross_entropy");
      double t = labels ? (one_hot ? (y[b] == c) : y[b]) : y[b * C + c], v = z[b * C + c];
      if (!strcmp(name, "softmax_cross_entropy")) {
        double m = -INFINITY, s = 0, tsum = 0;
        for (int k = 0; k < C; k++) m = fmax(m, z[b * C + k]);
        for (int k = 0; k < C; k++) s += exp(z[b * C + k] - m);
        for (int k = 0; k < C; k++) tsum += labels ? (y[b] == k) : y[b * C + k];
        double logp = v - m - log(s);
        total -= t * logp / B;
        dz[b * C + c] = (exp(logp) * tsum - t) / B;
      } else if (!strcmp(name, "binary_cross_entropy")) {
        total += (fmax(v, 0) + log1p(exp(-fabs(v))) - t * v) / (B * C);
        dz[b * C + c] = (sigm(v) - t) / (B * C);
      } else if (!strcmp(name, "mse")) {
        total += (v - t) * (v - t) / (B * C);
        dz[b * C + c] = 2 * (v - t) / (B * C);
      } else return NAN;
    }
  return total;
}

/* One number of a results file: %.17g gives back the same double; JSON has no NaN. */
static void put_number(double v) {
  if (isnan(v)) fputs("\"NaN\"", results);
  else if (isinf(v)) fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", results);
  else fprintf(results, "%.17g", v);
}

static void put_array(const char *name, const double *v, long n) {
  fprintf(results, ",\n   \"%s\": [", name);
  for (long i = 0; i < n; i++) { if (i) fputc(',', results); put_number(v[i]); }
  fputc(']', results);
}

/* 1 pass, 0 fail, -1 unsupported. */
static int check_case(const Case *c) {
  int L = c->nsizes - 1, f[MAXL], B;
  char acts[128], *tok = acts;
  strcpy(acts, c->acts);
  for (int l = 0; l < L - 1; l++) {
    char *comma = strchr(tok, ',');
    if (comma) *comma = 0;
    if ((f[l] = act_id(tok)) < 0) return -1;
    tok = comma ? comma + 1 : tok;
  }
  long nx;
  double *a[MAXL + 1], *z[MAXL], *W[MAXL], *bias[MAXL], *x = load(c, "x", &nx);
  double *y = load(c, "y", NULL);
  char key[64];
  B = (int)(nx / c->sizes[0]);
  a[0] = x;
  for (int l = 0; l < L; l++) {
    int n = c->sizes[l], m = c->sizes[l + 1];
    sprintf(key, "params/%d/W", l); W[l] = load(c, key, NULL);
    sprintf(key, "params/%d/b", l); bias[l] = load(c, key, NULL);
    z[l] = malloc(sizeof(double) * B * m);
    a[l + 1] = malloc(sizeof(double) * B * m);
    for (int i = 0; i < B; i++)
      for (int j = 0; j < m; j++) {
        double s = bias[l][j];
        for (int k = 0; k < n; k++) s += a[l][i * n + k] * W[l][k * m + j];
        z[l][i * m + j] = s;
        a[l + 1][i * m + j] = l < L - 1 ? act(f[l], s) : s;
      }
  }
  int C = c->sizes[L];
  double *g = malloc(sizeof(double) * B * C);
  double value = loss_grad(c->loss, z[L - 1], y, !strcmp(c->labels, "int32"), B, C, g);
  if (isnan(value)) return -1;
  double rtol = strcmp(c->dtype, "float64") ? rtol32 : rtol64;
  double worst = fabs(value - c->value) / (rtol * fmax(1, fabs(c->value)));
  char where[96] = "loss";
  if (results) {
    fprintf(results, "%s\n  \"%s\": {\"value\": ", results_cases++ ? "," : "", c->id);
    put_number(value);
  }
  for (int l = L - 1; l >= 0; l--) {
    int n = c->sizes[l], m = c->sizes[l + 1];
    double *dW = calloc((size_t)n * m, sizeof(double)), *db = calloc(m, sizeof(double));
    for (int i = 0; i < B; i++)
      for (int j = 0; j < m; j++) {
        db[j] += g[i * m + j];
        for (int k = 0; k < n; k++) dW[k * m + j] += a[l][i * n + k] * g[i * m + j];
      }
    for (int w = 0; w < 2; w++) {
      long count;
      sprintf(key, "grads/%d/%s", l, w ? "b" : "W");
      double *want = load(c, key, &count), *have = w ? db : dW;
      if (results) put_array(key, have, count);
      sprintf(key, "tolerance/%d/%s", l, w ? "b" : "W");
      double *tol = load(c, key, NULL);
      for (long i = 0; i < count; i++) {
        double allowed = grad_factor * tol[i] + rtol * fabs(want[i]);
        double ratio = fabs(have[i] - want[i]) / fmax(allowed, 1e-300);
        if (!(ratio <= worst)) { worst = ratio; sprintf(where, "grads/%d/%s[%ld]", l, w ? "b" : "W", i); }
      }
      free(want); free(tol);
    }
    if (l > 0) { /* g <- (g W^T) * act'(z) */
      double *below = malloc(sizeof(double) * B * n);
      for (int i = 0; i < B; i++)
        for (int k = 0; k < n; k++) {
          double s = 0;
          for (int j = 0; j < m; j++) s += g[i * m + j] * W[l][k * m + j];
          below[i * n + k] = s * deriv(f[l - 1], z[l - 1][i * n + k], a[l][i * n + k]);
        }
      free(g); g = below;
    }
    free(dW); free(db);
  }
  if (results) fputc('}', results);
  if (worst > 1) printf("FAIL %s: %s off by %.3g x the tolerance\n", c->id, where, worst);
  for (int l = 0; l < L; l++) { free(z[l]); free(a[l + 1]); free(W[l]); free(bias[l]); }
  free(g); free(x); free(y);
  return worst <= 1;
}

static void field(const char *line, const char *key, char *out, size_t size) {
  const char *p = strstr(line, key);
  out[0] = 0;
  if (p) { p += strlen(key); size_t n = strcspn(p, " \n"); if (n >= size) n = size - 1; memcpy(out, p, n); out[n] = 0; }
}

int main(int argc, char **argv) {
  const char *results_path = NULL;
  for (int i = 2; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--bug") && !strcmp(argv[i + 1], "tanh-square")) bug_tanh = 1;
    else if (i + 1 < argc && !strcmp(argv[i], "--results")) results_path = argv[i + 1];
    else { argc = 0; break; }
    i++;
  }
  if (argc < 2) { fprintf(stderr, "usage: %s DIR [--bug tanh-square] [--results FILE]\n", argv[0]); return 2; }
  if (results_path && !(results = fopen(results_path, "w"))) { perror(results_path); return 2; }
  if (results) fputs("{\"format\": \"funcnn-golden-results/1\", \"program\": \"check_golden.c\",\n \"cases\": {", results);
  char path[4096], line[4096], buf[256];
  snprintf(path, sizeof path, "%s/data.bin", argv[1]);
  FILE *in = fopen(path, "rb");
  if (!in) { perror(path); return 2; }
  fseek(in, 0, SEEK_END); long size = ftell(in); fseek(in, 0, SEEK_SET);
  data = malloc(size ? size : 1);
  if (fread(data, 1, size, in) != (size_t)size) { perror(path); return 2; }
  fclose(in);
  snprintf(path, sizeof path, "%s/index.txt", argv[1]);
  if (!(in = fopen(path, "r"))) { perror(path); return 2; }
  static Case c;
  int have = 0, passed = 0, failed = 0, skipped = 0;
  for (int more = 1; more;) {
    more = fgets(line, sizeof line, in) != NULL;
    if ((!more || !strncmp(line, "case ", 5)) && have) {
      int r = check_case(&c);
      passed += r == 1; failed += r == 0; skipped += r < 0;
      have = 0;
    }
    if (!more) break;
    if (!strncmp(line, "rule network ", 13)) {
      field(line, "grad_factor=", buf, sizeof buf); grad_factor = atof(buf);
      field(line, "rtol_float64=", buf, sizeof buf); rtol64 = atof(buf);
      field(line, "rtol_float32=", buf, sizeof buf); rtol32 = atof(buf);
    } else if (!strncmp(line, "case ", 5)) {
      char kind[32];
      memset(&c, 0, sizeof c);
      sscanf(line, "case %159s %31s %15s", c.id, kind, c.dtype);
      if (strcmp(kind, "network")) continue;
      have = 1;
      field(line, " activations=", c.acts, sizeof c.acts);
      field(line, " loss=", c.loss, sizeof c.loss);
      field(line, " labels=", c.labels, sizeof c.labels);
      field(line, " value=", buf, sizeof buf); c.value = strtod(buf, NULL);
      field(line, " sizes=", buf, sizeof buf);
      for (char *p = buf; *p && c.nsizes <= MAXL; p += strcspn(p, ",") + (p[strcspn(p, ",")] != 0))
        c.sizes[c.nsizes++] = atoi(p);
      if (!strcmp(c.acts, "-")) c.acts[0] = 0;
    } else if (have && !strncmp(line, "tensor ", 7) && c.ntensors < MAXT) {
      Tensor *t = &c.t[c.ntensors++];
      sscanf(line, "tensor %63s %15s %ld %ld", t->name, t->dtype, &t->offset, &t->nbytes);
    }
  }
  fclose(in);
  if (results) {
    fputs("\n }\n}\n", results);
    if (fclose(results)) { perror(results_path); return 2; }
  }
  printf("%d passed, %d failed, %d skipped (unsupported loss or activation)\n", passed, failed, skipped);
  free(data);
  return failed ? 1 : 0;
}
