/*
 * mtx native kernels: the hot TensorFlow.js kernels (BatchMatMul, Tanh, Exp) run here on the wasm backend's
 * own heap, with no copies. Matrix products go to OpenBLAS's cblas_sgemm when the shared library is on the
 * machine (Debian's libopenblas0, loaded with dlopen so the add-on builds without it), and to the blocked
 * kernel below otherwise. Causal attention is fused: it reads q, k and v in their [B, T, H*hd] layout, so
 * no head transposes are needed. GELU, RMSNorm and cross-entropy are fused, forward and backward, so a layer
 * is one pass over memory instead of a dozen tfjs kernels. Transcendentals are plain loops that gcc vectorizes against glibc's libmvec.
 *
 * Every function takes Float32Array views of the wasm heap; the caller makes sure they stay valid (no
 * allocation between taking the views and the call).
 */
#define NAPI_VERSION 8
#define _POSIX_C_SOURCE 200809L
#include <node_api.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static sgemm_fn blas_sgemm = NULL;
static set_threads_fn blas_set_threads = NULL;
static get_threads_fn blas_get_threads = NULL;
static const char *blas_name = "builtin";
/* Threads for the add-on's own loops over heads (attention); setThreads sets it with OpenBLAS's. */
static int own_threads = 1;

static void load_blas(void) {
  static int tried = 0;
  if (tried) return;
  tried = 1;
  if (getenv("MTX_NO_BLAS")) return;
  const char *names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    sgemm_fn f = (sgemm_fn)dlsym(h, "cblas_sgemm");
    if (!f) continue;
    blas_sgemm = f;
    blas_set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    blas_get_threads = (get_threads_fn)dlsym(h, "openblas_get_num_threads");
    blas_name = "openblas";
    return;
  }
}

/* ---- built-in sgemm: C[m,n] = op(A) op(B), row-major, packed panels, 4x32 register tile ---- */

#define MR 4
#define NR 32
#define KC 256

/* Copy op(A) rows [i0, i0+m) into a row-major m x k buffer. */
static void pack_a(const float *a, int ta, int lda, int i0, int m, int k0, int kc, float *out) {
  for (int i = 0; i < m; i++)
    for (int p = 0; p < kc; p++) out[i * kc + p] = ta ? a[(size_t)(k0 + p) * lda + i0 + i] : a[(size_t)(i0 + i) * lda + k0 + p];
}

static void builtin_sgemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
  for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, sizeof(float) * n);
  int np = (n + NR - 1) / NR * NR;
  float *bp = aligned_alloc(64, sizeof(float) * (size_t)KC * np + 64);
  float *ap = aligned_alloc(64, sizeof(float) * (size_t)MR * KC + 64);
  for (int k0 = 0; k0 < k; k0 += KC) {
    int kc = k - k0 < KC ? k - k0 : KC;
    memset(bp, 0, sizeof(float) * (size_t)kc * np);
    for (int p = 0; p < kc; p++)
      for (int j = 0; j < n; j++) bp[(size_t)p * np + j] = tb ? b[(size_t)j * ldb + k0 + p] : b[(size_t)(k0 + p) * ldb + j];
    for (int i0 = 0; i0 < m; i0 += MR) {
      int mr = m - i0 < MR ? m - i0 : MR;
      memset(ap, 0, sizeof(float) * MR * kc);
      pack_a(a, ta, lda, i0, mr, k0, kc, ap);
      for (int j0 = 0; j0 < np; j0 += NR) {
        float acc[MR][NR];
        memset(acc, 0, sizeof acc);
        for (int p = 0; p < kc; p++) {
          const float *brow = bp + (size_t)p * np + j0;
          for (int i = 0; i < MR; i++) {
            float av = ap[i * kc + p];
            for (int j = 0; j < NR; j++) acc[i][j] += av * brow[j];
          }
        }
        int nr = n - j0 < NR ? n - j0 : NR;
        for (int i = 0; i < mr; i++)
          for (int j = 0; j < nr; j++) c[(size_t)(i0 + i) * ldc + j0 + j] += acc[i][j];
      }
    }
  }
  free(bp);
  free(ap);
}

/* C = op(A) op(B) with leading dimensions (row strides) lda, ldb, ldc. Products under SMALL_GEMM
 * multiply-adds stay on the built-in kernel: OpenBLAS's per-call and threading costs dominate there. */
