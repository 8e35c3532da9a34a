# Pinned peer commits (sourced by the tools/peers scripts).
# Mainline llama.cpp: ggml-org master "ci : push release tag explicitly in release.yml (#27261)",
# 2026-08-17. The full ggml-org snapshot is over the fetch limit; unslothai/llama.cpp carries
# ggml-org's master history with the same commit ids, so its git directory serves.
LLAMA_COMMIT=34af94cd9ab277632e27caeec2d41de2fd091b31
LLAMA_GIT=${LLAMA_GIT:-/work/.mirror/unslothai+llama.cpp/repo}
# ik_llama.cpp master "Fix Qwen35+ MTP (#2322)", 2026-08-15 (the commit measured-peers.md used).
IK_COMMIT=8337e4cd3861406fc04e0854b1409cd1b027fbc9
IK_GIT=${IK_GIT:-/work/.mirror/ikawrakow+ik_llama.cpp/repo}
