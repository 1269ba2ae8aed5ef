#include "declai/core/ModelConfig.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>
#include <vector>

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

// Keys beyond the llama set: soft-capping, sliding window, experts, attention scale.
Expected<void> readModes(const GgufFile& file, const std::string& p, ModelConfig& c) {
    const ArchitectureSpec& spec = *c.spec;
    c.embeddingScale = spec.scaleEmbedding ? std::sqrt(static_cast<float>(c.embeddingLength)) : 1.0f;
    c.attentionScale = 1.0f / std::sqrt(static_cast<float>(c.headDim));
    if ((spec.name == "gemma2" && c.layerCount == 46) || (spec.name == "gemma3" && c.layerCount == 62)) {
        // llama.cpp: 1/sqrt(head size), except Gemma 2 27B (46 layers) and Gemma 3 27B (62), whose
        // query_pre_attn_scalar is dim / heads (the converter does not write the scalar; llama.cpp derives it
        // from the layer count the same way).
        c.attentionScale = 1.0f / std::sqrt(static_cast<float>(c.embeddingLength / c.headCount));
    }
    auto readFloat = [&](bool wanted, const char* key, float& out) -> Expected<void> {
        if (!wanted)
            return {};
        auto v = file.getFloatOr(p + key, out);
        if (!v)
            return v.error();
        if (!(*v >= 0.0) || !std::isfinite(*v))
            return configError(file, std::string(key) + " must be a non-negative number");
        out = static_cast<float>(*v);
        return {};
    };
    c.attentionSoftCap = spec.defaultAttentionSoftCap;
    c.finalSoftCap = spec.defaultFinalSoftCap;
    if (auto r = readFloat(spec.attentionSoftCap, "attn_logit_softcapping", c.attentionSoftCap); !r)
        return r;
    if (auto r = readFloat(spec.finalSoftCap, "final_logit_softcapping", c.finalSoftCap); !r)
        return r;
    if (spec.readsMultipliers) {
        // llama_model_granite: a multiplier of 0 (or a missing key) means none, except logit_scale, which
        // the logits are divided by and every Granite file has.
        float embedding = 0.0f, residual = 0.0f, attention = 0.0f, logit = 0.0f;
        if (auto r = readFloat(true, "embedding_scale", embedding); !r)
            return r;
        if (auto r = readFloat(true, "residual_scale", residual); !r)
            return r;
        if (auto r = readFloat(true, "attention.scale", attention); !r)
            return r;
        if (!file.find(p + "logit_scale"))
            return configError(file, p + "logit_scale is missing");
        if (auto r = readFloat(true, "logit_scale", logit); !r)
            return r;
        if (logit == 0.0f)
            return configError(file, p + "logit_scale must be positive");
        if (embedding != 0.0f)
            c.embeddingScale = embedding;
        if (residual != 0.0f)
            c.residualScale = residual;
        if (attention != 0.0f)
            c.attentionScale = attention;
        c.logitScale = logit;
    }
    if (spec.readsRopeSwitch) {
        auto rope = file.getBoolOr(p + "rope.scaling.finetuned", true);
        if (!rope)
            return rope.error();
        c.ropeEnabled = *rope;
    }
    if (spec.readsSlidingWindow) {
        auto window = file.getIntOr(p + "attention.sliding_window", spec.defaultSlidingWindow);
        if (!window)
            return window.error();
        if (*window < 0)
            return configError(file, "attention.sliding_window must not be negative");
        c.slidingWindow = *window;
        auto period = file.getIntOr(p + "attention.sliding_window_pattern", spec.slidingWindowPeriod);
        if (!period)
            return period.error();
        if (*period < 0 || *period > 4096)
            return configError(file, "attention.sliding_window_pattern " + std::to_string(*period) +
                                         " is out of range");
        c.slidingWindowPeriod = *period;
        if (spec.slidingWindowRope && c.slidingWindow > 0) {
            // llama_model_gemma3: base from the key (10000 when absent), scale 1 (hparams defaults).
            auto base = file.getFloatOr(p + "rope.freq_base_swa", 10000.0);
            if (!base)
                return base.error();
            if (!(*base > 0.0) || !std::isfinite(*base))
                return configError(file, p + "rope.freq_base_swa must be positive");
            c.separateWindowRope = true;
            c.ropeFreqBaseWindow = static_cast<float>(*base);
            c.ropeFreqScaleWindow = 1.0f;
        } else if (file.find(p + "rope.freq_base_swa")) {
            // The other architectures' llama.cpp graphs rotate every layer alike; a file asking for a
            // different base on its window layers is refused rather than run one way or the other.
            auto base = file.getFloat(p + "rope.freq_base_swa");
            if (!base)
                return base.error();
            if (static_cast<float>(*base) != c.ropeFreqBase)
                return makeError(ErrorCode::Unsupported, "model '" + file.path() + "': " + p +
                                                             "rope.freq_base_swa (a separate RoPE base for "
                                                             "sliding-window layers) is not supported for '" +
                                                             c.architecture + "'");
        }
    }
    auto experts = file.getIntOr(p + "expert_count", 0);
    auto used = file.getIntOr(p + "expert_used_count", 0);
    if (!experts)
        return experts.error();
    if (!used)
        return used.error();
    if (*experts > 0) {
        if (!spec.expertsAllowed)
            return makeError(ErrorCode::Unsupported, "model '" + file.path() + "': architecture '" +
                                                         c.architecture +
                                                         "' with experts (expert_count) is not supported");
        if (*experts > 1024 || *used <= 0 || *used > *experts)
            return configError(file, "expert_used_count " + std::to_string(*used) + " must be within 1.." +
                                         std::to_string(*experts));
        c.expertCount = *experts;
        c.expertUsedCount = *used;
    } else if (spec.expertsRequired) {
        return configError(file, p + "expert_count is missing or 0; '" + c.architecture +
                                     "' runs a mixture of experts in every layer");
    }
    if (spec.expertsRequired) {
        // The graph runs no dense FFN: the width of every FFN it runs is the experts'.
        auto width = file.getIntOr(p + "expert_feed_forward_length", c.feedForwardLength / c.expertUsedCount);
        if (!width)
            return width.error();
        if (*width <= 0 || *width > (1 << 22))
            return configError(file, p + "expert_feed_forward_length " + std::to_string(*width) +
                                         " is out of range");
        c.feedForwardLength = *width;
    }
    return {};
}