#define SMALL_GEMM (192 * 192 * 64)
static void sgemm_strided(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
  if (k == 0) {
    for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, sizeof(float) * n);
    return;
  }
  if (blas_sgemm && (size_t)m * n * k > SMALL_GEMM)
    blas_sgemm(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  else
    builtin_sgemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
}

static void sgemm(int ta, int tb, int m, int n, int k, const float *a, const float *b, float *c) {
  sgemm_strided(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n);
}

/* ---- fused causal attention on q, k, v laid out [B, T, H*hd] (no head transposes) ---- */

/* The per-head products run on the built-in kernel, one head per thread: small enough that OpenBLAS's
 * call overhead dominates, and OpenBLAS's own threads would fight the loop's. */

/* out[B,T,D] = softmax(mask(q k^T * scale)) v per head; probs[B,H,T,T] keeps P for the backward pass. */
static void attention_forward(int B, int T, int H, int hd, float scale, const float *q, const float *k, const float *v, float *out, float *probs) {
  int D = H * hd;
#pragma omp parallel for num_threads(own_threads) schedule(static) if (own_threads > 1)
  for (int bh = 0; bh < B * H; bh++) {
    int b = bh / H, h = bh % H;
    {
      size_t base = (size_t)b * T * D + (size_t)h * hd;
      float *p = probs + ((size_t)b * H + h) * T * T;
      builtin_sgemm(0, 1, T, T, hd, q + base, D, k + base, D, p, T);
      for (int i = 0; i < T; i++) {
        float *row = p + (size_t)i * T;
        float mx = row[0] * scale, sum = 0.f;
        for (int j = 0; j <= i; j++) mx = row[j] * scale > mx ? row[j] * scale : mx;
        for (int j = 0; j <= i; j++) sum += (row[j] = expf(row[j] * scale - mx));
        float inv = 1.f / sum;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < T; j++) row[j] = 0.f;
      }
      builtin_sgemm(0, 0, T, hd, T, p, T, v + base, D, out + base, D);
    }
  }
}

/* dq, dk, dv [B,T,D] from dout [B,T,D]: dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)) scale,
 * dQ = dS K, dK = dS^T Q. `work_all` holds B*H*T*T floats (one T*T block per head, so heads run in parallel). */
static void attention_backward(int B, int T, int H, int hd, float scale, const float *q, const float *k, const float *v, const float *probs,
                               const float *dout, float *dq, float *dk, float *dv, float *work_all) {
  int D = H * hd;
#pragma omp parallel for num_threads(own_threads) schedule(static) if (own_threads > 1)
  for (int bh = 0; bh < B * H; bh++) {
    int b = bh / H, h = bh % H;
    {
      float *work = work_all + (size_t)bh * T * T;
      size_t base = (size_t)b * T * D + (size_t)h * hd;
      const float *p = probs + ((size_t)b * H + h) * T * T;
      builtin_sgemm(1, 0, T, hd, T, p, T, dout + base, D, dv + base, D);
      builtin_sgemm(0, 1, T, T, hd, dout + base, D, v + base, D, work, T);
      for (int i = 0; i < T; i++) {
        float *ds = work + (size_t)i * T;
        const float *pr = p + (size_t)i * T;
        float dot = 0.f;
        for (int j = 0; j <= i; j++) dot += ds[j] * pr[j];
        for (int j = 0; j <= i; j++) ds[j] = pr[j] * (ds[j] - dot) * scale;
        for (int j = i + 1; j < T; j++) ds[j] = 0.f;
      }
      builtin_sgemm(0, 0, T, hd, T, work, T, k + base, D, dq + base, D);
      builtin_sgemm(1, 0, T, hd, T, work, T, q + base, D, dk + base, D);
    }
  }
}

/* ---- fused elementwise layers: GELU (tanh form), SwiGLU's gate, RMSNorm, cross-entropy ---- */

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

static void gelu_forward(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = 0.5f * v * (1.f + tanhf(GELU_C * (v + GELU_A * v * v * v)));
  }
}

static void gelu_backward(size_t n, const float *x, const float *dy, float *dx) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float t = tanhf(GELU_C * (v + GELU_A * v * v * v));
    dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * GELU_C * (1.f + 3.f * GELU_A * v * v));
  }
}

/* SwiGLU's gated product y = silu(g) * u = g * sigmoid(g) * u, and its gradients. */
static void swiglu_forward(size_t n, const float *g, const float *u, float *y) {
  for (size_t i = 0; i < n; i++) {
    float v = g[i];
    y[i] = v / (1.f + expf(-v)) * u[i];
  }
}

