#include "declai/gpu/LocalGenerator.h"

#include <algorithm>
#include <cmath>

namespace declai {

Expected<std::unique_ptr<LocalGenerator>> LocalGenerator::create(std::shared_ptr<const ModelWeights> weights,
                                                                 ThreadPool& pool, int64_t maxContext) {
    return create(std::move(weights), pool, "cpu", maxContext);
}

Expected<std::unique_ptr<LocalGenerator>> LocalGenerator::create(std::shared_ptr<const ModelWeights> weights,
                                                                 ThreadPool& pool, std::string_view deviceId,
                                                                 int64_t maxContext) {
    // Every layer and the head stream through memory each token: on the CPU, from huge pages.
    if (isCpuDevice(deviceId)) {
        const LayerRange all{0, weights->config().layerCount};
        weights = ModelWeights::makeResident(std::move(weights), all, true).weights;
    }
    auto shard =
        makeShardBackend(weights, LayerRange{0, weights->config().layerCount}, deviceId, pool, maxContext);
    if (!shard)
        return shard.error();
    return std::unique_ptr<LocalGenerator>(new LocalGenerator(std::move(weights), pool, std::move(*shard)));
}

LocalGenerator::LocalGenerator(std::shared_ptr<const ModelWeights> weights, ThreadPool& pool,
                               std::unique_ptr<ShardBackend> shard)
    : m_weights(std::move(weights)), m_embedder(m_weights), m_head(m_weights, pool),
      m_shard(std::move(shard)) {
    m_logits.resize(static_cast<size_t>(m_head.vocabSize()));
}

Expected<void> LocalGenerator::step(SessionId session, std::span<const int32_t> tokens, int64_t startPos) {
    const int64_t dim = m_embedder.hiddenSize();
    m_hidden.resize(tokens.size() * static_cast<size_t>(dim));
    if (auto r = m_embedder.embed(tokens, m_hidden); !r)
        return r.error();
    if (auto r = m_shard->forward(session, startPos, m_hidden, static_cast<int64_t>(tokens.size())); !r)
        return r.error();
    const std::span<const float> last(m_hidden.data() + (tokens.size() - 1) * static_cast<size_t>(dim),
                                      static_cast<size_t>(dim));
    return m_head.logits(last, m_logits);
}

Expected<std::vector<float>> LocalGenerator::promptLogits(std::span<const int32_t> prompt) {
    if (prompt.empty())
        return makeError(ErrorCode::InvalidArgument, "the prompt has no tokens");
    const SessionId session = m_nextSession++;
    auto r = step(session, prompt, 0);
    m_shard->endSession(session);
    if (!r)
        return r.error();
    return m_logits;
}

Expected<std::vector<int32_t>> LocalGenerator::generate(std::span<const int32_t> prompt,
                                                        const GenerationOptions& options,
                                                        const std::function<bool(int32_t)>& onToken) {
    if (prompt.empty())
        return makeError(ErrorCode::InvalidArgument, "the prompt has no tokens");
    if (auto valid = validate(options.sampler); !valid)
        return valid.error();
    if (static_cast<int64_t>(prompt.size()) + options.maxTokens > m_shard->maxContext())
        return makeError(ErrorCode::InvalidArgument,
                         "prompt (" + std::to_string(prompt.size()) + " tokens) plus " +
                             std::to_string(options.maxTokens) + " new tokens exceed the context length " +
                             std::to_string(m_shard->maxContext()));
    const SessionId session = m_nextSession++;
    Sampler sampler(options.sampler);
    for (int32_t id : prompt)
        sampler.accept(id);
    std::vector<int32_t> generated;
    auto r = step(session, prompt, 0);
    int64_t position = static_cast<int64_t>(prompt.size());
    while (r && static_cast<int32_t>(generated.size()) < options.maxTokens) {
        // NaN or infinite logits (broken weights or a broken backend) would sample nothing or garbage and
        // end the generation as if it were complete: report them instead.
        if (!std::all_of(m_logits.begin(), m_logits.end(), [](float v) { return std::isfinite(v); })) {
            r = makeError(ErrorCode::Format,
                          "the model produced non-finite logits (NaN or infinity) at position " +
                              std::to_string(position) + "; its weights or the compute backend are broken");
            break;
        }
        const int32_t next = sampler.sample(m_logits);
        if (next < 0 || options.stopIds.count(next))
            break;
        sampler.accept(next);
        generated.push_back(next);
        if (onToken && !onToken(next))
            break;
        if (static_cast<int32_t>(generated.size()) == options.maxTokens)
            break;
        const int32_t one[] = {next};
        r = step(session, one, position++);
    }
    m_shard->endSession(session);
    if (!r)
        return r.error();
    return generated;
}

} // namespace declai
