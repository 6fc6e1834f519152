{
  "targets": [
    {
      "target_name": "flock_splice",
      "sources": ["src/addon.cc", "src/splice-loop.cc", "src/direction.cc"],
      "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