static void swiglu_backward(size_t n, const float *g, const float *u, const float *dy, float *dg, float *du) {
  for (size_t i = 0; i < n; i++) {
    float v = g[i];
    float s = 1.f / (1.f + expf(-v));
    du[i] = dy[i] * v * s;
    dg[i] = dy[i] * u[i] * s * (1.f + v * (1.f - s));
  }
}

/* y = x * r * g per row of d, r = 1/sqrt(mean(x^2) + eps) kept for the backward pass. */
static void rmsnorm_forward(size_t rows, int d, float eps, const float *x, const float *g, float *y, float *r) {
  for (size_t i = 0; i < rows; i++) {
    const float *xi = x + i * d;
    float ss = 0.f;
    for (int j = 0; j < d; j++) ss += xi[j] * xi[j];
    float ri = 1.f / sqrtf(ss / d + eps);
    r[i] = ri;
    for (int j = 0; j < d; j++) y[i * d + j] = xi[j] * ri * g[j];
  }
}

/* dx = r (dy g - x r^2 mean(dy g x)); dg = sum over rows of dy x r. */
static void rmsnorm_backward(size_t rows, int d, const float *x, const float *g, const float *r, const float *dy, float *dx, float *dg) {
  memset(dg, 0, sizeof(float) * d);
  for (size_t i = 0; i < rows; i++) {
    const float *xi = x + i * d, *dyi = dy + i * d;
    float ri = r[i], dot = 0.f;
    for (int j = 0; j < d; j++) dot += dyi[j] * g[j] * xi[j];
    float k = ri * ri * dot / d;
    for (int j = 0; j < d; j++) {
      dx[i * d + j] = ri * (dyi[j] * g[j] - xi[j] * k);
      dg[j] += dyi[j] * xi[j] * ri;
    }
  }
}

/* loss[i] = logsumexp(l_i) - l_i[target_i]; lse kept for the backward pass. */
static void xent_forward(size_t rows, int v, const float *l, const int32_t *target, float *loss, float *lse) {
  for (size_t i = 0; i < rows; i++) {
    const float *li = l + i * v;
    float mx = li[0], sum = 0.f;
    for (int j = 1; j < v; j++) mx = li[j] > mx ? li[j] : mx;
    for (int j = 0; j < v; j++) sum += expf(li[j] - mx);
    lse[i] = mx + logf(sum);
    loss[i] = lse[i] - li[target[i]];
  }
}

/* dl = (softmax(l) - onehot(target)) * dy per row. */
static void xent_backward(size_t rows, int v, const float *l, const int32_t *target, const float *lse, const float *dy, float *dl) {
  for (size_t i = 0; i < rows; i++) {
    const float *li = l + i * v;
    float *di = dl + i * v;
    for (int j = 0; j < v; j++) di[j] = expf(li[j] - lse[i]) * dy[i];
    di[target[i]] -= dy[i];
  }
}

/* ---- AdamW: one pass over a parameter, its gradient and both moments (the formula of core/optim/AdamW.ts) ---- */

/* Writes p1, m1, v1; returns the sum of squares of the applied change. */
static double adamw(size_t n, const float *p, const float *g0, const float *m, const float *v, float clip, float b1, float c1, float b2, float c2, float bc1,
                    float bc2, float eps, float lr, float decay, float *p1, float *m1, float *v1) {
  double sq = 0;
  for (size_t i = 0; i < n; i++) {
    float g = clip == 1.f ? g0[i] : g0[i] * clip;
    float mi = m[i] * b1 + g * c1;
    float vi = v[i] * b2 + (g * g) * c2;
    float delta = (mi / bc1) / (sqrtf(vi / bc2) + eps) * lr;
    if (decay != 0.f) delta = delta + p[i] * decay;
    m1[i] = mi;
    v1[i] = vi;
    p1[i] = p[i] - delta;
    sq += (double)delta * delta;
  }
  return sq;
}

/* ---- embedding: row gather and its scatter-add gradient ---- */

static void embedding_forward(size_t n, int d, const float *table, const int32_t *ids, float *out) {
  for (size_t i = 0; i < n; i++) memcpy(out + i * d, table + (size_t)ids[i] * d, sizeof(float) * d);
}