uint64_t extentValue(const ModelConfig& c, Extent e) {
    switch (e) {
    case Extent::None:
        return 0;
    case Extent::Dim:
        return static_cast<uint64_t>(c.embeddingLength);
    case Extent::QDim:
        return static_cast<uint64_t>(c.qDim());
    case Extent::KvDim:
        return static_cast<uint64_t>(c.kvDim());
    case Extent::QkvDim:
        return static_cast<uint64_t>(c.qDim() + 2 * c.kvDim());
    case Extent::Ffn:
        return static_cast<uint64_t>(c.feedForwardLength);
    case Extent::Ffn2:
        return static_cast<uint64_t>(2 * c.feedForwardLength);
    case Extent::HeadDim:
        return static_cast<uint64_t>(c.headDim);
    case Extent::Experts:
        return static_cast<uint64_t>(c.expertCount);
    }
    return 0;
}

// Every layer against the architecture's table: required tensors present, optional ones present in all
// layers or none, shapes and types as the graph needs them.
Expected<void> checkLayerTensors(const GgufFile& file, ModelConfig& c) {
    const bool experts = c.expertCount > 0;
    for (const LayerTensorSpec& t : c.spec->layerTensors) {
        const bool required = t.presence == Presence::Required ||
                              (t.presence == Presence::Dense && !experts) ||
                              (t.presence == Presence::Experts && experts);
        const bool allowed = required || t.presence == Presence::Optional;
        std::vector<uint64_t> shape;
        for (Extent e : t.shape)
            if (e != Extent::None)
                shape.push_back(extentValue(c, e));
        const bool present = allowed && file.findTensor(layerTensorName(0, t.suffix)) != nullptr;
        if (required && !present)
            return configError(file, "tensor '" + layerTensorName(0, t.suffix) +
                                         "' is missing (architecture '" + c.architecture + "' needs it)");
        c.layerTensorPresent[static_cast<size_t>(t.role)] = present;
        for (int64_t l = 0; l < c.layerCount; ++l) {
            const std::string name = layerTensorName(l, t.suffix);
            if (!present) {
                if (allowed && file.findTensor(name))
                    return configError(file, "tensor '" + name + "' is present in layer " +
                                                 std::to_string(l) + " but not in layer 0");
                continue;
            }
            if (auto r = expectTensor(file, name, shape, true); !r)
                return r;
            if (!t.isMatrix && file.findTensor(name)->type != TensorType::F32 &&
                file.findTensor(name)->type != TensorType::F16)
                return configError(file, "tensor '" + name + "' must be F32 or F16");
        }
    }
    return {};
}

