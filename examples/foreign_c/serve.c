/* A small MLP in C behind funcnn's foreign protocol, version 2 (docs/foreign-protocol.md):
 * one JSON request per line on stdin, one JSON answer per line on stdout.
 *
 *   gcc -O2 -std=c99 -o serve serve.c -lm
 *   funcnn-verify --foreign "./serve" [--quick]
 *   ./serve --bug tanh-square | --bug transposed     (a planted backprop bug)
 *
 * Ops: hello, value_and_grad, problem (kept: spec, x, y, parameters) and moves (the kept
 * problem's loss at params + step * a sparse direction, per point). The MLP: dense layers
 * z = a W + b (W is n_in x n_out, row-major), identity / relu / leaky_relu / tanh /
 * sigmoid / softplus, softmax cross-entropy (labels or targets), binary cross-entropy and
 * mse, each the mean over the batch (and the outputs for the last two); float64 only.
 * Standard library only: a JSON reader of about 100 lines and a base64 decoder. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 8

/* ---- JSON: parsed in place (strings are NUL-terminated inside the line) ---- */
enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct J { int type, n; double num; char *str, **keys; struct J *items; } J;

static char *at; /* the parser's position */

static void skip(void) { while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++; }

static int parse(J *out);

static char *parse_string(void) { /* at points past the opening quote */
  char *start = at, *w = at;
  while (*at && *at != '"') {
    if (*at == '\\') {
      at++;
      char c = *at == 'n' ? '\n' : *at == 't' ? '\t' : *at == 'u' ? '?' : *at;
      if (*at == 'u') at += 4;
      *w++ = c; at++;
    } else *w++ = *at++;
  }
  if (*at != '"') return NULL;
  at++; *w = 0;
  return start;
}

static int parse_items(J *out, char close) { /* arrays and objects */
  int cap = 0;
  out->n = 0; out->items = NULL; out->keys = NULL;
  skip();
  if (*at == close) { at++; return 1; }
  for (;;) {
    if (out->n == cap) {
      cap = cap ? 2 * cap : 4;
      out->items = realloc(out->items, sizeof(J) * cap);
      if (close == '}') out->keys = realloc(out->keys, sizeof(char *) * cap);
    }
    skip();
    if (close == '}') {
      if (*at++ != '"' || !(out->keys[out->n] = parse_string())) return 0;
      skip();
      if (*at++ != ':') return 0;
    }
    if (!parse(&out->items[out->n++])) return 0;
    skip();
    if (*at == ',') { at++; continue; }
    if (*at++ == close) return 1;
    return 0;
  }
}

static int parse(J *out) {
  skip();
  memset(out, 0, sizeof *out);
  if (*at == '{') { at++; out->type = J_OBJ; return parse_items(out, '}'); }
  if (*at == '[') { at++; out->type = J_ARR; return parse_items(out, ']'); }
  if (*at == '"') { at++; out->type = J_STR; return (out->str = parse_string()) != NULL; }
  if (!strncmp(at, "true", 4) || !strncmp(at, "null", 4)) {
    out->type = *at == 't' ? J_BOOL : J_NULL; out->num = *at == 't'; at += 4; return 1;
  }
  if (!strncmp(at, "false", 5)) { out->type = J_BOOL; at += 5; return 1; }
  char *end;
  out->type = J_NUM; out->num = strtod(at, &end);
  if (end == at) return 0;
  at = end;
  return 1;
}

static void release(J *j) {
  for (int i = 0; i < j->n; i++) release(&j->items[i]);
  free(j->items); free(j->keys);
}

static J *get(J *obj, const char *key) {
  for (int i = 0; obj && obj->type == J_OBJ && i < obj->n; i++)
    if (!strcmp(obj->keys[i], key)) return &obj->items[i];
  return NULL;
}

