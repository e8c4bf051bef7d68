{
  "targets": [
    {
      "target_name": "kite_faiss",
      "sources": ["native/addon.cc", "native/core.cc", "native/binary.cc", "native/walk.cc", "native/hnsw-build.cc"],
      "include_dirs": [
        "<!@(node scripts/faiss-link.js include)",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!@(node scripts/faiss-link.js defines)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-fopenmp", "-Wall", "-Wno-unused-parameter"],
      "libraries": [
        "<!@(node scripts/faiss-link.js libraries)",
        "-lopenblas",
        "-lgomp"
      ],
      "ldflags": ["-fopenmp", "-Wl,--exclude-libs,ALL"]
    }
  ]
}