// Every tensor of the file must be one the graph reads. A tensor it would skip (an output bias, LongRoPE
// factors, a shared expert, a layer past block_count) changes the model's outputs, so running without it
// gives wrong text with no error; llama.cpp refuses such files too ("wrong number of tensors").
Expected<void> checkNoUnreadTensors(const GgufFile& file, const ModelConfig& c) {
    std::unordered_set<std::string> read = {"token_embd.weight", "output_norm.weight"};
    if (!c.tiedEmbeddings)
        read.insert("output.weight");
    if (c.hasRopeFactors)
        read.insert("rope_freqs.weight");
    if (c.hasLongRopeFactors)
        read.insert({"rope_factors_long.weight", "rope_factors_short.weight"});
    for (const LayerTensorSpec& t : c.spec->layerTensors) {
        if (!c.has(t.role))
            continue;
        for (int64_t l = 0; l < c.layerCount; ++l)
            read.insert(layerTensorName(l, t.suffix));
    }
    std::vector<std::string> unread;
    for (const GgufTensorInfo& t : file.tensors())
        if (!read.contains(t.name))
            unread.push_back(t.name);
    if (unread.empty())
        return {};
    std::string names;
    const size_t shown = std::min<size_t>(unread.size(), 4);
    for (size_t i = 0; i < shown; ++i)
        names.append(i ? ", '" : "'").append(unread[i]).append("'");
    if (unread.size() > shown)
        names.append(" and ").append(std::to_string(unread.size() - shown)).append(" more");
    return makeError(ErrorCode::Unsupported,
                     "model '" + file.path() + "': tensor" + (unread.size() > 1 ? "s " : " ") + names +
                         (unread.size() > 1 ? " are" : " is") + " not part of the '" + c.architecture +
                         "' graph DeCLAI runs (" + std::to_string(c.layerCount) +
                         " layers); running without " + (unread.size() > 1 ? "them" : "it") +
                         " would give wrong outputs");
}