/* ---- arrays: {"shape", "dtype", "base64" | "data"} -> doubles ---- */
static int b64(char c) {
  return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
       : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

static double *array(J *a, long *count) {
  J *data = get(a, "data"), *text = get(a, "base64"), *dtype = get(a, "dtype");
  double *out;
  if (data) {
    out = malloc(sizeof(double) * (data->n ? data->n : 1));
    for (int i = 0; i < data->n; i++) out[i] = data->items[i].num;
    *count = data->n;
    return out;
  }
  if (!text || !dtype) return NULL;
  size_t len = strlen(text->str), nbytes = 0;
  unsigned char *bytes = malloc(len / 4 * 3 + 3);
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    for (int k = 0; k < 4; k++) v[k] = i + k < len ? b64(text->str[i + k]) : -1;
    bytes[nbytes++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    if (v[2] >= 0) bytes[nbytes++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
    if (v[3] >= 0) bytes[nbytes++] = (unsigned char)(v[2] << 6 | v[3]);
  }
  int wide = !strcmp(dtype->str, "float64"), size = wide ? 8 : 4;
  *count = (long)(nbytes / size);
  out = malloc(sizeof(double) * (*count ? *count : 1));
  for (long k = 0; k < *count; k++) {
    uint64_t bits = 0; /* little-endian, whatever the host */
    for (int j = size - 1; j >= 0; j--) bits = bits << 8 | bytes[k * size + j];
    if (wide) memcpy(&out[k], &bits, 8);
    else if (!strcmp(dtype->str, "float32")) {
      uint32_t b = (uint32_t)bits; float f; memcpy(&f, &b, 4); out[k] = f;
    } else out[k] = (double)(int32_t)(uint32_t)bits;
  }
  free(bytes);
  return out;
}

/* ---- the MLP ---- */
typedef struct {
  int L, sizes[MAXL + 1], f[MAXL], B, labels, n; /* n: parameters */
  char loss[48];
  double *x, *y;
} Net;

static const char *BUG = "";

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
    case 3: return strcmp(BUG, "tanh-square") ? 1 - a * a : 1 - a;
    case 4: return a * (1 - a);
    case 5: return sigm(z);
    default: return 1;
  }
}

/* Labels are class indices (one-hot), except that with one output a 0/1 label is the
 * target itself (binary cross-entropy, mse), as funcnn reads labels. */
static double target(const Net *net, int b, int c, int C) {
  int one_hot = C > 1 || !strcmp(net->loss, "softmax_cross_entropy");
  if (!net->labels) return net->y[b * C + c];
  return one_hot ? (net->y[b] == c) : net->y[b];
}

/* Mean loss of logits z (B x C); dz = dL/dz. */
static double loss_grad(const Net *net, const double *z, double *dz) {
  int B = net->B, C = net->sizes[net->L];
  double total = 0;
  for (int b = 0; b < B; b++) {
    double m = -INFINITY, s = 0, tsum = 0;
    for (int c = 0; c < C; c++) { m = fmax(m, z[b * C + c]); tsum += target(net, b, c, C); }
    for (int c = 0; c < C; c++) s += exp(z[b * C + c] - m);
    for (int c = 0; c < C; c++) {
      double v = z[b * C + c], t = target(net, b, c, C);
      if (!strcmp(net->loss, "softmax_cross_entropy")) {
        double logp = v - m - log(s);
        total -= t * logp / B;
        dz[b * C + c] = (exp(logp) * tsum - t) / B;
      } else if (!strcmp(net->loss, "binary_cross_entropy")) {
        total += (fmax(v, 0) + log1p(exp(-fabs(v))) - t * v) / (B * C);
        dz[b * C + c] = (sigm(v) - t) / (B * C);
      } else { /* mse */
        total += (v - t) * (v - t) / (B * C);
        dz[b * C + c] = 2 * (v - t) / (B * C);
      }
    }
  }
  return total;
}

/* Mean loss at the flat parameters theta (W then b, layer by layer); its gradient into
 * grad (same layout) unless grad is NULL. */
