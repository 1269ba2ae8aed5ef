#!/bin/sh
# Regenerates tests/core/data/chat_templates.json from llama.cpp (see README.md next to this file).
# Usage: generate.sh LLAMA_CPP_SOURCE LIB_DIR VOCAB_DIR > chat_templates.json
#   LIB_DIR holds the built libllama*.so and libllama-common.so (node-llama-cpp's prebuilt
#   node_modules/@node-llama-cpp/linux-x64/bins/linux-x64, or a llama.cpp build's bin/).
set -eu
src=$1 libdir=$(cd "$2" && pwd) vocabs=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/extract_test_templates.py" "$src" > "$work/test_templates.inc"
libllama=$(ls "$libdir"/libllama*.so | grep -v common | head -n 1)
g++ -std=c++17 -O1 -I "$work" -I "$src/include" -I "$src/ggml/include" -I "$src/src" "$here/chat_vectors.cpp" \
    "$libllama" "$libdir/libllama-common.so" -Wl,-rpath,"$libdir" -o "$work/chat_vectors"
t=$src/models/templates
jinja=""
for f in Qwen-Qwen2.5-7B-Instruct Qwen-Qwen3-0.6B NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use \
         meta-llama-Llama-3.1-8B-Instruct meta-llama-Llama-3.2-3B-Instruct microsoft-Phi-3.5-mini-instruct \
         google-gemma-2-2b-it mistralai-Mistral-Nemo-Instruct-2407 Mistral-Small-3.2-24B-Instruct-2506 \
         mistralai-Ministral-3-14B-Reasoning-2512 google-gemma-4-31B-it deepseek-ai-DeepSeek-R1-Distill-Llama-8B \
         CohereForAI-c4ai-command-r-plus-tool_use ibm-granite-granite-3.3-2B-Instruct \
         openai-gpt-oss-120b ibm-granite-granite-4.0; do
    jinja="$jinja --jinja $t/$f.jinja"
done
commit=$(git -C "$src" rev-parse HEAD)
# shellcheck disable=SC2086 # $jinja is a list of options
"$work/chat_vectors" --llama-commit "$commit" --node-llama-cpp-tag "${NODE_LLAMA_CPP_TAG:-unknown}" \
    --vocab-dir "$vocabs" --vocab ggml-vocab-llama-bpe.gguf --vocab ggml-vocab-llama-spm.gguf \
    --vocab ggml-vocab-gpt-2.gguf $jinja
