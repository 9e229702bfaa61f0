/*
 * mtx native kernels: the hot TensorFlow.js kernels (BatchMatMul, Tanh, Exp) run here on the wasm backend's
 * own heap, with no copies. Matrix products go to OpenBLAS's cblas_sgemm when the shared library is on the
 * machine (Debian's libopenblas0, loaded with dlopen so the add-on builds without it), and to the blocked
 * kernel below otherwise. Causal attention is fused: it reads q, k and v in their [B, T, H*hd] layout, so
 * no head transposes are needed. Transcendentals are plain loops that gcc vectorizes against glibc's libmvec.
 *
 * Every function takes Float32Array views of the wasm heap; the caller makes sure they stay valid (no
 * allocation between taking the views and the call).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static sgemm_fn blas_sgemm = NULL;
static set_threads_fn blas_set_threads = NULL;
static get_threads_fn blas_get_threads = NULL;
static const char *blas_name = "builtin";

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

/* out[B,T,D] = softmax(mask(q k^T * scale)) v per head; probs[B,H,T,T] keeps P for the backward pass. */
static void attention_forward(int B, int T, int H, int hd, float scale, const float *q, const float *k, const float *v, float *out, float *probs) {
  int D = H * hd;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      size_t base = (size_t)b * T * D + (size_t)h * hd;
      float *p = probs + ((size_t)b * H + h) * T * T;
      sgemm_strided(0, 1, T, T, hd, q + base, D, k + base, D, p, T);
      for (int i = 0; i < T; i++) {
        float *row = p + (size_t)i * T;
        float mx = row[0] * scale, sum = 0.f;
        for (int j = 0; j <= i; j++) mx = row[j] * scale > mx ? row[j] * scale : mx;
        for (int j = 0; j <= i; j++) sum += (row[j] = expf(row[j] * scale - mx));
        float inv = 1.f / sum;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < T; j++) row[j] = 0.f;
      }
      sgemm_strided(0, 0, T, hd, T, p, T, v + base, D, out + base, D);
    }
}

/* dq, dk, dv [B,T,D] from dout [B,T,D]: dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)) scale,
 * dQ = dS K, dK = dS^T Q. `work` holds T*T floats. */
static void attention_backward(int B, int T, int H, int hd, float scale, const float *q, const float *k, const float *v, const float *probs,
                               const float *dout, float *dq, float *dk, float *dv, float *work) {
  int D = H * hd;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      size_t base = (size_t)b * T * D + (size_t)h * hd;
      const float *p = probs + ((size_t)b * H + h) * T * T;
      sgemm_strided(1, 0, T, hd, T, p, T, dout + base, D, dv + base, D);
      sgemm_strided(0, 1, T, T, hd, dout + base, D, v + base, D, work, T);
      for (int i = 0; i < T; i++) {
        float *ds = work + (size_t)i * T;
        const float *pr = p + (size_t)i * T;
        float dot = 0.f;
        for (int j = 0; j <= i; j++) dot += ds[j] * pr[j];
        for (int j = 0; j <= i; j++) ds[j] = pr[j] * (ds[j] - dot) * scale;
        for (int j = i + 1; j < T; j++) ds[j] = 0.f;
      }
      sgemm_strided(0, 0, T, hd, T, work, T, k + base, D, dq + base, D);
      sgemm_strided(1, 0, T, hd, T, work, T, q + base, D, dk + base, D);
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

/* attention(B, T, H, hd, scale, q, k, v, out, probs) */
static napi_value js_attention(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int B = int_arg(env, argv[0]), T = int_arg(env, argv[1]), H = int_arg(env, argv[2]), hd = int_arg(env, argv[3]);
  double scale = 0;
  napi_get_value_double(env, argv[4], &scale);
  float *t[5];
  size_t len[5];
  for (int i = 0; i < 5; i++)
    if (!f32_view(env, argv[5 + i], &t[i], &len[i])) return NULL;
  size_t act = (size_t)B * T * H * hd, pr = (size_t)B * H * T * T;
  if (argc != 10 || len[0] < act || len[1] < act || len[2] < act || len[3] < act || len[4] < pr) {
    napi_throw_range_error(env, NULL, "mtx native kernels: attention operands do not match B, T, H, hd");
    return NULL;
  }
  load_blas();
  attention_forward(B, T, H, hd, (float)scale, t[0], t[1], t[2], t[3], t[4]);
  return NULL;
}

/* attentionGrad(B, T, H, hd, scale, q, k, v, probs, dout, dq, dk, dv) */
static napi_value js_attention_grad(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int B = int_arg(env, argv[0]), T = int_arg(env, argv[1]), H = int_arg(env, argv[2]), hd = int_arg(env, argv[3]);
  double scale = 0;
  napi_get_value_double(env, argv[4], &scale);
  float *t[8];
  size_t len[8];
  for (int i = 0; i < 8; i++)
    if (!f32_view(env, argv[5 + i], &t[i], &len[i])) return NULL;
  size_t act = (size_t)B * T * H * hd, pr = (size_t)B * H * T * T;
  int ok = argc == 13 && len[3] >= pr;
  for (int i = 0; i < 8; i++) ok = ok && (i == 3 || len[i] >= act);
  if (!ok) {
    napi_throw_range_error(env, NULL, "mtx native kernels: attentionGrad operands do not match B, T, H, hd");
    return NULL;
  }
  float *work = malloc(sizeof(float) * (size_t)T * T);
  if (!work) {
    napi_throw_error(env, NULL, "mtx native kernels: out of memory");
    return NULL;
  }
  load_blas();
  attention_backward(B, T, H, hd, (float)scale, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], work);
  free(work);
  return NULL;
}

/* setThreads(n): OpenBLAS's thread count (1 inside data-parallel replicas, so they do not oversubscribe). */
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  load_blas();
  if (blas_set_threads && argc == 1) blas_set_threads(int_arg(env, argv[0]));
  return NULL;
}

/* info(): { blas: 'openblas' | 'builtin', threads } */
static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  load_blas();
  napi_value out, name, threads;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_string_utf8(env, blas_name, NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_int32(env, blas_get_threads ? blas_get_threads() : 1, &threads));
  CHECK(napi_set_named_property(env, out, "blas", name));
  CHECK(napi_set_named_property(env, out, "threads", threads));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"gemm", NULL, js_gemm, NULL, NULL, NULL, napi_default, NULL},
      {"unary", NULL, js_unary, NULL, NULL, NULL, napi_default, NULL},
      {"attention", NULL, js_attention, NULL, NULL, NULL, napi_default, NULL},
      {"attentionGrad", NULL, js_attention_grad, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}
