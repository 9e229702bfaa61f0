/**
 * Differentiable building blocks of the transformer, written for the WebAssembly backend.
 *
 * Why custom gradients: on tfjs-backend-wasm only the plain 2-D MatMul (no transposeA/transposeB) runs on
 * XNNPACK (12-17 GFLOP/s); the transposed variants autograd emits for a MatMul's gradient fall back to a
 * naive kernel at ~1 GFLOP/s. Each block below therefore states its backward pass with explicit
 * `tf.transpose` calls so every MatMul is the fast kind. wasm also has no UnsortedSegmentSum kernel, so
 * `tf.gather` has no gradient there: the embedding's backward is a scatter-add done in JS.
 * Each custom gradient is checked against autograd on the 'cpu' backend in test/core/model/layers.test.ts.
 *
 * With the native kernels (core/native) every MatMul layout is fast, so the transposes are passed as MatMul
 * flags instead of being materialised; attention, RMSNorm, GELU and cross-entropy each run as one fused
 * kernel forward and one backward (SwiGLU's gate too). test/core/native.test.ts checks each against the formulation here.
 */
import * as tf from "@tensorflow/tfjs";
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
  EMBEDDING_GRAD_KERNEL,
  EMBEDDING_KERNEL,
  GELU_GRAD_KERNEL,
  GELU_KERNEL,
  nativeKernelsActive,
  RMSNORM_GRAD_KERNEL,
  RMSNORM_KERNEL,
  SWIGLU_GRAD_KERNEL,
  SWIGLU_KERNEL,
  XENT_GRAD_KERNEL,
  XENT_KERNEL,
} from "../native/kernels.js";

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];

/** tf.customGrad with typed inputs: `body` gets the n input tensors and the save function. */
function customOp(n: number, body: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFn }) {
  return tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const r = body(args.slice(0, n) as tf.Tensor[], args[n] as tf.GradSaveFunc);
    return { value: r.value, gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => r.gradFunc(dy as tf.Tensor, saved) };
  }) as Parameters<typeof tf.customGrad>[0]);
}

/** y = x W for x [N, in], W [in, out]. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = customOp(2, ([xIn, wIn], save) => {
    const x2 = xIn as tf.Tensor2D;
    const w2 = wIn as tf.Tensor2D;
    save([x2, w2]);
    return {
      value: tf.matMul(x2, w2),
      gradFunc: (dy, saved) => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        if (nativeKernelsActive()) return [tf.matMul(g, ws, false, true), tf.matMul(xs, g, true, false)];
        return [tf.matMul(g, tf.transpose(ws)), tf.matMul(tf.transpose(xs), g)];
      },
    };
  });
  return f(x, w) as tf.Tensor2D;
}

/**
 * Rows of `table` [V, D] for token ids. Forward is a gather; backward scatter-adds the incoming rows into a
 * [V, D] gradient in JS (wasm has no gather gradient, and a one-hot matmul would cost 2*N*V*D flops).
 */
export function embedding(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const [vocab, dim] = table.shape;
  if (nativeKernelsActive()) {
    const idt = tf.tensor1d(ids, "int32");
    const f = customOp(1, ([t], save) => {
      save([idt]);
      return {
        value: tf.engine().runKernel(EMBEDDING_KERNEL, { table: t!, ids: idt }, {}) as tf.Tensor,
        gradFunc: (dy, [is]) => [tf.engine().runKernel(EMBEDDING_GRAD_KERNEL, { ids: is!, dy }, { vocab }) as tf.Tensor],
      };
    });
    return f(table) as tf.Tensor2D;
  }
  const f = customOp(1, ([t]) => ({
    value: tf.gather(t!, tf.tensor1d(ids, "int32")),
    gradFunc: (dy) => {
      const g = dy.dataSync() as Float32Array;
      const out = new Float32Array(vocab * dim);
      for (let n = 0; n < ids.length; n++) {
        const row = ids[n]! * dim;
        const src = n * dim;
        for (let d = 0; d < dim; d++) out[row + d]! += g[src + d]!;
      }
      return [tf.tensor2d(out, [vocab, dim])];
    },
  }));
  return f(table) as tf.Tensor2D;
}

