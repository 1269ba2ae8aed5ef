// ShardExecutor's contract on any compute device (OpenCL, Vulkan, CUDA, HIP, or the CPU device for
// tests), built only on DeviceOps. The shard's weights are uploaded once, as raw GGUF bytes, when the
// executor is created; each session owns one F16 key and one F16 value cache per layer on the device.
// A forward uploads the input hidden states, runs every layer with the activations staying on the
// device, and downloads the output hidden states: nothing else crosses the bus, except for mixtures of
// experts, whose routing runs on the host (the router's logits come down, each routed expert's rows go
// up as ids for getRows and its output comes down, once per layer; DeviceOps has no top-k or scatter).
// Threading: every call comes from one compute thread (the device is not thread-safe either).
#pragma once

#include "declai/gpu/ShardBackend.h"
#include "declai/gpu/backend/Device.h"

#include <map>

namespace declai {

class DeviceShardExecutor final : public ShardBackend {
public:
    // Takes ownership of `device`. Fails (Unsupported) when the model needs something the device ops do
    // not provide (an op or a matrix format without a kernel), OutOfMemory when the weights
    // do not fit. maxContext <= 0 uses the model's context length.
    static Expected<std::unique_ptr<DeviceShardExecutor>> create(std::shared_ptr<const ModelWeights> weights,
                                                                 LayerRange layers,
                                                                 std::unique_ptr<gpu::Device> device,
                                                                 int64_t maxContext = 0);
    ~DeviceShardExecutor() override;

    LayerRange layers() const override { return m_layers; }
    int64_t hiddenSize() const override { return m_config.embeddingLength; }
    int64_t maxContext() const override { return m_maxContext; }
    std::string deviceName() const override { return m_device->id().toString(); }
    const gpu::Device& device() const { return *m_device; }

    Expected<void> forward(SessionId session, int64_t startPos, std::span<float> hidden,
                           int64_t nTokens) override;
    int64_t sessionLength(SessionId session) const override;
    void truncateSession(SessionId session, int64_t length) override;
    void endSession(SessionId session) override;
    size_t sessionCount() const override { return m_sessions.size(); }
    uint64_t kvBytesPerToken() const override;
    // Bytes of weights held on the device.
    uint64_t weightBytes() const { return m_weightBytes; }

private:
    struct DeviceMatrix {
        std::unique_ptr<gpu::DeviceBuffer> buffer;
        gpu::MatrixDesc desc;
    };
    struct Expert {
        DeviceMatrix gate, up, down;
    };
    // Fused matrices (phi3's attn_qkv and [gate | up] ffn_up) are uploaded as their row slices, so the
    // layer graph's split products run as separate Q/K/V and gate/up products (each row's product is the
    // same either way).
    struct DeviceLayer {
        std::unique_ptr<gpu::DeviceBuffer> attnNorm, ffnNorm;
        // null when the model has none: biases (qwen2), Q/K norms (qwen3), post-norms (gemma2)
        std::unique_ptr<gpu::DeviceBuffer> bq, bk, bv, qNorm, kNorm, postAttnNorm, postFfnNorm;
        DeviceMatrix wq, wk, wv, wo, wGate, wUp, wDown; // wGate/wUp/wDown empty with experts
        DeviceMatrix router;                            // experts only
        std::vector<Expert> experts;
    };
    struct KvCache {
        int64_t length = 0;
        int64_t capacityTokens = 0;                             // rows every buffer below holds
        std::vector<std::unique_ptr<gpu::DeviceBuffer>> keys;   // one per layer of the shard
        std::vector<std::unique_ptr<gpu::DeviceBuffer>> values; // one per layer of the shard
    };
    struct Activations {
        int64_t capacityTokens = 0;
        std::unique_ptr<gpu::DeviceBuffer> hidden, normed, q, k, v, attnOut, proj, gate, up;
        std::unique_ptr<gpu::DeviceBuffer> qNormed, kNormed; // per-head Q/K norm outputs (qwen3) or null
        std::unique_ptr<gpu::DeviceBuffer> rounded; // roundActivations output, the largest matmul input
        // Experts only: router logits, one expert's gathered inputs and outputs, the weighted output of
        // every (token, slot) and the layer's routing (see expertFfn).
        std::unique_ptr<gpu::DeviceBuffer> router, expertIn, expertOut, slots, routing;
        // Granite's residual_scale only: a block's output times the scale, and per row the scale (a float)
        // then the row's own index (an int32), so scatterScaledRows does ggml_scale (see addScaled).
        std::unique_ptr<gpu::DeviceBuffer> scaled, residualScales;
        // mistral3's query temperature only: Q times its row's temperature, and per row the temperature
        // (uploaded each pass: it depends on the position) then the row's own index (see scaleQueries).
        std::unique_ptr<gpu::DeviceBuffer> qScaled, queryScales;
    };
    // Host side of expert routing, reused across layers.
    struct ExpertScratch {
        std::vector<float> routerLogits;
        // nTokens * used routing weights, then slotOrder's bit patterns: Activations::routing's layout.
        std::vector<float> routing;
        std::vector<int32_t> slotExpert, tokens;
        std::vector<int32_t> slotOrder; // the slots t * used + s, grouped by expert
        // Expert e's run of slotOrder: [expertFirst[e], expertFirst[e + 1]).
        std::vector<int64_t> expertFirst;
    };

    DeviceShardExecutor(std::shared_ptr<const ModelWeights> weights, LayerRange layers,
                        std::unique_ptr<gpu::Device> device, int64_t maxContext);
    Expected<void> uploadWeights();
    Expected<DeviceMatrix> uploadMatrix(const WeightMatrix& matrix);
    Expected<std::unique_ptr<gpu::DeviceBuffer>> uploadFloats(const std::vector<float>& values);
    Expected<void> reserveActivations(int64_t nTokens);
    Expected<void> reserveCache(KvCache& cache, int64_t tokens);
    // The layer graph's ops (LayerGraph.h) on this device, for one forward of one session.
    class DeviceLayerOps;
    // normed (nTokens rows) -> proj, through the experts the router picks for each token.
    Expected<void> expertFfn(const DeviceLayer& w, FfnActivation activation, int64_t nTokens);
    // y = W x for nTokens rows, x first rounded as the CPU engine rounds it for W's format.
    Expected<void> matMul(const DeviceMatrix& m, const gpu::DeviceBuffer& x, int64_t nTokens,
                          gpu::DeviceBuffer& y);
    Expected<void> gatedActivation(FfnActivation activation, const gpu::DeviceBuffer& gate,
                                   gpu::DeviceBuffer& x, int64_t n);

    std::shared_ptr<const ModelWeights> m_weights;
    const ModelConfig& m_config;
    LayerRange m_layers;
    int64_t m_maxContext;
    std::unique_ptr<gpu::Device> m_device;
    std::vector<DeviceLayer> m_deviceLayers;          // index: layer - m_layers.begin
    std::unique_ptr<gpu::DeviceBuffer> m_ropeFactors; // ModelWeights::ropeFactors(m_maxContext); null if none
    uint64_t m_weightBytes = 0;
    Activations m_act;
    // Which buffer a.rounded holds a rounding of, and as what: matMul shares one rounding between the
    // products of one input (Q/K/V, gate/up). Reset before every group of products (and after every write
    // to a matMul input inside expertFfn).
    const gpu::DeviceBuffer* m_roundedFrom = nullptr;
    TensorType m_roundedAs = TensorType::F32;
    ExpertScratch m_expertScratch;
    std::map<SessionId, KvCache> m_sessions;
};

} // namespace declai