static double run(const Net *net, const double *theta, double *grad) {
  int L = net->L, B = net->B;
  double *a[MAXL + 1], *z[MAXL];
  const double *W[MAXL], *bias[MAXL];
  long off = 0;
  a[0] = net->x;
  for (int l = 0; l < L; l++) {
    int n = net->sizes[l], m = net->sizes[l + 1];
    W[l] = theta + off; bias[l] = theta + off + (long)n * m; off += (long)n * m + m;
    z[l] = malloc(sizeof(double) * B * m); a[l + 1] = malloc(sizeof(double) * B * m);
    for (int i = 0; i < B; i++)
      for (int j = 0; j < m; j++) {
        double s = bias[l][j];
        for (int k = 0; k < n; k++) s += a[l][i * n + k] * W[l][k * m + j];
        z[l][i * m + j] = s;
        a[l + 1][i * m + j] = l < L - 1 ? act(net->f[l], s) : s;
      }
  }
  double *g = malloc(sizeof(double) * B * net->sizes[L]);
  double value = loss_grad(net, z[L - 1], g);
  for (int l = L - 1; grad && l >= 0; l--) {
    int n = net->sizes[l], m = net->sizes[l + 1];
    off -= (long)n * m + m;
    double *dW = grad + off, *db = dW + (long)n * m;
    memset(dW, 0, sizeof(double) * ((size_t)n * m + m));
    for (int i = 0; i < B; i++)
      for (int j = 0; j < m; j++) {
        db[j] += g[i * m + j];
        for (int k = 0; k < n; k++) dW[k * m + j] += a[l][i * n + k] * g[i * m + j];
      }
    if (l > 0) { /* g <- (g W^T) * act'(z) */
      double *below = malloc(sizeof(double) * B * n);
      int flip = !strcmp(BUG, "transposed"); /* reads W as if it were m x n */
      for (int i = 0; i < B; i++)
        for (int k = 0; k < n; k++) {
          double s = 0;
          for (int j = 0; j < m; j++) s += g[i * m + j] * W[l][flip ? j * n + k : k * m + j];
          below[i * n + k] = s * deriv(net->f[l - 1], z[l - 1][i * n + k], a[l][i * n + k]);
        }
      free(g); g = below;
    }
  }
  for (int l = 0; l < L; l++) { free(z[l]); free(a[l + 1]); }
  free(g);
  return value;
}

/* ---- requests ---- */
static Net kept;            /* the last problem */
static double *kept_theta;  /* its parameters */

static const char *set_net(J *m, Net *net, double **theta) {
  J *spec = get(m, "spec"), *sizes = get(spec, "sizes"), *acts = get(spec, "activations");
  J *loss = get(spec, "loss"), *params = get(m, "params"), *y = get(m, "y");
  if (!sizes || !acts || !loss || !params || !get(m, "x") || !y) return "missing field";
  J *dtype = get(m, "dtype");
  if (!dtype || dtype->type != J_STR || strcmp(dtype->str, "float64")) return "only float64";
  memset(net, 0, sizeof *net);
  net->L = sizes->n - 1;
  if (net->L < 1 || net->L > MAXL) return "unsupported depth";
  for (int i = 0; i < sizes->n; i++) net->sizes[i] = (int)sizes->items[i].num;
  for (int l = 0; l < acts->n; l++)
    if ((net->f[l] = act_id(acts->items[l].str)) < 0) return "unsupported activation";
  snprintf(net->loss, sizeof net->loss, "%s", loss->str);
  if (strcmp(net->loss, "softmax_cross_entropy") && strcmp(net->loss, "binary_cross_entropy")
      && strcmp(net->loss, "mse")) return "unsupported loss";
  long nx, ny, count;
  net->x = array(get(m, "x"), &nx); net->y = array(y, &ny);
  net->B = (int)(nx / net->sizes[0]);
  net->labels = !strcmp(get(y, "dtype")->str, "int32");
  for (int l = 0; l < net->L; l++) net->n += net->sizes[l] * net->sizes[l + 1] + net->sizes[l + 1];
  *theta = malloc(sizeof(double) * net->n);
  long at_ = 0;
  for (int l = 0; l < net->L; l++)
    for (int w = 0; w < 2; w++) {
      double *part = array(get(&params->items[l], w ? "b" : "W"), &count);
      memcpy(*theta + at_, part, sizeof(double) * count); at_ += count; free(part);
    }
  return NULL;
}