/** RMSNorm over the last axis (Zhang & Sennrich 2019): x / sqrt(mean(x^2) + eps) * g. */
export function rmsNorm<T extends tf.Tensor>(x: T, gain: tf.Tensor1D, eps: number): T {
  if (nativeKernelsActive()) {
    const f = customOp(2, ([xIn, gIn], save) => {
      const [y, r] = tf.engine().runKernel(RMSNORM_KERNEL, { x: xIn!, g: gIn! }, { eps }) as tf.Tensor[];
      save([xIn!, gIn!, r!]);
      return { value: y!, gradFunc: (dy, [xs, gs, rs]) => tf.engine().runKernel(RMSNORM_GRAD_KERNEL, { x: xs!, g: gs!, r: rs!, dy }, {}) as tf.Tensor[] };
    });
    return f(x, gain) as T;
  }
  return tf.tidy(() => {
    const ms = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), gain) as T;
  });
}

/** GELU with the tanh approximation (as torch's approximate='tanh'). */
export function geluTanh<T extends tf.Tensor>(x: T): T {
  if (nativeKernelsActive()) {
    const f = customOp(1, ([xIn], save) => {
      save([xIn!]);
      return { value: tf.engine().runKernel(GELU_KERNEL, { x: xIn! }, {}) as tf.Tensor, gradFunc: (dy, [xs]) => [tf.engine().runKernel(GELU_GRAD_KERNEL, { x: xs!, dy }, {}) as tf.Tensor] };
    });
    return f(x) as T;
  }
  return tf.tidy(() => {
    const c = Math.sqrt(2 / Math.PI);
    // x*x*x, not pow(x, 3): wasm's Pow is a scalar loop ~20x slower than two multiplies.
    const inner = tf.mul(c, tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner))) as T;
  });
}

/** SwiGLU's gated product silu(gate) * up (Shazeer 2020), the Llama MLP's middle: down(silu(gate x) * up x). */
export function swiglu<T extends tf.Tensor>(gate: T, up: T): T {
  if (nativeKernelsActive()) {
    const f = customOp(2, ([g, u], save) => {
      save([g!, u!]);
      return { value: tf.engine().runKernel(SWIGLU_KERNEL, { g: g!, u: u! }, {}) as tf.Tensor, gradFunc: (dy, [gs, us]) => tf.engine().runKernel(SWIGLU_GRAD_KERNEL, { g: gs!, u: us!, dy }, {}) as tf.Tensor[] };
    });
    return f(gate, up) as T;
  }
  return tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as T);
}

/**
 * Rotary embedding, rotate-half convention, applied to x [B, T, D] whose D is H heads of size hd:
 * y = x*cos + rotateHalf(x)*sin. rotateHalf is a fixed signed permutation `rot` [D, D] so it is one fast
 * MatMul instead of slices and a concat; backward is dx = dy*cos + (dy*sin) rot^T.
 */
export function applyRope(x: tf.Tensor3D, cos: tf.Tensor2D, sin: tf.Tensor2D, rot: tf.Tensor2D, rotT: tf.Tensor2D): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const f = customOp(1, ([xIn]) => {
    const x2 = tf.reshape(xIn!, [b * t, d]) as tf.Tensor2D;
    const rotated = tf.reshape(tf.matMul(x2, rot), [b, t, d]);
    return {
      value: tf.add(tf.mul(xIn!, cos), tf.mul(rotated, sin)),
      gradFunc: (dy) => {
        const g = dy as tf.Tensor3D;
        const gs = tf.reshape(tf.mul(g, sin), [b * t, d]) as tf.Tensor2D;
        return [tf.add(tf.mul(g, cos), tf.reshape(tf.matMul(gs, rotT), [b, t, d]))];
      },
    };
  });
  return f(x) as tf.Tensor3D;
}

/**
 * Causal scaled dot-product attention for q, k, v [BH, T, hd] with an additive mask [T, T]
 * (0 on and below the diagonal, -1e9 above). Backward follows the softmax Jacobian:
 * dS = P * (dP - rowsum(dP * P)).
 */
