{
  "targets": [
    {
      "target_name": "mtx_kernels",
      "sources": ["kernels.c"],
      "cflags_c": ["-O3", "-march=native", "-ffast-math", "-std=c11"],
      "libraries": ["-ldl", "-lm", "-lmvec"]
    }
  ]
}
