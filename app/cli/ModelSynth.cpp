#include "ModelSynth.h"

#include "CliIo.h"
#include "declai/core/Architecture.h"
#include "declai/core/CommandLineOptions.h"
#include "declai/core/GgufSerialize.h"
#include "declai/core/Quant.h"
#include "declai/gpu/ThreadPool.h"

#include <QCommandLineParser>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <unistd.h>

namespace declai::cli {

// ---- GgufWriter ---------------------------------------------------------------------------------------

GgufWriter::~GgufWriter() {
    if (m_file)
        std::fclose(m_file);
}

void GgufWriter::addString(const std::string& key, const std::string& value) {
    appendGgufString(m_kv, key);
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::String));
    appendGgufString(m_kv, value);
    ++m_kvCount;
}

void GgufWriter::addUInt32(const std::string& key, uint32_t value) {
    appendGgufString(m_kv, key);
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::UInt32));
    appendGgufPod<uint32_t>(m_kv, value);
    ++m_kvCount;
}

void GgufWriter::addFloat32(const std::string& key, float value) {
    appendGgufString(m_kv, key);
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::Float32));
    appendGgufPod<float>(m_kv, value);
    ++m_kvCount;
}

void GgufWriter::addStringArray(const std::string& key, const std::vector<std::string>& values) {
    appendGgufString(m_kv, key);
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::Array));
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::String));
    appendGgufPod<uint64_t>(m_kv, values.size());
    for (const std::string& s : values)
        appendGgufString(m_kv, s);
    ++m_kvCount;
}

void GgufWriter::addFloat32Array(const std::string& key, const std::vector<float>& values) {
    appendGgufString(m_kv, key);
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::Array));
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::Float32));
    appendGgufPod<uint64_t>(m_kv, values.size());
    appendGgufBytes(m_kv, values.data(), values.size() * sizeof(float));
    ++m_kvCount;
}

void GgufWriter::addInt32Array(const std::string& key, const std::vector<int32_t>& values) {
    appendGgufString(m_kv, key);
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::Array));
    appendGgufPod<uint32_t>(m_kv, static_cast<uint32_t>(GgufValueType::Int32));
    appendGgufPod<uint64_t>(m_kv, values.size());
    appendGgufBytes(m_kv, values.data(), values.size() * sizeof(int32_t));
    ++m_kvCount;
}

bool GgufWriter::addValue(const std::string& key, const GgufValue& value) {
    if (!appendGgufKeyValue(m_kv, key, value))
        return false;
    ++m_kvCount;
    return true;
}

uint64_t GgufWriter::addTensor(const std::string& name, TensorType type, const std::vector<uint64_t>& shape) {
    uint64_t elements = 1;
    for (uint64_t d : shape)
        elements *= d;
    const auto bytes = tensorBytes(type, elements);
    if (!bytes)
        return 0;
    m_dataBytes = (m_dataBytes + m_alignment - 1) / m_alignment * m_alignment;
    m_tensors.push_back({name, type, shape, *bytes, m_dataBytes});
    m_dataBytes += *bytes;
    return *bytes;
}

Expected<void> GgufWriter::open(const std::string& path) {
    m_path = path;
    m_file = std::fopen(path.c_str(), "wb");
    if (!m_file)
        return makeError(
            ErrorCode::Io,
            std::string("cannot write '").append(path).append("': ").append(std::strerror(errno)));
    return {};
}

Expected<void> GgufWriter::writeRaw(const void* data, size_t bytes) {
    if (bytes && std::fwrite(data, 1, bytes, m_file) != bytes)
        return makeError(
            ErrorCode::Io,
            std::string("write to '").append(m_path).append("' failed: ").append(std::strerror(errno)));
    m_written += bytes;
    return {};
}

Expected<void> GgufWriter::padTo(uint64_t alignment) {
    static const std::byte zeros[64] = {};
    while (m_written % alignment != 0) {
        const auto n =
            static_cast<size_t>(std::min<uint64_t>(sizeof zeros, alignment - m_written % alignment));
        if (auto r = writeRaw(zeros, n); !r)
            return r;
    }
    return {};
}