static void embedding_backward(size_t n, int d, size_t vocab, const int32_t *ids, const float *dy, float *dtable) {
  memset(dtable, 0, sizeof(float) * vocab * d);
  for (size_t i = 0; i < n; i++) {
    float *row = dtable + (size_t)ids[i] * d;
    for (int j = 0; j < d; j++) row[j] += dy[i * d + j];
  }
}

/* ---- N-API glue ---- */

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "mtx native kernels: " #call);      \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static int f32_view(napi_env env, napi_value v, float **data, size_t *length) {
  napi_typedarray_type type;
  void *ptr;
  napi_value buf;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buf, &offset) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "mtx native kernels: expected a Float32Array");
    return 0;
  }
  *data = ptr;
  return 1;
}

static int i32_view(napi_env env, napi_value v, int32_t **data, size_t *length) {
  napi_typedarray_type type;
  void *ptr;
  napi_value buf;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buf, &offset) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "mtx native kernels: expected an Int32Array");
    return 0;
  }
  *data = ptr;
  return 1;
}

static int32_t int_arg(napi_env env, napi_value v) {
  int32_t x = 0;
  napi_get_value_int32(env, v, &x);
  return x;
}

/* gemm(batch, m, n, k, transA, transB, a, strideA, b, strideB, c): c[i] = op(a[i]) op(b[i]) for each batch i;
 * a stride of 0 broadcasts that operand. */
static napi_value js_gemm(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) {
    napi_throw_error(env, NULL, "mtx native kernels: gemm takes 11 arguments");
    return NULL;
  }
  int batch = int_arg(env, argv[0]), m = int_arg(env, argv[1]), n = int_arg(env, argv[2]), k = int_arg(env, argv[3]);
  int ta = int_arg(env, argv[4]), tb = int_arg(env, argv[5]);
  int sa = int_arg(env, argv[7]), sb = int_arg(env, argv[9]);
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!f32_view(env, argv[6], &a, &la) || !f32_view(env, argv[8], &b, &lb) || !f32_view(env, argv[10], &c, &lc)) return NULL;
  if ((size_t)(batch - 1) * sa + (size_t)m * k > la || (size_t)(batch - 1) * sb + (size_t)k * n > lb || (size_t)batch * m * n > lc) {
    napi_throw_range_error(env, NULL, "mtx native kernels: gemm operands are shorter than their shapes");
    return NULL;
  }
  load_blas();
  for (int i = 0; i < batch; i++) sgemm(ta, tb, m, n, k, a + (size_t)i * sa, b + (size_t)i * sb, c + (size_t)i * m * n);
  return NULL;
}

/* unary(op, x, y): y = f(x) elementwise; op 0 = tanh, 1 = exp. */
static napi_value js_unary(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int op = int_arg(env, argv[0]);
  float *x, *y;
  size_t lx, ly;
  if (!f32_view(env, argv[1], &x, &lx) || !f32_view(env, argv[2], &y, &ly)) return NULL;
  if (ly < lx) {
    napi_throw_range_error(env, NULL, "mtx native kernels: unary output is shorter than its input");
    return NULL;
  }
  if (op == 0)
    for (size_t i = 0; i < lx; i++) y[i] = tanhf(x[i]);
  else
    for (size_t i = 0; i < lx; i++) y[i] = expf(x[i]);
  return NULL;
}

/* Reads argv[first..first+count) as Float32Arrays into t/len; false (with a JS exception) on a wrong type. */
static int f32_args(napi_env env, napi_value *argv, int first, int count, float **t, size_t *len) {
  for (int i = 0; i < count; i++)
    if (!f32_view(env, argv[first + i], &t[i], &len[i])) return 0;
  return 1;
}

static napi_value range_error(napi_env env, const char *what) {
  napi_throw_range_error(env, NULL, what);
  return NULL;
}

/* The arguments both attention entry points start with: B, T, H, hd, scale. */
typedef struct {
  int B, T, H, hd;
  float scale;
} heads_t;

static heads_t heads_args(napi_env env, napi_value *argv) {
  double scale = 0;
  napi_get_value_double(env, argv[4], &scale);
  return (heads_t){int_arg(env, argv[0]), int_arg(env, argv[1]), int_arg(env, argv[2]), int_arg(env, argv[3]), (float)scale};
}