// Rope frequency factors: Llama 3.1's rope_freqs.weight, or LongRoPE's pair rope_factors_long.weight and
// rope_factors_short.weight; each ropeDimensions/2 F32 values.
Expected<void> readRopeFactors(const GgufFile& file, ModelConfig& c) {
    const auto present = [&](const std::string& name) -> Expected<bool> {
        const GgufTensorInfo* t = file.findTensor(name);
        if (!t)
            return false;
        if (auto r = expectTensor(file, name, {static_cast<uint64_t>(c.ropeDimensions / 2)}, true); !r)
            return r.error();
        if (t->type != TensorType::F32)
            return configError(file, name + " must be F32");
        return true;
    };
    auto fixed = present("rope_freqs.weight");
    auto longFactors = present("rope_factors_long.weight");
    auto shortFactors = present("rope_factors_short.weight");
    for (const auto* r : {&fixed, &longFactors, &shortFactors})
        if (!*r)
            return r->error();
    if (*longFactors != *shortFactors)
        return configError(
            file, std::string(*longFactors ? "rope_factors_long.weight" : "rope_factors_short.weight") +
                      " needs " + (*longFactors ? "rope_factors_short.weight" : "rope_factors_long.weight") +
                      " (LongRoPE picks one of the pair by context length)");
    if (*fixed && *longFactors)
        return configError(
            file, "rope_freqs.weight and LongRoPE's rope_factors_long/short.weight exclude each other");
    if (*longFactors && c.ropeOriginalContext <= 0)
        return configError(file, c.architecture + ".rope.scaling.original_context_length must be positive");
    c.hasRopeFactors = *fixed;
    c.hasLongRopeFactors = *longFactors;
    return {};
}

} // namespace

float ModelConfig::queryTemperature(int64_t position) const {
    // llm_graph_input_attn_temp::set_input: the position in float, floor in float, the rest in double.
    const auto pos = static_cast<float>(position);
    const float periods = std::floor(pos / static_cast<float>(ropeOriginalContext));
    return static_cast<float>(std::log(periods + 1.0) * static_cast<double>(attentionTemperatureScale) + 1.0);
}

bool ModelConfig::usesSlidingWindow(int64_t layer) const {
    if (slidingWindow <= 0 || !spec)
        return false;
    // llama_hparams::set_swa_pattern: period 0 = every layer, else the last layer of each period is dense.
    const int64_t period = slidingWindowPeriod;
    return period == 0 || layer % period < period - 1;
}

std::string ModelConfig::deviceOptionalFeatures() const {
    // One entry per op DeviceShardExecutor::create asks a device for beyond llama's (Q/K norms and post-norms
    // are plain RMSNorms, fused matrices are uploaded as slices, experts route on the host).
    std::string text;
    const auto add = [&](const char* feature) { text.append(text.empty() ? "" : ", ").append(feature); };
    if (spec && spec->rope == RopeMode::NeoX)
        add("NeoX RoPE");
    if (has(LayerTensor::Bq) || has(LayerTensor::Bk) || has(LayerTensor::Bv))
        add("Q/K/V biases");
    if (spec && spec->activation == FfnActivation::GeluTanh)
        add("GELU");
    if (attentionSoftCap > 0.0f)
        add("attention soft-capping");
    if (slidingWindow > 0)
        add("sliding-window attention");
    if (attentionTemperatureScale != 0.0f)
        add("query temperature");
    if (hasRopeFactors || hasLongRopeFactors || ropeYarn.enabled())
        add("rope frequency factors"); // YaRN runs as factors on the devices (RopeYarn::foldIntoFactors)
    return text;
}

std::string layerTensorName(int64_t layer, const char* suffix) {
    return "blk." + std::to_string(layer) + "." + suffix;
}

