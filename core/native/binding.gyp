{
  "variables": { "common_cflags": ["-O3", "-ffast-math", "-fopenmp", "-std=c11"] },
  "target_defaults": { "sources": ["kernels.c"], "ldflags": ["-fopenmp"], "libraries": ["-ldl", "-lm", "-lmvec"] },
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        { "target_name": "mtx_kernels", "cflags_c": ["<@(common_cflags)", "-march=x86-64", "-mtune=generic", "-DMTX_LEVEL=1"] },
        { "target_name": "mtx_kernels_v3", "cflags_c": ["<@(common_cflags)", "-march=x86-64-v3", "-mtune=generic", "-DMTX_LEVEL=3"] },
        { "target_name": "mtx_kernels_v4", "cflags_c": ["<@(common_cflags)", "-march=x86-64-v4", "-mtune=generic", "-DMTX_LEVEL=4"] }
      ]
    }, {
      "targets": [{ "target_name": "mtx_kernels", "cflags_c": ["<@(common_cflags)"] }]
    }]
  ]
}