/* attention(B, T, H, hd, scale, q, k, v, out, probs) */
static napi_value js_attention(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *t[5];
  size_t len[5];
  if (argc != 10 || !f32_args(env, argv, 5, 5, t, len)) return NULL;
  heads_t a = heads_args(env, argv);
  size_t act = (size_t)a.B * a.T * a.H * a.hd, pr = (size_t)a.B * a.H * a.T * a.T;
  if (len[0] < act || len[1] < act || len[2] < act || len[3] < act || len[4] < pr) return range_error(env, "mtx native kernels: attention operands do not match B, T, H, hd");
  attention_forward(a.B, a.T, a.H, a.hd, a.scale, t[0], t[1], t[2], t[3], t[4]);
  return NULL;
}

/* attentionGrad(B, T, H, hd, scale, q, k, v, probs, dout, dq, dk, dv) */
static napi_value js_attention_grad(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *t[8];
  size_t len[8];
  if (argc != 13 || !f32_args(env, argv, 5, 8, t, len)) return NULL;
  heads_t a = heads_args(env, argv);
  size_t act = (size_t)a.B * a.T * a.H * a.hd, pr = (size_t)a.B * a.H * a.T * a.T;
  int ok = len[3] >= pr;
  for (int i = 0; i < 8; i++) ok = ok && (i == 3 || len[i] >= act);
  if (!ok) return range_error(env, "mtx native kernels: attentionGrad operands do not match B, T, H, hd");
  float *work = malloc(sizeof(float) * pr);
  if (!work) {
    napi_throw_error(env, NULL, "mtx native kernels: out of memory");
    return NULL;
  }
  attention_backward(a.B, a.T, a.H, a.hd, a.scale, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], work);
  free(work);
  return NULL;
}

/* gelu(x, y) and geluGrad(x, dy, dx) */
static napi_value js_gelu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *t[2];
  size_t len[2];
  if (argc != 2 || !f32_args(env, argv, 0, 2, t, len)) return NULL;
  if (len[1] < len[0]) return range_error(env, "mtx native kernels: gelu output is shorter than its input");
  gelu_forward(len[0], t[0], t[1]);
  return NULL;
}

static napi_value js_gelu_grad(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *t[3];
  size_t len[3];
  if (argc != 3 || !f32_args(env, argv, 0, 3, t, len)) return NULL;
  if (len[1] < len[0] || len[2] < len[0]) return range_error(env, "mtx native kernels: geluGrad operands differ in length");
  gelu_backward(len[0], t[0], t[1], t[2]);
  return NULL;
}

/* swiglu(g, u, y) and swigluGrad(g, u, dy, dg, du) */
static napi_value js_swiglu(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *t[3];
  size_t len[3];
  if (argc != 3 || !f32_args(env, argv, 0, 3, t, len)) return NULL;
  if (len[1] < len[0] || len[2] < len[0]) return range_error(env, "mtx native kernels: swiglu operands differ in length");
  swiglu_forward(len[0], t[0], t[1], t[2]);
  return NULL;
}

static napi_value js_swiglu_grad(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *t[5];
  size_t len[5];
  if (argc != 5 || !f32_args(env, argv, 0, 5, t, len)) return NULL;
  for (int i = 1; i < 5; i++)
    if (len[i] < len[0]) return range_error(env, "mtx native kernels: swigluGrad operands differ in length");
  swiglu_backward(len[0], t[0], t[1], t[2], t[3], t[4]);
  return NULL;
}

/* rmsNorm(d, eps, x, g, y, r) */
static napi_value js_rmsnorm(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int d = int_arg(env, argv[0]);
  double eps = 0;
  napi_get_value_double(env, argv[1], &eps);
  float *t[4];
  size_t len[4];
  if (argc != 6 || !f32_args(env, argv, 2, 4, t, len)) return NULL;
  size_t rows = d > 0 ? len[0] / d : 0;
  if (d <= 0 || len[0] % d || len[1] < (size_t)d || len[2] < len[0] || len[3] < rows) return range_error(env, "mtx native kernels: rmsNorm operands do not match d");
  rmsnorm_forward(rows, d, (float)eps, t[0], t[1], t[2], t[3]);
  return NULL;
}