Expected<ModelConfig> ModelConfig::fromGguf(const GgufFile& file) {
    ModelConfig c;
    auto arch = file.getString("general.architecture");
    if (!arch)
        return arch.error();
    c.architecture = *arch;
    c.spec = findArchitecture(c.architecture);
    if (!c.spec)
        return makeError(ErrorCode::Unsupported,
                         "model '" + file.path() + "': architecture '" + c.architecture +
                             "' is not supported (supported: " + supportedArchitectureNames() + ")");
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
    // Read for every architecture, as llama.cpp does (hparams.rope_attn_factor): Phi-3's converter writes it
    // for LongRoPE models, sqrt(1 + ln(scale) / ln(original context)).
    auto attnFactor = file.getFloatOr(p + "rope.scaling.attn_factor", 1.0);
    for (const Error* e :
         {kvHeads ? nullptr : &kvHeads.error(), contextLength ? nullptr : &contextLength.error(),
          eps ? nullptr : &eps.error(), ropeBase ? nullptr : &ropeBase.error(),
          scalingType ? nullptr : &scalingType.error(), scalingFactor ? nullptr : &scalingFactor.error(),
          attnFactor ? nullptr : &attnFactor.error()}) {
        if (e)
            return *e;
    }
    c.kvHeadCount = *kvHeads;
    c.contextLength = *contextLength;
    c.rmsNormEps = static_cast<float>(*eps);
    c.ropeFreqBase = static_cast<float>(*ropeBase);
    // "longrope" scales through the factor tensors and attn_factor, like "llama3" through rope_freqs. The
    // scale is 1 / factor in float, as llama.cpp's rope_freq_scale_train.
    const bool yarn = *scalingType == "yarn";
    if ((*scalingType == "linear" || yarn) && *scalingFactor > 0.0)
        c.ropeFreqScale = 1.0f / static_cast<float>(*scalingFactor);
    else if (*scalingType != "none" && *scalingType != "linear" && !yarn && *scalingType != "llama3" &&
             *scalingType != "longrope")
        return makeError(ErrorCode::Unsupported, "model '" + file.path() + "': rope scaling '" +
                                                     *scalingType +
                                                     "' is not supported (supported: none, linear, yarn, "
                                                     "llama3, longrope)");
    if (!std::isfinite(c.ropeFreqScale) || c.ropeFreqScale <= 0.0f)
        return configError(file,
                           p + "rope.scaling.factor " + std::to_string(*scalingFactor) + " is out of range");
    c.ropeAttnFactor = static_cast<float>(*attnFactor);
    if (!std::isfinite(c.ropeAttnFactor) || c.ropeAttnFactor <= 0.0f || c.ropeAttnFactor > 100.0f)
        return configError(file, p + "rope.scaling.attn_factor " + std::to_string(*attnFactor) +
                                     " must be positive and at most 100");
    auto originalContext = file.getIntOr(p + "rope.scaling.original_context_length", c.contextLength);
    if (!originalContext)
        return originalContext.error();
    c.ropeOriginalContext = *originalContext;

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
    // One head size for keys and values: the graph and the KV cache have no separate value width.
    auto valueLength = file.getIntOr(p + "attention.value_length", c.headDim);
    if (!valueLength)
        return valueLength.error();
    if (*valueLength != c.headDim)
        return makeError(ErrorCode::Unsupported, "model '" + file.path() + "': " + p +
                                                     "attention.value_length " +
                                                     std::to_string(*valueLength) +
                                                     " differs from key_length " + std::to_string(c.headDim) +
                                                     "; separate key and value head sizes are not supported");
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
    if (auto r = readRopeFactors(file, c); !r)
        return r.error();
    if (auto r = readModes(file, p, c); !r)
        return r.error();
    if (c.spec->windowLayoutLayerCount > 0 && c.layerCount == c.spec->windowLayoutLayerCount)
        return makeError(ErrorCode::Unsupported,
                         "model '" + file.path() + "': " + c.architecture + " with " +
                             std::to_string(c.layerCount) +
                             " layers runs sliding-window layers with RoPE and global layers without "
                             "(EXAONE 4.0 32B's layout), which is not supported");
    if (c.spec->refusesSlidingWindow) {
        auto window = file.getIntOr(p + "attention.sliding_window", 0);
        if (!window)
            return window.error();
        if (*window > 0)
            return makeError(ErrorCode::Unsupported,
                             "model '" + file.path() + "': " + p + "attention.sliding_window " +
                                 std::to_string(*window) + ": sliding-window layers are not supported for " +
                                 c.architecture + " (OLMo 3)");
    }
    // Multi-token-prediction layers (GLM-4.5's nextn) sit in the file past the layers llama.cpp's graph runs,
    // and M-RoPE (GLM-4V, Qwen2-VL) rotates each head in sections by several position streams; neither is
    // run here, so such files are refused rather than run wrongly.
    auto nextn = file.getIntOr(p + "nextn_predict_layers", 0);
    if (!nextn)
        return nextn.error();
    if (*nextn != 0)
        return makeError(ErrorCode::Unsupported, "model '" + file.path() + "': " + p +
                                                     "nextn_predict_layers " + std::to_string(*nextn) +
                                                     ": multi-token-prediction layers are not supported");
    if (file.find(p + "rope.dimension_sections")) {
        auto sections = file.getArray(p + "rope.dimension_sections");
        if (!sections)
            return sections.error();
        for (const int64_t section : (*sections)->integers)
            if (section != 0)
                return makeError(ErrorCode::Unsupported,
                                 "model '" + file.path() + "': " + p +
                                     "rope.dimension_sections asks for multi-section RoPE (M-RoPE), "
                                     "which is not supported");
    }
    if (yarn) {
        // After the modes: a window layer's own RoPE (gemma3) would need its own correction dimensions and
        // magnitude, which llama.cpp's graphs do not form either.
        if (c.separateWindowRope)
            return makeError(ErrorCode::Unsupported,
                             "model '" + file.path() +
                                 "': YaRN rope scaling with the sliding-window layers' "
                                 "own RoPE (" +
                                 p + "rope.freq_base_swa) is not supported");
        if (c.ropeOriginalContext <= 0)
            return configError(file, p + "rope.scaling.original_context_length must be positive for YaRN");
        float betaFast = RopeYarn::kBetaFast, betaSlow = RopeYarn::kBetaSlow, logMultiplier = 0.0f;
        if (c.spec->readsYarnKeys) {
            for (auto [key, out] : {std::pair{"rope.scaling.yarn_beta_fast", &betaFast},
                                    std::pair{"rope.scaling.yarn_beta_slow", &betaSlow},
                                    std::pair{"rope.scaling.yarn_log_multiplier", &logMultiplier}}) {
                auto value = file.getFloatOr(p + key, *out);
                if (!value)
                    return value.error();
                *out = static_cast<float>(*value);
                if (!std::isfinite(*out) || *out < 0.0f || *out > 1e6f)
                    return configError(file, p + key + " " + std::to_string(*value) + " is out of range");
            }
            if (betaFast <= 0.0f || betaSlow <= 0.0f)
                return configError(file,
                                   p + "rope.scaling.yarn_beta_fast and yarn_beta_slow must be positive");
        }
        c.ropeYarn =
            RopeYarn::forModel(c.ropeDimensions, c.ropeOriginalContext, c.ropeFreqBase, betaFast, betaSlow);
        c.ropeAttnFactor = RopeYarn::magnitude(c.ropeFreqScale, c.ropeAttnFactor, logMultiplier);
    }
    if (c.spec->readsAttentionTemperature) {
        auto scale = file.getFloatOr(p + "attention.temperature_scale", 0.0);
        if (!scale)
            return scale.error();
        c.attentionTemperatureScale = static_cast<float>(*scale);
        if (!std::isfinite(c.attentionTemperatureScale) || std::abs(c.attentionTemperatureScale) > 1e3f)
            return configError(file, p + "attention.temperature_scale " + std::to_string(*scale) +
                                         " is out of range");
        // llama.cpp's floor is n_ctx_orig_yarn: original_context_length, else the context length.
        if (c.attentionTemperatureScale != 0.0f && c.ropeOriginalContext <= 0)
            return configError(file, p + "rope.scaling.original_context_length must be positive for "
                                         "attention.temperature_scale");
    }
    if (auto r = checkLayerTensors(file, c); !r)
        return r.error();
    if (auto r = checkNoUnreadTensors(file, c); !r)
        return r.error();
    return c;
}

} // namespace declai
