#include "declai/core/ModelConfig.h"

namespace declai {
namespace {

Error configError(const GgufFile& file, const std::string& what) {
    return makeError(ErrorCode::Format, "model '" + file.path() + "': " + what);
}

std::string shapeString(const std::vector<uint64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s.append(i ? ", " : "").append(std::to_string(shape[i]));
    return s + "]";
}

Expected<void> expectTensor(const GgufFile& file, const std::string& name, std::vector<uint64_t> shape,
                            bool needsCompute) {
    const GgufTensorInfo* t = file.findTensor(name);
    if (!t)
        return configError(file, "tensor '" + name + "' is missing");
    // A trailing extent of 1 may be omitted (a 2-D [n, 1] is the same as a 1-D [n]).
    std::vector<uint64_t> actual = t->shape;
    while (actual.size() > shape.size() && actual.back() == 1)
        actual.pop_back();
    if (actual != shape)
        return configError(file, "tensor '" + name + "' has shape " + shapeString(t->shape) + ", expected " +
                                     shapeString(shape));
    if (needsCompute && !tensorTypeTraits(t->type).computeSupported)
        return makeError(ErrorCode::Unsupported, "model '" + file.path() + "': tensor '" + name +
                                                     "' has type " + std::string(tensorTypeName(t->type)) +
                                                     ", which the engine does not support yet");
    return {};
}

} // namespace

std::string layerTensorName(int64_t layer, const char* suffix) {
    return "blk." + std::to_string(layer) + "." + suffix;
}

Expected<ModelConfig> ModelConfig::fromGguf(const GgufFile& file) {
    ModelConfig c;
    auto arch = file.getString("general.architecture");
    if (!arch)
        return arch.error();
    c.architecture = *arch;
    if (c.architecture != "llama")
        return makeError(ErrorCode::Unsupported, "model '" + file.path() + "': architecture '" +
                                                     c.architecture + "' is not supported (only 'llama')");
    auto name = file.getStringOr("general.name", "");
    if (!name)
        return name.error();
    c.name = *name;
    const std::string p = c.architecture + ".";

    auto readInt = [&](const char* key, int64_t& out) -> Expected<void> {
        auto v = file.getInt(p + key);
        if (!v)
            return v.error();
        out = *v;
        return {};
    };
    for (auto [key, out] :
         {std::pair{"embedding_length", &c.embeddingLength}, std::pair{"block_count", &c.layerCount},
          std::pair{"attention.head_count", &c.headCount},
          std::pair{"feed_forward_length", &c.feedForwardLength}}) {
        if (auto r = readInt(key, *out); !r)
            return r.error();
    }
    auto kvHeads = file.getIntOr(p + "attention.head_count_kv", c.headCount);
    auto contextLength = file.getIntOr(p + "context_length", 2048);
    auto eps = file.getFloatOr(p + "attention.layer_norm_rms_epsilon", 1e-5);
    auto ropeBase = file.getFloatOr(p + "rope.freq_base", 10000.0);
    auto scalingType = file.getStringOr(p + "rope.scaling.type", "none");
    auto scalingFactor = file.getFloatOr(p + "rope.scaling.factor", 0.0);
    for (const Error* e :
         {kvHeads ? nullptr : &kvHeads.error(), contextLength ? nullptr : &contextLength.error(),
          eps ? nullptr : &eps.error(), ropeBase ? nullptr : &ropeBase.error(),
          scalingType ? nullptr : &scalingType.error(), scalingFactor ? nullptr : &scalingFactor.error()}) {
        if (e)
            return *e;
    }
    c.kvHeadCount = *kvHeads;
    c.contextLength = *contextLength;
    c.rmsNormEps = static_cast<float>(*eps);
    c.ropeFreqBase = static_cast<float>(*ropeBase);
    if (*scalingType == "linear" && *scalingFactor > 0.0)
        c.ropeFreqScale = static_cast<float>(1.0 / *scalingFactor);
    else if (*scalingType != "none" && *scalingType != "linear" && *scalingType != "llama3")
        return makeError(ErrorCode::Unsupported,
                         "model '" + file.path() + "': rope scaling '" + *scalingType + "' is not supported");

    if (c.embeddingLength <= 0 || c.layerCount <= 0 || c.headCount <= 0 || c.kvHeadCount <= 0 ||
        c.feedForwardLength <= 0 || c.contextLength <= 0)
        return configError(file, "dimensions must be positive");
    if (c.embeddingLength > (1 << 20) || c.layerCount > 4096 || c.headCount > 4096 ||
        c.feedForwardLength > (1 << 22))
        return configError(file, "dimensions are implausibly large");
    if (c.headCount % c.kvHeadCount != 0)
        return configError(file, "head_count " + std::to_string(c.headCount) +
                                     " is not a multiple of head_count_kv " + std::to_string(c.kvHeadCount));
    auto keyLength = file.getIntOr(p + "attention.key_length", c.embeddingLength / c.headCount);
    if (!keyLength)
        return keyLength.error();
    c.headDim = *keyLength;
    if (c.headDim <= 0 || c.headDim % 2 != 0 || c.headDim > 1024)
        return configError(file, "head dimension " + std::to_string(c.headDim) + " must be even and <= 1024");
    auto ropeDims = file.getIntOr(p + "rope.dimension_count", c.headDim);
    if (!ropeDims)
        return ropeDims.error();
    c.ropeDimensions = *ropeDims;
    if (c.ropeDimensions <= 0 || c.ropeDimensions > c.headDim || c.ropeDimensions % 2 != 0)
        return configError(file, "rope.dimension_count " + std::to_string(c.ropeDimensions) + " is invalid");

    const GgufTensorInfo* embd = file.findTensor("token_embd.weight");
    if (!embd)
        return configError(file, "tensor 'token_embd.weight' is missing");
    if (embd->shape.size() != 2)
        return configError(file, "tensor 'token_embd.weight' must be 2-D");
    c.vocabSize = static_cast<int64_t>(embd->shape[1]);
    const auto d = static_cast<uint64_t>(c.embeddingLength);
    const auto vocab = static_cast<uint64_t>(c.vocabSize);
    if (auto r = expectTensor(file, "token_embd.weight", {d, vocab}, true); !r)
        return r.error();
    if (auto r = expectTensor(file, "output_norm.weight", {d}, true); !r)
        return r.error();
    c.tiedEmbeddings = file.findTensor("output.weight") == nullptr;
    if (!c.tiedEmbeddings) {
        if (auto r = expectTensor(file, "output.weight", {d, vocab}, true); !r)
            return r.error();
    }
    if (const GgufTensorInfo* factors = file.findTensor("rope_freqs.weight")) {
        if (auto r =
                expectTensor(file, "rope_freqs.weight", {static_cast<uint64_t>(c.ropeDimensions / 2)}, true);
            !r)
            return r.error();
        if (factors->type != TensorType::F32)
            return configError(file, "rope_freqs.weight must be F32");
        c.hasRopeFactors = true;
    }
    const auto q = static_cast<uint64_t>(c.qDim());
    const auto kv = static_cast<uint64_t>(c.kvDim());
    const auto ff = static_cast<uint64_t>(c.feedForwardLength);
    for (int64_t l = 0; l < c.layerCount; ++l) {
        const std::pair<const char*, std::vector<uint64_t>> expected[] = {
            {"attn_norm.weight", {d}},    {"attn_q.weight", {d, q}},      {"attn_k.weight", {d, kv}},
            {"attn_v.weight", {d, kv}},   {"attn_output.weight", {q, d}}, {"ffn_norm.weight", {d}},
            {"ffn_gate.weight", {d, ff}}, {"ffn_up.weight", {d, ff}},     {"ffn_down.weight", {ff, d}},
        };
        for (const auto& [suffix, shape] : expected) {
            if (auto r = expectTensor(file, layerTensorName(l, suffix), shape, true); !r)
                return r.error();
        }
    }
    return c;
}

} // namespace declai