/* rmsNormGrad(d, x, g, r, dy, dx, dg) */
static napi_value js_rmsnorm_grad(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int d = int_arg(env, argv[0]);
  float *t[6];
  size_t len[6];
  if (argc != 7 || !f32_args(env, argv, 1, 6, t, len)) return NULL;
  size_t rows = d > 0 ? len[0] / d : 0;
  if (d <= 0 || len[0] % d || len[1] < (size_t)d || len[2] < rows || len[3] < len[0] || len[4] < len[0] || len[5] < (size_t)d)
    return range_error(env, "mtx native kernels: rmsNormGrad operands do not match d");
  rmsnorm_backward(rows, d, t[0], t[1], t[2], t[3], t[4], t[5]);
  return NULL;
}

/* Checks targets against the vocabulary so a bad id is an error, not a read out of bounds. */
static int targets_ok(const int32_t *target, size_t rows, int v) {
  for (size_t i = 0; i < rows; i++)
    if (target[i] < 0 || target[i] >= v) return 0;
  return 1;
}

/* crossEntropy(v, logits, targets, loss, lse) */
static napi_value js_xent(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int v = int_arg(env, argv[0]);
  float *l, *loss, *lse;
  int32_t *target;
  size_t ll, lt, lloss, llse;
  if (argc != 5 || !f32_view(env, argv[1], &l, &ll) || !i32_view(env, argv[2], &target, &lt) || !f32_view(env, argv[3], &loss, &lloss) || !f32_view(env, argv[4], &lse, &llse)) return NULL;
  size_t rows = v > 0 ? ll / v : 0;
  if (v <= 0 || ll % v || lt < rows || lloss < rows || llse < rows) return range_error(env, "mtx native kernels: crossEntropy operands do not match the vocabulary");
  if (!targets_ok(target, rows, v)) return range_error(env, "mtx native kernels: a target id is outside the vocabulary");
  xent_forward(rows, v, l, target, loss, lse);
  return NULL;
}

/* crossEntropyGrad(v, logits, targets, lse, dy, dlogits) */
static napi_value js_xent_grad(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int v = int_arg(env, argv[0]);
  float *l, *lse, *dy, *dl;
  int32_t *target;
  size_t ll, lt, llse, ldy, ldl;
  if (argc != 6 || !f32_view(env, argv[1], &l, &ll) || !i32_view(env, argv[2], &target, &lt) || !f32_view(env, argv[3], &lse, &llse) || !f32_view(env, argv[4], &dy, &ldy) ||
      !f32_view(env, argv[5], &dl, &ldl))
    return NULL;
  size_t rows = v > 0 ? ll / v : 0;
  if (v <= 0 || ll % v || lt < rows || llse < rows || ldy < rows || ldl < ll) return range_error(env, "mtx native kernels: crossEntropyGrad operands do not match the vocabulary");
  if (!targets_ok(target, rows, v)) return range_error(env, "mtx native kernels: a target id is outside the vocabulary");
  xent_backward(rows, v, l, target, lse, dy, dl);
  return NULL;
}

/* embedding(d, table, ids, out) */
static napi_value js_embedding(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int d = int_arg(env, argv[0]);
  float *table, *out;
  int32_t *ids;
  size_t lt, li, lo;
  if (argc != 4 || !f32_view(env, argv[1], &table, &lt) || !i32_view(env, argv[2], &ids, &li) || !f32_view(env, argv[3], &out, &lo)) return NULL;
  if (d <= 0 || lt % d || lo < li * d) return range_error(env, "mtx native kernels: embedding operands do not match d");
  if (!targets_ok(ids, li, (int)(lt / d))) return range_error(env, "mtx native kernels: a token id is outside the embedding table");
  embedding_forward(li, d, table, ids, out);
  return NULL;
}

/* embeddingGrad(d, ids, dy, dtable) */
static napi_value js_embedding_grad(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int d = int_arg(env, argv[0]);
  float *dy, *dt;
  int32_t *ids;
  size_t li, ldy, ldt;
  if (argc != 4 || !i32_view(env, argv[1], &ids, &li) || !f32_view(env, argv[2], &dy, &ldy) || !f32_view(env, argv[3], &dt, &ldt)) return NULL;
  if (d <= 0 || ldt % d || ldy < li * d) return range_error(env, "mtx native kernels: embeddingGrad operands do not match d");
  if (!targets_ok(ids, li, (int)(ldt / d))) return range_error(env, "mtx native kernels: a token id is outside the embedding table");
  embedding_backward(li, d, ldt / d, ids, dy, dt);
  return NULL;
}