static void free_net(Net *net, double *theta) { free(net->x); free(net->y); free(theta); }

static void print_array(const double *v, long n) {
  for (long i = 0; i < n; i++) printf(i ? ",%.17g" : "%.17g", v[i]);
}

static const char *answer(J *m) {
  const char *op = get(m, "op")->str, *err;
  if (!strcmp(op, "hello")) {
    printf("\"protocol\":\"funcnn-foreign/2\",\"dtypes\":[\"float64\"],\"activations\":"
           "[\"identity\",\"relu\",\"leaky_relu\",\"tanh\",\"sigmoid\",\"softplus\"],"
           "\"losses\":[\"softmax_cross_entropy\",\"binary_cross_entropy\",\"mse\"]");
  } else if (!strcmp(op, "value_and_grad")) {
    Net net; double *theta;
    if ((err = set_net(m, &net, &theta))) return err;
    double *grad = malloc(sizeof(double) * net.n);
    printf("\"loss\":%.17g,\"grads\":[", run(&net, theta, grad));
    long off = 0;
    for (int l = 0; l < net.L; l++) {
      int n = net.sizes[l], k = net.sizes[l + 1];
      printf("%s{\"W\":{\"shape\":[%d,%d],\"data\":[", l ? "," : "", n, k);
      print_array(grad + off, (long)n * k);
      printf("]},\"b\":{\"shape\":[%d],\"data\":[", k);
      print_array(grad + off + (long)n * k, k);
      printf("]}}");
      off += (long)n * k + k;
    }
    printf("]");
    free(grad); free_net(&net, theta);
  } else if (!strcmp(op, "problem")) {
    if (kept_theta) free_net(&kept, kept_theta);
    kept_theta = NULL;
    if ((err = set_net(m, &kept, &kept_theta))) return err;
    printf("\"loss\":%.17g", run(&kept, kept_theta, NULL));
  } else if (!strcmp(op, "moves")) {
    if (!kept_theta) return "moves before any problem";
    J *d = get(m, "directions");
    long nr, ni, nv, nw, ns;
    double *offsets = array(get(d, "offsets"), &nr), *index = array(get(d, "index"), &ni);
    double *value = array(get(d, "value"), &nv), *which = array(get(m, "which"), &nw);
    double *step = array(get(m, "step"), &ns);
    double *theta = malloc(sizeof(double) * kept.n);
    printf("\"losses\":[");
    for (long p = 0; p < nw; p++) {
      long r = (long)which[p];
      memcpy(theta, kept_theta, sizeof(double) * kept.n);
      for (long j = (long)offsets[r]; j < (long)offsets[r + 1]; j++)
        theta[(long)index[j]] += step[p] * value[j];
      printf(p ? ",%.17g" : "%.17g", run(&kept, theta, NULL));
    }
    printf("]");
    free(theta); free(offsets); free(index); free(value); free(which); free(step);
  } else return "unknown op";
  return NULL;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--bug")) BUG = argv[2];
  else if (argc != 1) { fprintf(stderr, "usage: %s [--bug tanh-square|transposed]\n", argv[0]); return 2; }
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    J m;
    at = line;
    if (!parse(&m) || m.type != J_OBJ || !get(&m, "op")) {
      printf("{\"error\":\"not a request\"}\n"); fflush(stdout); release(&m); continue;
    }
    J *id = get(&m, "id");
    printf("{\"id\":%ld,", id ? (long)id->num : 0L);
    const char *err = answer(&m);
    if (err) printf("\"error\":\"%s\"", err);
    printf("}\n");
    fflush(stdout);
    release(&m);
  }
  free(line);
  return 0;
}
