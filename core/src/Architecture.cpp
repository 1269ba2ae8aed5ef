#include "declai/core/Architecture.h"

#include <array>

namespace declai {
namespace {

using E = Extent;
using P = Presence;
using T = LayerTensor;

constexpr LayerTensorSpec vec(T role, const char* suffix, E extent, P presence = P::Required) {
    return {role, suffix, {extent, E::None, E::None}, presence, false};
}
constexpr LayerTensorSpec mat(T role, const char* suffix, E cols, E rows, P presence = P::Required,
                              E experts = E::None) {
    return {role, suffix, {cols, rows, experts}, presence, true};
}

// llama (Llama 1/2/3, Mistral, TinyLlama, SmolLM) and its Mixtral-style mixture-of-experts form; optional
// Q/K/V biases as llama.cpp loads them.
constexpr LayerTensorSpec kLlama[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),
    mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),
    mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    vec(T::Bq, "attn_q.bias", E::QDim, P::Optional),
    vec(T::Bk, "attn_k.bias", E::KvDim, P::Optional),
    vec(T::Bv, "attn_v.bias", E::KvDim, P::Optional),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim),
    vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::Gate, "ffn_gate.weight", E::Dim, E::Ffn, P::Dense),
    mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn, P::Dense),
    mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim, P::Dense),
    mat(T::GateInp, "ffn_gate_inp.weight", E::Dim, E::Experts, P::Experts),
    mat(T::GateExps, "ffn_gate_exps.weight", E::Dim, E::Ffn, P::Experts, E::Experts),
    mat(T::UpExps, "ffn_up_exps.weight", E::Dim, E::Ffn, P::Experts, E::Experts),
    mat(T::DownExps, "ffn_down_exps.weight", E::Ffn, E::Dim, P::Experts, E::Experts),
};

// Qwen 2 / 2.5: Q/K/V biases (every Qwen2 checkpoint has them; llama.cpp loads the file without them too).
constexpr LayerTensorSpec kQwen2[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),     mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),    mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    vec(T::Bq, "attn_q.bias", E::QDim, P::Optional),  vec(T::Bk, "attn_k.bias", E::KvDim, P::Optional),
    vec(T::Bv, "attn_v.bias", E::KvDim, P::Optional), mat(T::Wo, "attn_output.weight", E::QDim, E::Dim),
    vec(T::FfnNorm, "ffn_norm.weight", E::Dim),       mat(T::Gate, "ffn_gate.weight", E::Dim, E::Ffn),
    mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn),      mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
};

// Qwen 3: per-head RMSNorm of Q and K before RoPE.
constexpr LayerTensorSpec kQwen3[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),      mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),     mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    vec(T::QNorm, "attn_q_norm.weight", E::HeadDim),   vec(T::KNorm, "attn_k_norm.weight", E::HeadDim),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim), vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::Gate, "ffn_gate.weight", E::Dim, E::Ffn),   mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn),
    mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
};

// Qwen 3 MoE (Qwen3-30B-A3B, -235B-A22B): Qwen 3's attention, a mixture of experts in every layer (no
// shared expert).
constexpr LayerTensorSpec kQwen3Moe[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),
    mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),
    mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    vec(T::QNorm, "attn_q_norm.weight", E::HeadDim),
    vec(T::KNorm, "attn_k_norm.weight", E::HeadDim),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim),
    vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::GateInp, "ffn_gate_inp.weight", E::Dim, E::Experts, P::Experts),
    mat(T::GateExps, "ffn_gate_exps.weight", E::Dim, E::Ffn, P::Experts, E::Experts),
    mat(T::UpExps, "ffn_up_exps.weight", E::Dim, E::Ffn, P::Experts, E::Experts),
    mat(T::DownExps, "ffn_down_exps.weight", E::Ffn, E::Dim, P::Experts, E::Experts),
};

// SmolLM3 and Granite: llama's dense layer without biases.
constexpr LayerTensorSpec kLlamaDense[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),      mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),     mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim), vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::Gate, "ffn_gate.weight", E::Dim, E::Ffn),   mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn),
    mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
};

// Gemma 2: norms after attention and after the FFN as well as before.
constexpr LayerTensorSpec kGemma2[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),
    mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),
    mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim),
    vec(T::PostAttnNorm, "post_attention_norm.weight", E::Dim),
    vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::Gate, "ffn_gate.weight", E::Dim, E::Ffn),
    mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn),
    mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
    vec(T::PostFfnNorm, "post_ffw_norm.weight", E::Dim),
};