Expected<void> GgufWriter::writeHeader() {
    std::vector<std::byte> header;
    appendGgufBytes(header, "GGUF", 4);
    appendGgufPod<uint32_t>(header, 3);
    appendGgufPod<uint64_t>(header, m_tensors.size());
    appendGgufPod<uint64_t>(header, m_kvCount);
    header.insert(header.end(), m_kv.begin(), m_kv.end());
    for (const TensorInfo& t : m_tensors) {
        appendGgufString(header, t.name);
        appendGgufPod<uint32_t>(header, static_cast<uint32_t>(t.shape.size()));
        for (uint64_t d : t.shape)
            appendGgufPod<uint64_t>(header, d);
        appendGgufPod<uint32_t>(header, static_cast<uint32_t>(t.type));
        appendGgufPod<uint64_t>(header, t.offset);
    }
    if (auto r = writeRaw(header.data(), header.size()); !r)
        return r;
    if (auto r = padTo(m_alignment); !r)
        return r;
    m_dataStart = m_written;
    m_currentTensor = 0;
    m_currentWritten = 0;
    return {};
}

Expected<void> GgufWriter::writeTensorBytes(const void* data, size_t bytes) {
    const auto* p = static_cast<const std::byte*>(data);
    while (bytes > 0) {
        while (m_currentTensor < m_tensors.size() && m_currentWritten == m_tensors[m_currentTensor].bytes) {
            ++m_currentTensor;
            m_currentWritten = 0;
        }
        if (m_currentTensor >= m_tensors.size())
            return makeError(ErrorCode::InvalidArgument, "more tensor data written than declared");
        const TensorInfo& t = m_tensors[m_currentTensor];
        if (m_currentWritten == 0) {
            if (auto r = padTo(m_alignment); !r)
                return r;
            if (m_written - m_dataStart != t.offset)
                return makeError(ErrorCode::InvalidArgument, "tensor '" + t.name + "' offset mismatch");
        }
        const auto n = static_cast<size_t>(std::min<uint64_t>(bytes, t.bytes - m_currentWritten));
        if (auto r = writeRaw(p, n); !r)
            return r;
        m_currentWritten += n;
        p += n;
        bytes -= n;
    }
    return {};
}

Expected<void> GgufWriter::finish() {
    const bool complete = m_tensors.empty() || (m_currentTensor == m_tensors.size() - 1 &&
                                                m_currentWritten == m_tensors.back().bytes);
    if (!complete)
        return makeError(ErrorCode::InvalidArgument, "not every declared tensor was written");
    const int rc = std::fclose(m_file);
    m_file = nullptr;
    if (rc != 0)
        return makeError(ErrorCode::Io, "closing '" + m_path + "' failed");
    return {};
}

// ---- synthesis ---------------------------------------------------------------------------------------

namespace {

struct Shape {
    const char* name;
    const char* architecture; // general.architecture; its tensors come from declai/core/Architecture.h
    int64_t dim, layers, heads, kvHeads, ffn, vocab;
    float ropeBase;
    int64_t context;
    float normEpsilon = 1e-5f;
    int64_t experts = 0;     // Mixtral-style feed-forward experts (0: dense)
    int64_t expertsUsed = 0; // per token
    bool tiedOutput = false; // no output.weight: the head reuses token_embd
    bool qkvBiases = false;  // the optional Q/K/V biases of the llama table (qwen2 requires them anyway)
};

constexpr Shape kShapes[] = {
    {"tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 32000, 10000.0f, 2048},
    {"llama-20m", "llama", 256, 4, 4, 2, 768, 32000, 10000.0f, 2048},
    {"llama3-8b", "llama", 4096, 32, 32, 8, 14336, 128256, 500000.0f, 8192},
    // Qwen2.5-0.5B: 14 query heads of 64 over 2 KV heads, Q/K/V biases, tied output. Its width (896) is no
    // multiple of 256, so the K and IQ mixes fall back to 32-value types there, as llama-quantize does.
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 1000000.0f, 32768, 1e-6f, 0, 0, true, true},
    // A small Mixtral: 8 experts, 2 per token, so llama-quantize's 8-expert rules apply to the mixes.
    {"mixtral-tiny", "llama", 512, 8, 8, 2, 1792, 32000, 1000000.0f, 4096, 1e-5f, 8, 2},
};

std::string shapeNames() {
    std::string names;
    for (const Shape& s : kShapes)
        names.append(names.empty() ? "" : ", ").append(s.name);
    return names;
}

// xoshiro256** seeded through splitmix64: fast, and every row gets its own stream so batches of rows
// can be generated in parallel while the file stays a pure function of the seed.
class Rng {
public:
    explicit Rng(uint64_t seed) {
        for (uint64_t& s : m_state) {
            seed += 0x9E3779B97F4A7C15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            s = z ^ (z >> 31);
        }
    }
    uint64_t next() {
        const uint64_t result = rotl(m_state[1] * 5, 7) * 9;
        const uint64_t t = m_state[1] << 17;
        m_state[2] ^= m_state[0];
        m_state[3] ^= m_state[1];
        m_state[1] ^= m_state[2];
        m_state[0] ^= m_state[3];
        m_state[2] ^= t;
        m_state[3] = rotl(m_state[3], 45);
        return result;
    }
    // Uniform in (-1, 1).
    float signedUniform() {
        return static_cast<float>(static_cast<int64_t>(next() >> 39) - (int64_t{1} << 24)) *
               (1.0f / 16777216.0f);
    }

