// Runs transformer layers [begin, end) of a model on a batch of hidden states, keeping one KV cache per
// session. The layer steps are the one graph of LayerGraph.h (shared with DeviceShardExecutor), run over host
// buffers with llama.cpp's CPU numerics (CpuLayerOps in ShardExecutor.cpp). This is the unit of
// work a volunteer node serves: the network splits models by layer ranges. Threading: all calls come from one
// compute thread; the executor parallelises inside with its pool.
#pragma once

#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/ModelWeights.h"
#include "declai/gpu/ThreadPool.h"

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

namespace declai {

using SessionId = uint64_t;

// One session's part of a batched forward: nTokens hidden states (updated in place) at positions
// startPos.. of `session` (prefill chunk, decode token, or a replay of both).
struct BatchPart {
    SessionId session = 0;
    int64_t startPos = 0;
    std::span<float> hidden;
    int64_t nTokens = 0;
    // Positions below this were the session's prompt, which llama.cpp evaluates as one batch (in ubatches
    // of kLlamaUbatchTokens); later positions were decoded one at a time. Under BatchRounding::LlamaCpp
    // each row rounds as it did there, however the rows are cut into parts (prompt chunks, a replay of
    // prompt and generated tokens). 0: this part's rows are one batch of their own.
    int64_t promptTokens = 0;
    // Under LlamaCpp, prompt rows also run in pieces cut at multiples of this many positions (from 0) when
    // it is positive: the chunks the gateway first sent them in, so that a replay rounds each row as the
    // first pass did. Dense products do not care (they round by promptTokens); a mixture of experts'
    // IQ4_XS products do: llama.cpp picks their rounding by an expert's routed tokens in the batch.
    int64_t promptChunkTokens = 0;
};

// llama.cpp's default physical batch (n_ubatch): a longer prompt is evaluated in batches of this many tokens.
constexpr int64_t kLlamaUbatchTokens = 512;
// llama.cpp's decode attention past 256 positions depends on its thread count (the split-KV path:
// ShardExecutor::CpuLayerOps::attention); the engine follows the 2-thread runs the references come from
// (../shared/README.md), whatever its own thread count, so every node computes the same floats.
constexpr int64_t kLlamaReferenceThreads = 2;
// llama.cpp pads the attended cache length (n_kv) to a multiple of this.
constexpr int64_t kLlamaKvPadding = 256;

class ShardExecutor {
public:
    // maxContext <= 0 uses the model's context length.
    static Expected<std::unique_ptr<ShardExecutor>> create(std::shared_ptr<const ModelWeights> weights,
                                                           LayerRange layers, ThreadPool& pool,
                                                           int64_t maxContext = 0);

    LayerRange layers() const { return m_layers; }
    int64_t hiddenSize() const { return m_config.embeddingLength; }
    int64_t maxContext() const { return m_maxContext; }

    // Runs the shard on nTokens hidden states (hidden holds nTokens x hiddenSize floats, updated in place)
    // at positions startPos.. of `session`. startPos must equal the session's cached length (a new
    // session starts at 0): prefill passes the whole prompt, decode one token.
    Expected<void> forward(SessionId session, int64_t startPos, std::span<float> hidden, int64_t nTokens);
    // Several sessions' parts in one pass: every matrix product runs once over the weights for the rows of
    // all parts (decode is memory-bound, so this is where batching gains), while norms, RoPE, the KV cache
    // and attention stay per session. Every kernel computes each row independently of the others, so each
    // part's result is bit-identical to forward() on that part alone. A session may appear once; the
    // result has one entry per part (a part that fails its checks is skipped, the others still run).
    std::vector<Expected<void>> forwardBatch(std::span<const BatchPart> parts);

    // How prompt batches round (cpu::BatchRounding). LlamaCpp (the default) gives llama.cpp's own floats:
    // prompt rows as in its prompt batch (BatchPart::promptTokens; each part's prompt rows run on their
    // own, as llama.cpp runs each sequence's batch), decode rows as its one-token decode, which are still
    // batched across sessions (a row of one token rounds the same in any batch). AsDecode rounds every row
    // as decode, so a prompt gives the floats of token-by-token decode. Mixture-of-experts products round
    // as decode in both.
    void setBatchRounding(cpu::BatchRounding rounding) { m_rounding = rounding; }

    int64_t sessionLength(SessionId session) const; // 0 for unknown sessions
    void truncateSession(SessionId session, int64_t length);
    void endSession(SessionId session);
    size_t sessionCount() const { return m_sessions.size(); }
    uint64_t kvBytesPerToken() const;

private:
    struct KvCache {
        int64_t length = 0;
        // Per layer: positions x kvDim, stored as F16 like llama.cpp's default cache (half the memory, and
        // the same rounding, which keeps quantised models' outputs closest to the reference).
        std::vector<std::vector<uint16_t>> keys;
        std::vector<std::vector<uint16_t>> values;
    };

    ShardExecutor(std::shared_ptr<const ModelWeights> weights, LayerRange layers, ThreadPool& pool,
                  int64_t maxContext);
    // The rows of one pass: segments of consecutive rows, each one session's part.
    struct Segment {
        KvCache* cache = nullptr;
        int64_t startPos = 0;
        int64_t firstRow = 0;
        int64_t nTokens = 0;
    };
    Expected<void> check(SessionId session, int64_t startPos, std::span<const float> hidden,
                         int64_t nTokens) const;
    // Runs the layers over `segments` (rows back to back in hidden), then advances each cache. Under
    // LlamaCpp the rows are one segment, a chunk of a llama.cpp batch of batchTokens rows.
    void run(std::span<const Segment> segments, float* hidden, int64_t rows, cpu::BatchRounding rounding,
             int64_t batchTokens);
    // The layer graph's ops (LayerGraph.h) over this executor's scratch and the pass's segments.
    class CpuLayerOps;

    std::shared_ptr<const ModelWeights> m_weights;
    const ModelConfig& m_config;
    LayerRange m_layers;
    ThreadPool& m_pool;
    int64_t m_maxContext;
    cpu::BatchRounding m_rounding = cpu::BatchRounding::LlamaCpp;
    std::map<SessionId, KvCache> m_sessions;

    // Scratch reused across calls (sized for the largest batch seen).
    std::vector<float> m_normed, m_q, m_k, m_v, m_attnOut, m_proj, m_gate, m_up, m_ropeTable, m_scores;
    std::vector<float> m_windowRopeTable; // sliding-window layers' cos/sin (ModelConfig::separateWindowRope)
    std::vector<float> m_fused;           // fused QKV or gate/up products
    std::vector<float> m_router, m_expertIn, m_expertOut; // mixture of experts
    std::vector<float> m_slotOut, m_slotWeight;           // nTokens x used experts
    std::vector<int32_t> m_slotExpert;
    std::vector<std::byte> m_actScratch;
    std::vector<float> m_batchHidden;
    std::vector<int64_t> m_rowSegment; // per row of a pass: its segment
};

} // namespace declai
