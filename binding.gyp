{
  # npm runs `node-gyp rebuild` on this file during `npm ci` (package.json has no
  # install script). Each SIMD kernel file is its own static library so that only
  # it is compiled for its instruction set; the addon picks one at run time.
  "variables": {
    # -ffp-contract=off: no fused multiply-adds behind our back, so the activation
    # quantization is bit-identical on every kernel set (and to the tests' replication).
    "common_cflags": ["-O3", "-fPIC", "-fno-strict-aliasing", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    # macOS: gyp ignores cflags_cc there and reads xcode_settings, so the same flags go here
    # (-fno-strict-aliasing matters: scratch buffers are byte storage cast to float*).
    "xcode_cflags": ["-O3", "-fno-strict-aliasing", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"],
  },
  "targets": [
    {
      "target_name": "mlxk_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/addon_mla.cc",
        "native/src/addon_ops.cc",
        "native/src/anon_map.cc",
        "native/src/cpu.cc",
        "native/src/dispatch.cc",
        "native/src/gptq.cc",
        "native/src/gptq_linalg.cc",
        "native/src/kernels_scalar.cc",
        "native/src/mapped_file.cc",
        "native/src/mla_layers.cc",
        "native/src/model_ops.cc",
        "native/src/model_route.cc",
        "native/src/moe_block.cc",
        "native/src/operands.cc",
        "native/src/quantize.cc",
        "native/src/threadpool.cc",
        "native/src/wmse.cc",
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/include"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["<@(common_cflags)", "-std=c++17"],
      "cflags_cc!": ["-std=gnu++17"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["<@(xcode_cflags)"],
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
      },
      "conditions": [
        ["target_arch=='x64'", {"dependencies": ["mlxk_avx2", "mlxk_avx512"]}],
        ["target_arch=='arm64'", {"dependencies": ["mlxk_neon"]}],
      ],
    },
  ],
  "conditions": [
    ["target_arch=='x64'", {"targets": [
        {
          "target_name": "mlxk_avx2",
          "type": "static_library",
          "sources": ["native/src/kernels_avx2.cc", "native/src/kernels_avx2_gemv.cc", "native/src/kernels_avx2_attend.cc", "native/src/kernels_avx2_dense.cc"],
          "include_dirs": ["native/include"],
          "cflags_cc": ["<@(common_cflags)", "-std=c++17", "-mavx2", "-mfma", "-mf16c"],
          "cflags_cc!": ["-std=gnu++17"],
          "xcode_settings": {"CLANG_CXX_LANGUAGE_STANDARD": "c++17", "OTHER_CPLUSPLUSFLAGS": ["<@(xcode_cflags)", "-mavx2", "-mfma", "-mf16c"]},
        },
        {
          "target_name": "mlxk_avx512",
          "type": "static_library",
          "sources": ["native/src/kernels_avx512.cc", "native/src/kernels_avx512_gemv.cc", "native/src/kernels_avx512_gemm.cc", "native/src/kernels_avx512_attend.cc"],
          "include_dirs": ["native/include"],
          "cflags_cc": [
            "<@(common_cflags)", "-std=c++17", "-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl",
            "-mavx512dq", "-mavx512vnni", "-mavx512vbmi", "-mprefer-vector-width=512",
            # GCC 12's own _mm512_reduce_* bodies trip these.
            "-Wno-uninitialized", "-Wno-maybe-uninitialized",
          ],
          "cflags_cc!": ["-std=gnu++17"],
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["<@(xcode_cflags)", "-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni", "-mavx512vbmi"],
          },
        }
    ]}],
    ["target_arch=='arm64'", {"targets": [
        {
          "target_name": "mlxk_neon",
          "type": "static_library",
          "sources": ["native/src/kernels_neon.cc"],
          "include_dirs": ["native/include"],
          "cflags_cc": ["<@(common_cflags)", "-std=c++17", "-march=armv8.2-a+dotprod"],
          "cflags_cc!": ["-std=gnu++17"],
          "xcode_settings": {"CLANG_CXX_LANGUAGE_STANDARD": "c++17", "OTHER_CPLUSPLUSFLAGS": ["<@(xcode_cflags)", "-march=armv8.2-a+dotprod"]},
        }
    ]}],
  ],
}