    // Fills `out` with normal(0, stddev) values: Box-Muller in Marsaglia's polar form (no sin/cos, both
    // outputs used), which keeps a 2 GB model's generation from being dominated by libm calls.
    void normals(float* out, int64_t n, float stddev) {
        for (int64_t i = 0; i < n; i += 2) {
            float u;
            float v;
            float s;
            do {
                u = signedUniform();
                v = signedUniform();
                s = u * u + v * v;
            } while (s >= 1.0f || s == 0.0f);
            const float factor = stddev * std::sqrt(-2.0f * std::log(s) / s);
            out[i] = u * factor;
            if (i + 1 < n)
                out[i + 1] = v * factor;
        }
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t m_state[4];
};

enum class Fill { Weights, Ones, Bias }; // normal(0, 0.02); norms 1.0; biases normal(0, 0.02) in F32

struct PlannedTensor {
    std::string name;
    TensorType type;
    int64_t cols;
    int64_t rows;        // per expert; 1 for vectors
    int64_t experts = 1; // a third extent when above 1
    Fill fill = Fill::Weights;
};

// ---- llama-quantize's type mixes ----------------------------------------------------------------------

// The --type values: llama.cpp file types (general.file_type) and their default tensor type.
enum class Mix {
    F16,
    Q8_0,
    Q4_0,
    Q4KM,
    Q5KM,
    Q3KM,
    IQ4XS,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2K,
    Q6K,
    IQ4NL,
    Q3KS,
    Q3KL,
    Q4KS,
    Q5KS
};

struct MixInfo {
    const char* name;
    Mix mix;
    TensorType base;
    uint32_t fileType;
};

constexpr MixInfo kMixes[] = {
    {"f16", Mix::F16, TensorType::F16, 1},          {"q8_0", Mix::Q8_0, TensorType::Q8_0, 7},
    {"q4_0", Mix::Q4_0, TensorType::Q4_0, 2},       {"q4_1", Mix::Q4_1, TensorType::Q4_1, 3},
    {"q5_0", Mix::Q5_0, TensorType::Q5_0, 8},       {"q5_1", Mix::Q5_1, TensorType::Q5_1, 9},
    {"q2_k", Mix::Q2K, TensorType::Q2_K, 10},       {"q3_k_s", Mix::Q3KS, TensorType::Q3_K, 11},
    {"q3_k_m", Mix::Q3KM, TensorType::Q3_K, 12},    {"q3_k_l", Mix::Q3KL, TensorType::Q3_K, 13},
    {"q4_k_s", Mix::Q4KS, TensorType::Q4_K, 14},    {"q4_k_m", Mix::Q4KM, TensorType::Q4_K, 15},
    {"q5_k_s", Mix::Q5KS, TensorType::Q5_K, 16},    {"q5_k_m", Mix::Q5KM, TensorType::Q5_K, 17},
    {"q6_k", Mix::Q6K, TensorType::Q6_K, 18},       {"iq4_nl", Mix::IQ4NL, TensorType::IQ4_NL, 25},
    {"iq4_xs", Mix::IQ4XS, TensorType::IQ4_XS, 30},
};

// The --type values, as the usage and error messages list them: from kMixes, so a new mix is listed there.
std::string mixNames() {
    std::string names;
    for (const MixInfo& m : kMixes)
        names.append(names.empty() ? "" : ", ").append(m.name);
    return names;
}

// What llama-quantize calls a tensor when it picks its type (tensor_category).
enum class Category { TokenEmbd, Output, AttnQ, AttnK, AttnV, AttnQkv, AttnOutput, FfnGate, FfnUp, FfnDown };

std::optional<Category> categoryOf(LayerTensor role) {
    switch (role) {
    case LayerTensor::Wq:
        return Category::AttnQ;
    case LayerTensor::Wk:
        return Category::AttnK;
    case LayerTensor::Wv:
        return Category::AttnV;
    case LayerTensor::Wqkv:
        return Category::AttnQkv;
    case LayerTensor::Wo:
        return Category::AttnOutput;
    case LayerTensor::Gate:
    case LayerTensor::GateExps:
        return Category::FfnGate;
    case LayerTensor::Up:
    case LayerTensor::UpExps:
        return Category::FfnUp;
    case LayerTensor::Down:
    case LayerTensor::DownExps:
        return Category::FfnDown;
    default:
        return std::nullopt; // vectors and the expert router stay F32, as llama-quantize leaves them
    }
}

// A row length the type's block does not divide takes llama-quantize's fallback (tensor_type_fallback).
TensorType withFallback(TensorType type, int64_t rowLength) {
    const auto fits = [rowLength](TensorType t) {
        return rowLength % static_cast<int64_t>(tensorTypeTraits(t).blockElements) == 0;
    };
    if (fits(type))
        return type;
    TensorType fallback = type;
    switch (type) {
    case TensorType::IQ4_XS:
        fallback = TensorType::IQ4_NL;
        break;
    case TensorType::Q2_K:
    case TensorType::Q3_K:
        fallback = TensorType::Q4_0;
        break;
    case TensorType::Q4_K:
        fallback = TensorType::Q5_0;
        break;
    case TensorType::Q5_K:
        fallback = TensorType::Q5_1;
        break;
    case TensorType::Q6_K:
        fallback = TensorType::Q8_0;
        break;
    default:
        break;
    }
    return fits(fallback) ? fallback : TensorType::F16;
}

// llama_tensor_get_type for the mixes above, without an imatrix (src/llama-quant.cpp of the llama.cpp that
// node-llama-cpp 3.21.1 bundles): `layer` of `s.layers`, `rowLength` values per row.
TensorType mixedType(const MixInfo& m, const Shape& s, Category c, int64_t layer, int64_t rowLength) {
    if (m.mix == Mix::F16)
        return TensorType::F16; // not a quantised file: no mix
    TensorType t = m.base;
    const int64_t n = s.layers;
    const bool moreBits = layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;
    const bool eightExperts = s.experts == 8;
    const int64_t queriesPerKv = s.heads / std::max<int64_t>(1, s.kvHeads);
    switch (c) {
    case Category::TokenEmbd:
        if (!s.tiedOutput)
            break;
        [[fallthrough]]; // a tied embedding is the output matrix: quantised as the output
    case Category::Output:
        if (rowLength % static_cast<int64_t>(tensorTypeTraits(t).blockElements) != 0)
            t = TensorType::Q8_0;
        else if (t != TensorType::Q8_0)
            t = TensorType::Q6_K;
        break;
    case Category::AttnV:
        if (m.mix == Mix::Q2K)
            t = queriesPerKv >= 4 ? TensorType::Q4_K : TensorType::Q3_K;
        else if (m.mix == Mix::Q3KM)
            t = layer < 2 ? TensorType::Q5_K : TensorType::Q4_K;
        else if (m.mix == Mix::Q3KL)
            t = TensorType::Q5_K;
        else if ((m.mix == Mix::IQ4XS || m.mix == Mix::IQ4NL) && queriesPerKv >= 4)
            t = TensorType::Q5_K;
        else if ((m.mix == Mix::Q4KM || m.mix == Mix::Q5KM) && moreBits)
            t = TensorType::Q6_K;
        else if (m.mix == Mix::Q4KS && layer < 4)
            t = TensorType::Q5_K;
        if (eightExperts)
            t = TensorType::Q8_0;
        break;
    case Category::AttnK:
        if (eightExperts)
            t = TensorType::Q8_0;
        break;
    case Category::FfnDown:
        if (m.mix == Mix::Q2K)
            t = TensorType::Q3_K;
        else if (m.mix == Mix::Q3KM)
            t = layer < n / 16 ? TensorType::Q5_K : TensorType::Q4_K;
        else if (m.mix == Mix::Q3KL)
            t = TensorType::Q5_K;
        else if ((m.mix == Mix::Q4KM || m.mix == Mix::Q5KM) && moreBits)
            t = TensorType::Q6_K;
        else if ((m.mix == Mix::IQ4XS || m.mix == Mix::IQ4NL || m.mix == Mix::Q4KS) && layer < n / 8)
            t = TensorType::Q5_K;
        break;
    case Category::AttnOutput:
        if (eightExperts &&
            (m.mix == Mix::Q2K || m.mix == Mix::Q3KS || m.mix == Mix::Q3KM || m.mix == Mix::Q4KS ||
             m.mix == Mix::Q4KM || m.mix == Mix::IQ4XS || m.mix == Mix::IQ4NL))
            t = TensorType::Q5_K;
        else if (!eightExperts && m.mix == Mix::Q2K)
            t = TensorType::Q3_K;
        else if (!eightExperts && m.mix == Mix::Q3KM)
            t = TensorType::Q4_K;
        else if (!eightExperts && m.mix == Mix::Q3KL)
            t = TensorType::Q5_K;
        break;
    case Category::AttnQkv:
        if (m.mix == Mix::Q3KM || m.mix == Mix::Q3KL)
            t = TensorType::Q4_K;
        else if (m.mix == Mix::Q4KM)
            t = TensorType::Q5_K;
        else if (m.mix == Mix::Q5KM)
            t = TensorType::Q6_K;
        break;
    case Category::AttnQ:
    case Category::FfnGate:
    case Category::FfnUp:
        break;
    }
    return withFallback(t, rowLength);
}

int64_t extentValue(Extent e, const Shape& s) {
    const int64_t headDim = s.dim / s.heads;
    switch (e) {
    case Extent::None:
        return 1;
    case Extent::Dim:
        return s.dim;
    case Extent::QDim:
        return s.heads * headDim;
    case Extent::KvDim:
        return s.kvHeads * headDim;
    case Extent::QkvDim:
        return (s.heads + 2 * s.kvHeads) * headDim;
    case Extent::Ffn:
        return s.ffn;
    case Extent::Ffn2:
        return 2 * s.ffn;
    case Extent::HeadDim:
        return headDim;
    case Extent::Experts:
        return s.experts;
    }
    return 1;
}

// Every tensor of the file, in the order llama.cpp's converters write them, from the architecture's table.
std::vector<PlannedTensor> planTensors(const ArchitectureSpec& arch, const Shape& s, const MixInfo& m,
                                       int64_t vocab) {
    std::vector<PlannedTensor> plan;
    plan.push_back({"token_embd.weight", mixedType(m, s, Category::TokenEmbd, 0, s.dim), s.dim, vocab});
    for (int64_t l = 0; l < s.layers; ++l) {
        for (const LayerTensorSpec& spec : arch.layerTensors) {
            const bool biases =
                spec.role == LayerTensor::Bq || spec.role == LayerTensor::Bk || spec.role == LayerTensor::Bv;
            const bool present = spec.presence == Presence::Required ||
                                 (spec.presence == Presence::Optional && biases && s.qkvBiases) ||
                                 (spec.presence == Presence::Dense && s.experts == 0) ||
                                 (spec.presence == Presence::Experts && s.experts > 0);
            if (!present)
                continue;
            const std::string name = "blk." + std::to_string(l) + "." + spec.suffix;
            const int64_t cols = extentValue(spec.shape[0], s);
            const auto category = categoryOf(spec.role);
            if (!spec.isMatrix) {
                plan.push_back({name, TensorType::F32, cols, 1, 1, biases ? Fill::Bias : Fill::Ones});
                continue;
            }
            const TensorType type = category ? mixedType(m, s, *category, l, cols) : TensorType::F32;
            plan.push_back({name, type, cols, extentValue(spec.shape[1], s), extentValue(spec.shape[2], s)});
        }
    }
    plan.push_back({"output_norm.weight", TensorType::F32, s.dim, 1, 1, Fill::Ones});
    if (!s.tiedOutput)
        plan.push_back({"output.weight", mixedType(m, s, Category::Output, 0, s.dim), s.dim, vocab});
    return plan;
}

std::vector<std::string> defaultVocab(int64_t size, std::vector<float>& scores, std::vector<int32_t>& types) {
    std::vector<std::string> tokens;
    tokens.reserve(static_cast<size_t>(size));
    auto add = [&](std::string piece, int32_t type) {
        if (static_cast<int64_t>(tokens.size()) >= size)
            return;
        scores.push_back(type == 1 ? -static_cast<float>(tokens.size()) : 0.0f);
        types.push_back(type);
        tokens.push_back(std::move(piece));
    };
    add("<unk>", 2);
    add("<s>", 3);
    add("</s>", 3);
    static const char* kHex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        std::string piece = "<0x";
        piece.push_back(kHex[b >> 4]);
        piece.push_back(kHex[b & 15]);
        piece.push_back('>');
        add(std::move(piece), 6);
    }
    // Filler pieces: single printable characters, then "▁"-prefixed and bare letter combinations of
    // growing length, all distinct, so SentencePiece-style tokenisation has something to merge into.
    const std::string space = "\xE2\x96\x81"; // U+2581
    add(space, 1);
    for (char c = 33; c < 127; ++c)
        add(std::string(1, c), 1);
    for (char c = 33; c < 127; ++c)
        add(space + std::string(1, c), 1);
    std::vector<std::string> previous;
    for (char c = 'a'; c <= 'z'; ++c)
        previous.emplace_back(1, c);
    while (static_cast<int64_t>(tokens.size()) < size) {
        std::vector<std::string> next;
        for (const std::string& stem : previous) {
            for (char c = 'a'; c <= 'z'; ++c) {
                std::string piece = stem;
                piece.push_back(c);
                add(space + piece, 1);
                add(piece, 1);
                next.push_back(std::move(piece));
                if (static_cast<int64_t>(tokens.size()) >= size)
                    break;
            }
            if (static_cast<int64_t>(tokens.size()) >= size)
                break;
        }
        previous = std::move(next);
    }
    return tokens;
}

struct SynthOptions {
    Shape shape;
    std::string typeName;
    std::string output;
    uint64_t seed = 0;
    std::string vocabFrom;
    int threads = 0;
};

Expected<void> synthesize(const SynthOptions& o, std::FILE* log) {
    const bool logIsTerminal = log && isatty(fileno(log));
    const MixInfo* mix = nullptr;
    for (const MixInfo& m : kMixes)
        if (o.typeName == m.name)
            mix = &m;
    if (!mix)
        return makeError(ErrorCode::InvalidArgument,
                         "--type must be one of " + mixNames() + ", got '" + o.typeName + "'");
    const Shape& s = o.shape;
    const ArchitectureSpec* arch = findArchitecture(s.architecture);
    if (!arch)
        return makeError(ErrorCode::Unsupported,
                         std::string("shape '") + s.name + "': unknown architecture " + s.architecture);
    const std::string a = s.architecture;

    GgufWriter writer;
    writer.addString("general.architecture", a);
    writer.addString("general.name", std::string("synthetic ").append(s.name));
    writer.addUInt32("general.file_type", mix->fileType);
    writer.addUInt32("general.alignment", 32);
    writer.addUInt32(a + ".context_length", static_cast<uint32_t>(s.context));
    writer.addUInt32(a + ".embedding_length", static_cast<uint32_t>(s.dim));
    writer.addUInt32(a + ".block_count", static_cast<uint32_t>(s.layers));
    writer.addUInt32(a + ".feed_forward_length", static_cast<uint32_t>(s.ffn));
    writer.addUInt32(a + ".rope.dimension_count", static_cast<uint32_t>(s.dim / s.heads));
    writer.addUInt32(a + ".attention.head_count", static_cast<uint32_t>(s.heads));
    writer.addUInt32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.kvHeads));
    writer.addFloat32(a + ".attention.layer_norm_rms_epsilon", s.normEpsilon);
    writer.addFloat32(a + ".rope.freq_base", s.ropeBase);
    if (s.experts > 0) {
        writer.addUInt32(a + ".expert_count", static_cast<uint32_t>(s.experts));
        writer.addUInt32(a + ".expert_used_count", static_cast<uint32_t>(s.expertsUsed));
    }

    int64_t vocab = s.vocab;
    if (!o.vocabFrom.empty()) {
        auto source = GgufFile::open(o.vocabFrom);
        if (!source)
            return source.error();
        auto tokens = source->getArray("tokenizer.ggml.tokens");
        if (!tokens)
            return tokens.error();
        vocab = static_cast<int64_t>((*tokens)->size());
        for (const std::string& key : source->metadataKeys()) {
            if (key.rfind("tokenizer.ggml.", 0) != 0)
                continue;
            if (!writer.addValue(key, *source->find(key)))
                return makeError(ErrorCode::Unsupported,
                                 "cannot copy metadata key '" + key + "' from '" + o.vocabFrom + "'");
        }
    } else {
        std::vector<float> scores;
        std::vector<int32_t> types;
        const auto tokens = defaultVocab(vocab, scores, types);
        writer.addString("tokenizer.ggml.model", "llama");
        writer.addStringArray("tokenizer.ggml.tokens", tokens);
        writer.addFloat32Array("tokenizer.ggml.scores", scores);
        writer.addInt32Array("tokenizer.ggml.token_type", types);
        writer.addUInt32("tokenizer.ggml.bos_token_id", 1);
        writer.addUInt32("tokenizer.ggml.eos_token_id", 2);
        writer.addUInt32("tokenizer.ggml.unknown_token_id", 0);
    }
    writer.addUInt32(a + ".vocab_size", static_cast<uint32_t>(vocab));

    const std::vector<PlannedTensor> plan = planTensors(*arch, s, *mix, vocab);
    for (const PlannedTensor& t : plan) {
        std::vector<uint64_t> shape{static_cast<uint64_t>(t.cols)};
        if (t.rows > 1 || t.experts > 1)
            shape.push_back(static_cast<uint64_t>(t.rows));
        if (t.experts > 1)
            shape.push_back(static_cast<uint64_t>(t.experts));
        if (writer.addTensor(t.name, t.type, shape) == 0)
            return makeError(ErrorCode::InvalidArgument, "tensor '" + t.name + "': row length " +
                                                             std::to_string(t.cols) + " does not fit " +
                                                             std::string(tensorTypeName(t.type)));
    }

    if (auto r = writer.open(o.output); !r)
        return r;
    if (auto r = writer.writeHeader(); !r)
        return r;

    ThreadPool pool(o.threads);
    constexpr int64_t kBatchRows = 64;
    std::vector<float> values;
    std::vector<std::byte> packed;
    uint64_t tensorIndex = 0;
    for (const PlannedTensor& t : plan) {
        ++tensorIndex;
        const size_t rowBytes = static_cast<size_t>(*tensorBytes(t.type, static_cast<uint64_t>(t.cols)));
        if (t.fill == Fill::Ones) {
            values.assign(static_cast<size_t>(t.cols), 1.0f);
            if (auto r = writer.writeTensorBytes(values.data(), values.size() * sizeof(float)); !r)
                return r;
            continue;
        }
        values.resize(static_cast<size_t>(kBatchRows * t.cols));
        packed.resize(static_cast<size_t>(kBatchRows) * rowBytes);
        const int64_t rows = t.rows * t.experts;
        for (int64_t first = 0; first < rows; first += kBatchRows) {
            const int64_t count = std::min(kBatchRows, rows - first);
            pool.parallelFor(count, 1, [&](int64_t begin, int64_t end, int) {
                for (int64_t i = begin; i < end; ++i) {
                    const uint64_t rowSeed =
                        o.seed * 0x100000001B3ull ^ (tensorIndex << 40) ^ static_cast<uint64_t>(first + i);
                    Rng rng(rowSeed);
                    float* row = values.data() + i * t.cols;
                    rng.normals(row, t.cols, 0.02f);
                    quant::quantizeRow(t.type, row, packed.data() + static_cast<size_t>(i) * rowBytes,
                                       t.cols);
                }
            });
            if (auto r = writer.writeTensorBytes(packed.data(), static_cast<size_t>(count) * rowBytes); !r)
                return r;
        }
        if (log && t.name.find("ffn_down") != std::string::npos) {
            // One line rewritten in place on a terminal; a line per layer in a log file or pipe.
            std::fprintf(log, logIsTerminal ? "\rwrote %s" : "wrote %s\n", t.name.c_str());
            std::fflush(log);
        }
    }
    if (log && logIsTerminal)
        std::fputc('\n', log);
    return writer.finish();
}