/* adamw(p, g, m, v, p1, m1, v1, [clip, b1, 1-b1, b2, 1-b2, bc1, bc2, eps, lr, lr*wd]) -> sum of squared changes */
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *t[8];
  size_t len[8];
  if (argc != 8 || !f32_args(env, argv, 0, 7, t, len)) return NULL;
  double h[10];
  for (int i = 0; i < 10; i++) {
    napi_value e;
    if (napi_get_element(env, argv[7], i, &e) != napi_ok || napi_get_value_double(env, e, &h[i]) != napi_ok)
      return range_error(env, "mtx native kernels: adamw hyper-parameters must be 10 numbers");
  }
  for (int i = 1; i < 7; i++)
    if (len[i] < len[0]) return range_error(env, "mtx native kernels: adamw operands differ in length");
  double sq = adamw(len[0], t[0], t[1], t[2], t[3], (float)h[0], (float)h[1], (float)h[2], (float)h[3], (float)h[4], (float)h[5], (float)h[6], (float)h[7],
                    (float)h[8], (float)h[9], t[4], t[5], t[6]);
  napi_value out;
  CHECK(napi_create_double(env, sq, &out));
  return out;
}

/* setThreads(n): OpenBLAS's thread count (1 inside data-parallel replicas, so they do not oversubscribe). */
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  load_blas();
  if (argc == 1) {
    int n = int_arg(env, argv[0]);
    own_threads = n > 0 ? n : 1;
    if (blas_set_threads) blas_set_threads(own_threads);
  }
  return NULL;
}

/* The x86-64 micro-architecture level this CPU supports (1-4; 0 elsewhere), and the one this build targets. */
static int cpu_level(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return 4;
  if (__builtin_cpu_supports("x86-64-v3")) return 3;
  if (__builtin_cpu_supports("x86-64-v2")) return 2;
  return 1;
#else
  return 0;
#endif
}

#ifndef MTX_LEVEL
#define MTX_LEVEL 0
#endif

/* info(): { blas: 'openblas' | 'builtin', threads, cpuLevel, buildLevel } (the add-on's threads; OpenBLAS is set to the same) */
static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  load_blas();
  napi_value out, name, threads, cpu, build;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_string_utf8(env, blas_name, NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_int32(env, own_threads, &threads));
  CHECK(napi_create_int32(env, cpu_level(), &cpu));
  CHECK(napi_create_int32(env, MTX_LEVEL, &build));
  CHECK(napi_set_named_property(env, out, "blas", name));
  CHECK(napi_set_named_property(env, out, "threads", threads));
  CHECK(napi_set_named_property(env, out, "cpuLevel", cpu));
  CHECK(napi_set_named_property(env, out, "buildLevel", build));
  return out;
}

NAPI_MODULE_INIT() {
  /* Once per process: worker threads load the module again, and must not undo a setThreads(1). */
  static int initialised = 0;
  if (!initialised) {
    initialised = 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    own_threads = cores > 1 ? (int)cores : 1;
  }
  napi_property_descriptor props[] = {
      {"gemm", NULL, js_gemm, NULL, NULL, NULL, napi_default, NULL},
      {"unary", NULL, js_unary, NULL, NULL, NULL, napi_default, NULL},
      {"attention", NULL, js_attention, NULL, NULL, NULL, napi_default, NULL},
      {"gelu", NULL, js_gelu, NULL, NULL, NULL, napi_default, NULL},
      {"geluGrad", NULL, js_gelu_grad, NULL, NULL, NULL, napi_default, NULL},
      {"swiglu", NULL, js_swiglu, NULL, NULL, NULL, napi_default, NULL},
      {"swigluGrad", NULL, js_swiglu_grad, NULL, NULL, NULL, napi_default, NULL},
      {"rmsNorm", NULL, js_rmsnorm, NULL, NULL, NULL, napi_default, NULL},
      {"rmsNormGrad", NULL, js_rmsnorm_grad, NULL, NULL, NULL, napi_default, NULL},
      {"crossEntropy", NULL, js_xent, NULL, NULL, NULL, napi_default, NULL},
      {"embedding", NULL, js_embedding, NULL, NULL, NULL, napi_default, NULL},
      {"adamw", NULL, js_adamw, NULL, NULL, NULL, napi_default, NULL},
      {"embeddingGrad", NULL, js_embedding_grad, NULL, NULL, NULL, napi_default, NULL},
      {"crossEntropyGrad", NULL, js_xent_grad, NULL, NULL, NULL, napi_default, NULL},
      {"attentionGrad", NULL, js_attention_grad, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}