// Gemma 3: Gemma 2's norms plus per-head RMSNorm of Q and K before RoPE.
constexpr LayerTensorSpec kGemma3[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),
    mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),
    mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    vec(T::QNorm, "attn_q_norm.weight", E::HeadDim),
    vec(T::KNorm, "attn_k_norm.weight", E::HeadDim),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim),
    vec(T::PostAttnNorm, "post_attention_norm.weight", E::Dim),
    vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::Gate, "ffn_gate.weight", E::Dim, E::Ffn),
    mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn),
    mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
    vec(T::PostFfnNorm, "post_ffw_norm.weight", E::Dim),
};

// GLM-4 (0414): Q/K/V with optional biases, norms after attention and after the FFN as well as before, and
// a fused [gate | up] FFN.
constexpr LayerTensorSpec kGlm4[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),
    mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
    mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),
    mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
    vec(T::Bq, "attn_q.bias", E::QDim, P::Optional),
    vec(T::Bk, "attn_k.bias", E::KvDim, P::Optional),
    vec(T::Bv, "attn_v.bias", E::KvDim, P::Optional),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim),
    vec(T::PostAttnNorm, "post_attention_norm.weight", E::Dim),
    vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn2),
    mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
    vec(T::PostFfnNorm, "post_ffw_norm.weight", E::Dim),
};

// OLMo 2 and EXAONE 4.0: no norm before attention or the FFN, norms after both, and RMSNorm of Q and K over
// their norm's extent: the whole row (OLMo 2: one weight per value) or each head (EXAONE 4.0).
constexpr std::array<LayerTensorSpec, 14> postNormLayer(E qNorm, E kNorm) {
    return {{
        mat(T::Wq, "attn_q.weight", E::Dim, E::QDim),
        mat(T::Wk, "attn_k.weight", E::Dim, E::KvDim),
        mat(T::Wv, "attn_v.weight", E::Dim, E::KvDim),
        vec(T::Bq, "attn_q.bias", E::QDim, P::Optional),
        vec(T::Bk, "attn_k.bias", E::KvDim, P::Optional),
        vec(T::Bv, "attn_v.bias", E::KvDim, P::Optional),
        vec(T::QNorm, "attn_q_norm.weight", qNorm),
        vec(T::KNorm, "attn_k_norm.weight", kNorm),
        mat(T::Wo, "attn_output.weight", E::QDim, E::Dim),
        vec(T::PostAttnNorm, "post_attention_norm.weight", E::Dim),
        mat(T::Gate, "ffn_gate.weight", E::Dim, E::Ffn),
        mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn),
        mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
        vec(T::PostFfnNorm, "post_ffw_norm.weight", E::Dim),
    }};
}
constexpr auto kOlmo2 = postNormLayer(E::QDim, E::KvDim);
constexpr auto kExaone4 = postNormLayer(E::HeadDim, E::HeadDim);

// Phi-3: fused QKV and fused [gate | up].
constexpr LayerTensorSpec kPhi3[] = {
    vec(T::AttnNorm, "attn_norm.weight", E::Dim),      mat(T::Wqkv, "attn_qkv.weight", E::Dim, E::QkvDim),
    mat(T::Wo, "attn_output.weight", E::QDim, E::Dim), vec(T::FfnNorm, "ffn_norm.weight", E::Dim),
    mat(T::Up, "ffn_up.weight", E::Dim, E::Ffn2),      mat(T::Down, "ffn_down.weight", E::Ffn, E::Dim),
};