std::string modelUsage() {
    return "usage: declai-cli model synth --shape NAME --type TYPE -o FILE [--seed S] [--vocab-from GGUF] "
           "[--threads T]\n"
           "  writes a GGUF v3 of the shape's architecture with random weights (normal, std 0.02; norms "
           "1.0), its\n"
           "  tensor types mixed as llama-quantize mixes them (fallbacks for row lengths a type cannot take "
           "included)\n"
           "  TYPE: " +
           mixNames() +
           "\n"
           "  shapes: tinyllama-1.1b, llama-20m, llama3-8b, qwen2.5-0.5b (qwen2), mixtral-tiny (llama, 8 "
           "experts)\n";
}

} // namespace

int runModelCommand(const QStringList& args, std::FILE* out, std::FILE* err) {
    if (args.size() < 2 || args[1] == QStringLiteral("-h") || args[1] == QStringLiteral("--help")) {
        std::fputs(modelUsage().c_str(), args.size() < 2 ? err : out);
        return args.size() < 2 ? 2 : 0;
    }
    if (args[1] != QStringLiteral("synth")) {
        std::fprintf(err, "declai-cli: unknown model subcommand '%s'\n%s", args[1].toStdString().c_str(),
                     modelUsage().c_str());
        return 2;
    }
    const QCommandLineOption shape = makeOption({QStringLiteral("shape")}, "shape", "NAME");
    const QCommandLineOption type = makeOption({QStringLiteral("type")}, "type", "TYPE");
    const QCommandLineOption output =
        makeOption({QStringLiteral("o"), QStringLiteral("output")}, "output", "FILE");
    const QCommandLineOption seed = makeOption({QStringLiteral("seed")}, "seed", "S", "0");
    const QCommandLineOption vocabFrom =
        makeOption({QStringLiteral("vocab-from")}, "vocabulary source", "GGUF");
    const QCommandLineOption threads =
        makeOption({QStringLiteral("t"), QStringLiteral("threads")}, "threads", "T", "0");
    QCommandLineParser parser;
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    parser.addOptions({shape, type, output, seed, vocabFrom, threads});
    QStringList parseArgs = args.mid(1);
    parseArgs[0] = QStringLiteral("declai-cli");
    const CliIo io{out, err};
    if (!parser.parse(parseArgs))
        return io.usage(parser.errorText().toStdString());
    if (!parser.positionalArguments().isEmpty())
        return io.usage("unexpected argument '" + parser.positionalArguments().first().toStdString() + "'");
    if (!parser.isSet(shape) || !parser.isSet(type) || !parser.isSet(output))
        return io.usage("model synth needs --shape, --type and -o");
    SynthOptions o;
    const std::string shapeName = parser.value(shape).toStdString();
    bool found = false;
    for (const Shape& s : kShapes) {
        if (shapeName == s.name) {
            o.shape = s;
            found = true;
        }
    }
    if (!found)
        return io.usage("unknown shape '" + shapeName + "' (" + shapeNames() + ")");
    o.typeName = parser.value(type).toLower().toStdString();
    o.output = parser.value(output).toStdString();
    o.vocabFrom = parser.value(vocabFrom).toStdString();
    // The same ranges as `generate --seed` and `--threads`.
    const auto seedValue = intOption(parser, seed, 0, std::numeric_limits<int64_t>::max());
    if (!seedValue)
        return io.usage(seedValue.error().message);
    o.seed = static_cast<uint64_t>(*seedValue);
    const auto threadsValue = intOption(parser, threads, 0, 1024);
    if (!threadsValue)
        return io.usage(threadsValue.error().message);
    o.threads = static_cast<int>(*threadsValue);
    if (auto r = synthesize(o, err); !r)
        return io.fail(r.error().message);
    std::fprintf(out, "wrote %s\n", o.output.c_str());
    return 0;
}

} // namespace declai::cli
