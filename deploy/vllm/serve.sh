#!/usr/bin/env bash
# Serve one model with vLLM's OpenAI-compatible server for a studyapp arm.
# Usage: MODEL=<hf-id-or-path> [NAME=<served-name>] [PORT=8001] [TP=1] ./serve.sh
set -euo pipefail
: "${MODEL:?set MODEL to a Hugging Face id or a local path}"
: "${VLLM_API_KEY:?export VLLM_API_KEY (the same value studyapp reads from its env)}"
NAME=${NAME:-$(basename "$MODEL" | tr '[:upper:]' '[:lower:]')}
exec vllm serve "$MODEL" \
  --host "${HOST:-0.0.0.0}" --port "${PORT:-8001}" \
  --served-model-name "$NAME" \
  --api-key "$VLLM_API_KEY" \
  --tensor-parallel-size "${TP:-1}" \
  --generation-config vllm \
  --max-model-len "${MAX_MODEL_LEN:-8192}" \
  --max-num-seqs "${MAX_NUM_SEQS:-128}" \
  --gpu-memory-utilization "${GPU_MEM:-0.90}"