export function causalAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor2D): tf.Tensor3D {
  const scale = 1 / Math.sqrt(q.shape[2]);
  const f = customOp(3, ([qIn, kIn, vIn], save) => {
    const q3 = qIn as tf.Tensor3D;
    const k3 = kIn as tf.Tensor3D;
    const v3 = vIn as tf.Tensor3D;
    const scores = tf.add(tf.mul(tf.matMul(q3, tf.transpose(k3, [0, 2, 1])), scale), mask);
    const p = tf.softmax(scores) as tf.Tensor3D;
    save([q3, k3, v3, p]);
    return {
      value: tf.matMul(p, v3),
      gradFunc: (dy, saved) => {
        const [qs, ks, vs, ps] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const dO = dy as tf.Tensor3D;
        const dV = tf.matMul(tf.transpose(ps, [0, 2, 1]), dO);
        const dP = tf.matMul(dO, tf.transpose(vs, [0, 2, 1]));
        const dS = tf.mul(tf.mul(ps, tf.sub(dP, tf.sum(tf.mul(dP, ps), -1, true))), scale) as tf.Tensor3D;
        const dQ = tf.matMul(dS, ks);
        const dK = tf.matMul(tf.transpose(dS, [0, 2, 1]), qs);
        return [dQ, dK, dV];
      },
    };
  });
  return f(q, k, v) as tf.Tensor3D;
}

/**
 * Causal attention as one native kernel on q, k, v [B, T, D] with D = heads * hd (the layout the
 * projections produce, so no head transposes): the same function as {@link causalAttention} on the
 * split heads. Forward keeps the probabilities for the backward kernel. Needs the native kernels.
 */
export function fusedCausalAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  const attrs = { heads, scale: 1 / Math.sqrt(q.shape[2] / heads) };
  const f = customOp(3, ([qIn, kIn, vIn], save) => {
    const [out, probs] = tf.engine().runKernel(ATTENTION_KERNEL, { q: qIn!, k: kIn!, v: vIn! }, attrs) as tf.Tensor[];
    save([qIn!, kIn!, vIn!, probs!]);
    return {
      value: out!,
      gradFunc: (dy, saved) => {
        const [qs, ks, vs, ps] = saved;
        return tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { q: qs!, k: ks!, v: vs!, probs: ps!, dy }, attrs) as tf.Tensor[];
      },
    };
  });
  return f(q, k, v) as tf.Tensor3D;
}

/** Float one-hot rows for ids (built as int32 then cast: the float32 oneHot kernel on wasm is wrong). */
export function oneHotFloat(ids: Int32Array, depth: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(ids, "int32"), depth), "float32") as tf.Tensor2D);
}

/**
 * Per-token cross-entropy -log softmax(logits)[target] for logits [N, V]; returns [N].
 * Backward is softmax - onehot, scaled by the incoming per-token gradient.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array): tf.Tensor1D {
  const depth = logits.shape[1];
  if (nativeKernelsActive()) {
    const ids = tf.tensor1d(targets, "int32");
    const f = customOp(1, ([lIn], save) => {
      const [loss, lse] = tf.engine().runKernel(XENT_KERNEL, { logits: lIn!, targets: ids }, {}) as tf.Tensor[];
      save([lIn!, lse!, ids]);
      return { value: loss!, gradFunc: (dy, [ls, lses, t]) => [tf.engine().runKernel(XENT_GRAD_KERNEL, { logits: ls!, targets: t!, lse: lses!, dy }, {}) as tf.Tensor] };
    });
    return f(logits) as tf.Tensor1D;
  }
  const f = customOp(1, ([lIn], save) => {
    const l = lIn as tf.Tensor2D;
    const onehot = oneHotFloat(targets, depth);
    const lse = tf.logSumExp(l, -1, true);
    save([l, lse, onehot]);
    return {
      value: tf.sub(tf.squeeze(lse, [1]), tf.sum(tf.mul(l, onehot), -1)),
      gradFunc: (dy, saved) => {
        const [ls, lses, oh] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const p = tf.exp(tf.sub(ls, lses));
        return [tf.mul(tf.sub(p, oh), tf.expandDims(dy as tf.Tensor1D, 1))];
      },
    };
  });
  return f(logits) as tf.Tensor1D;
}
