#!/usr/bin/env bash
# Run studyapp's real-engine tests against a vLLM server (or any OpenAI-compatible one),
# before a pilot: the same tests CI runs against llama.cpp + SmolLM2-135M. They assert the
# structure and honest handling of whatever the model says (streamed text, finish reasons,
# usage, interrupted or empty streams stored as errors, unreadable evaluation answers
# counted as such), never its quality.
#
#   STUDYAPP_ENGINE_URL=http://GPU-NODE:8001/v1 STUDYAPP_ENGINE_MODEL=llama-3.3-70b \
#   STUDYAPP_LLM_KEY_SMOKE=$VLLM_API_KEY deploy/vllm/smoke.sh
#
# Run from a checkout with `make install-dev` done; chromium for the browser test
# (apt-get install chromium). The model's replies go to a throwaway test database only.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STUDYAPP_ENGINE_URL:?the engine's base URL, e.g. http://gpu-node:8001/v1}"
: "${STUDYAPP_ENGINE_MODEL:?the served model name}"
export STUDYAPP_ENGINE_URL STUDYAPP_ENGINE_MODEL
curl -fsS "${STUDYAPP_ENGINE_URL%/}/models" \
  ${STUDYAPP_LLM_KEY_SMOKE:+-H "Authorization: Bearer $STUDYAPP_LLM_KEY_SMOKE"} >/dev/null
echo "engine answers at $STUDYAPP_ENGINE_URL; running the real-engine tests"
STUDYAPP_STRICT=1 make test PYTEST_ARGS="tests/real_engine tests/e2e/test_local_model_chat.py -v"
