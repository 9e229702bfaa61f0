{
  "targets": [
    {
      "target_name": "mtx_kernels",
      "sources": ["kernels.c"],
      "cflags_c": ["-O3", "-march=native", "-ffast-math", "-fopenmp", "-std=c11"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldl", "-lm", "-lmvec"]
    }
  ]
}
