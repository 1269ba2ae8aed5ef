// One description per supported model architecture (GGUF `general.architecture`): which hyper-parameter keys
// it reads, which per-layer tensors it has (required or optional, with their shapes), and the modes the one
// layer graph runs it with (RoPE pairing, gated activation, soft-capping, sliding window, pre-scaled
// queries). ModelConfig validates a file against it; ModelWeights builds its views, layer sizes and prefault
// from the same table; ShardExecutor/Embedder/Head read the modes. Adding an architecture is an entry here
// (docs/architecture.md, "Adding an architecture"), plus graph code only for an operation no entry has yet.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace declai {

enum class RopeMode {
    Normal, // rotates adjacent pairs (x[2i], x[2i+1]) (llama)
    NeoX,   // rotates (x[i], x[i + d/2]) (GPT-NeoX, Qwen, Gemma, Phi-3)
};

enum class FfnActivation {
    SiLU,     // silu(gate) * up (SwiGLU)
    GeluTanh, // gelu_tanh(gate) * up (GeGLU; llama.cpp's F16-table GELU)
};

// The roles of a layer's tensors. A role is an index into the layer's views (ModelWeights::LayerWeights).
enum class LayerTensor : uint8_t {
    AttnNorm,
    Wq,
    Wk,
    Wv,
    Wqkv, // fused [q | k | v] rows (phi3)
    Bq,
    Bk,
    Bv,
    QNorm, // per-head RMSNorm weights (qwen3)
    KNorm,
    Wo,
    PostAttnNorm, // RMSNorm of the attention output before the residual add (gemma2)
    FfnNorm,
    Gate,
    Up, // 2 x FFN rows [gate | up] when the architecture fuses them (phi3)
    Down,
    PostFfnNorm,
    GateInp, // expert router (mixtral-style llama)
    GateExps,
    UpExps,
    DownExps,
    Count,
};
constexpr size_t kLayerTensorCount = static_cast<size_t>(LayerTensor::Count);

// Symbolic tensor extents, resolved against the file's hyper-parameters.
enum class Extent : uint8_t { None, Dim, QDim, KvDim, QkvDim, Ffn, Ffn2, HeadDim, Experts };

enum class Presence : uint8_t {
    Required,
    Optional, // used when the file has it (the same in every layer)
    Dense,    // required without experts (expert_count 0), absent with them
    Experts,  // required with experts, absent without them
};

struct LayerTensorSpec {
    LayerTensor role;
    const char* suffix; // blk.N.<suffix>
    std::array<Extent, 3> shape;
    Presence presence;
    bool isMatrix; // multiplied (matrix view); otherwise a small float vector copied at load
};

struct ArchitectureSpec {
    std::string_view name;
    RopeMode rope = RopeMode::Normal;
    FfnActivation activation = FfnActivation::SiLU;
    bool scaleEmbedding = false;   // token embeddings x sqrt(dim) (gemma)
    bool queryPreScaled = false;   // Q x attention scale in F32 before attention, which then scales by 1
    bool attentionSoftCap = false; // reads attn_logit_softcapping
    bool finalSoftCap = false;     // reads final_logit_softcapping
    bool readsSlidingWindow = false;
    int64_t slidingWindowPeriod = 0; // SWA on layers with index % period < period - 1; 0 = every layer
    // Sliding-window layers rotate with their own RoPE base (rope.freq_base_swa, default 10000) and no
    // linear scaling, the full-attention layers with rope.freq_base and the file's scaling (gemma3).
    bool slidingWindowRope = false;
    // llama.cpp's defaults when the file lacks the key (gemma2: window 4096, caps 50 and 30).
    int64_t defaultSlidingWindow = 0;
    // A positive attention.sliding_window is refused (olmo2: OLMo 3's window layers, which llama.cpp runs
    // with their own RoPE; not run here).
    bool refusesSlidingWindow = false;
    // A file with exactly this many layers is refused (exaone4: llama.cpp lays 64-layer files out with
    // sliding-window layers that rotate and global layers that do not, by layer count; not run here).
    int64_t windowLayoutLayerCount = 0;
    float defaultAttentionSoftCap = 0.0f;
    float defaultFinalSoftCap = 0.0f;
    bool expertsAllowed = false; // reads expert_count / expert_used_count
    // Every layer is a mixture of experts (qwen3moe): expert_count must be set, and the experts' width is
    // expert_feed_forward_length (feed_forward_length / expert_used_count when absent, as llama.cpp), not
    // feed_forward_length, which describes a dense FFN such a graph never runs.
    bool expertsRequired = false;
    // Every layer whose index + 1 is a multiple of it attends without RoPE (smollm3: 4, NoPE layers).
    int64_t noRopeLayerStep = 0;
    // Granite's multipliers: embedding_scale, residual_scale (each layer's attention and FFN outputs are
    // scaled before their residual add), attention.scale and logit_scale (required).
    bool readsMultipliers = false;
    // rope.scaling.finetuned (default true) switches RoPE in every layer (llama_model_granite, dense only).
    bool readsRopeSwitch = false;
    // YaRN's rope.scaling.yarn_beta_fast, yarn_beta_slow and yarn_log_multiplier (llama_model_mistral3; the
    // other graphs keep llama.cpp's defaults 32, 1 and 0 whatever the file says).
    bool readsYarnKeys = false;
    // attention.temperature_scale (Llama 4's temperature tuning in llama_model_mistral3): after RoPE, the
    // queries of position p are multiplied by 1 + scale * ln(floor(p / original_context_length) + 1).
    bool readsAttentionTemperature = false;
    bool fusedQkv = false;
    bool fusedGateUp = false;
    std::span<const LayerTensorSpec> layerTensors;
};

// nullptr when the architecture is not supported.
const ArchitectureSpec* findArchitecture(std::string_view name);
// Names of the supported architectures, comma-separated (for messages).
std::string supportedArchitectureNames();

} // namespace declai