// Modes as llama.cpp's graphs use them (src/llama-model.cpp: llm_build_llama, _qwen2, _qwen3, _gemma2,
// _phi3, src/models/gemma3.cpp, qwen3moe.cpp, smollm3.cpp, granite.cpp, mistral3.cpp,
// exaone.cpp, ernie4-5.cpp, glm4.cpp, internlm2.cpp, olmo2.cpp, exaone4.cpp and llama_model_rope_type).
constexpr ArchitectureSpec kArchitectures[] = {
    {.name = "llama", .expertsAllowed = true, .layerTensors = kLlama},
    {.name = "qwen2", .rope = RopeMode::NeoX, .layerTensors = kQwen2},
    {.name = "qwen3", .rope = RopeMode::NeoX, .layerTensors = kQwen3},
    // SmolLM3 (llama_model_smollm3): every fourth layer without RoPE.
    {.name = "smollm3", .noRopeLayerStep = 4, .layerTensors = kLlamaDense},
    // Granite 3.x (llama_model_granite, dense): llama's layer with the file's multipliers.
    {.name = "granite", .readsMultipliers = true, .readsRopeSwitch = true, .layerTensors = kLlamaDense},
    // Granite 3.0 MoE (llama_model_granite_moe: the same graph, llama's experts, RoPE always on).
    {.name = "granitemoe", .expertsAllowed = true, .readsMultipliers = true, .layerTensors = kLlama},
    // EXAONE 3.0/3.5 (llama_model_exaone): llama's dense layer with optional Q/K/V biases, NeoX RoPE.
    {.name = "exaone", .rope = RopeMode::NeoX, .layerTensors = kQwen2},
    // OLMo 2 (llama_model_olmo2 without a window; OLMo 3's sliding-window layers are refused).
    {.name = "olmo2", .rope = RopeMode::NeoX, .refusesSlidingWindow = true, .layerTensors = kOlmo2},
    // EXAONE 4.0 1.2B (llama_model_exaone4). llama.cpp gives a 64-layer file (EXAONE 4.0 32B) sliding-window
    // layers with RoPE and global ones without, which is refused.
    {.name = "exaone4", .rope = RopeMode::NeoX, .windowLayoutLayerCount = 64, .layerTensors = kExaone4},
    // InternLM2 / 2.5 (llama_model_internlm2): llama's layer under its name.
    {.name = "internlm2", .layerTensors = kLlama},
    // ERNIE 4.5 dense (llama_model_ernie4_5): llama's dense layer (its graph ignores an attn_output.bias,
    // which is refused here as llama's is).
    {.name = "ernie4_5", .layerTensors = kLlama},
    // GLM-4-0414 and GLM-Z1 (llama_model_glm4): llama's RoPE order, often on part of each head.
    {.name = "glm4", .fusedGateUp = true, .layerTensors = kGlm4},
    // Ministral 3 (llama_model_mistral3): llama's layer (experts allowed) with YaRN's keys from the file and
    // the queries' temperature by position.
    {.name = "mistral3",
     .expertsAllowed = true,
     .readsYarnKeys = true,
     .readsAttentionTemperature = true,
     .layerTensors = kLlama},
    {.name = "qwen3moe",
     .rope = RopeMode::NeoX,
     .expertsAllowed = true,
     .expertsRequired = true,
     .layerTensors = kQwen3Moe},
    {.name = "gemma2",
     .rope = RopeMode::NeoX,
     .activation = FfnActivation::GeluTanh,
     .scaleEmbedding = true,
     .queryPreScaled = true,
     .attentionSoftCap = true,
     .finalSoftCap = true,
     .readsSlidingWindow = true,
     .slidingWindowPeriod = 2,
     .defaultSlidingWindow = 4096,
     .defaultAttentionSoftCap = 50.0f,
     .defaultFinalSoftCap = 30.0f,
     .layerTensors = kGemma2},
    // Gemma 3 (llama_model_gemma3): no attention soft-capping, a final cap only when the file sets one, a
    // window only when the file sets one (then every sixth layer is dense unless the pattern key says
    // otherwise), and the window layers' own RoPE base.
    {.name = "gemma3",
     .rope = RopeMode::NeoX,
     .activation = FfnActivation::GeluTanh,
     .scaleEmbedding = true,
     .queryPreScaled = true,
     .finalSoftCap = true,
     .readsSlidingWindow = true,
     .slidingWindowPeriod = 6,
     .slidingWindowRope = true,
     .layerTensors = kGemma3},
    // llama.cpp reads phi3's sliding_window key but runs Phi-3 without a window (it disabled Phi SWA, as
    // the converters wrote the key for models trained without it); we follow it for parity.
    {.name = "phi3",
     .rope = RopeMode::NeoX,
     .queryPreScaled = true,
     .fusedQkv = true,
     .fusedGateUp = true,
     .layerTensors = kPhi3},
};

} // namespace

const ArchitectureSpec* findArchitecture(std::string_view name) {
    for (const ArchitectureSpec& a : kArchitectures)
        if (a.name == name)
            return &a;
    return nullptr;
}

std::string supportedArchitectureNames() {
    std::string names;
    for (const ArchitectureSpec& a : kArchitectures)
        names.append(names.empty() ? "" : ", ").append(a.name);
    return names;
}

} // namespace declai
