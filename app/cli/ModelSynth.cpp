#include "ModelSynth.h"

#include "CliIo.h"
#include "declai/core/CommandLineOptions.h"
#include "declai/core/GgufSerialize.h"
#include "declai/core/Quant.h"
#include "declai/gpu/ThreadPool.h"

#include <QCommandLineParser>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

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
    int64_t dim, layers, heads, kvHeads, ffn, vocab;
    float ropeBase;
    int64_t context;
};

constexpr Shape kShapes[] = {
    {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 10000.0f, 2048},
    {"llama-20m", 256, 4, 4, 2, 768, 32000, 10000.0f, 2048},
    {"llama3-8b", 4096, 32, 32, 8, 14336, 128256, 500000.0f, 8192},
};

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

struct PlannedTensor {
    std::string name;
    TensorType type;
    int64_t cols;
    int64_t rows; // 1 for vectors
    bool isNorm;
};

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
    TensorType mainType;
    uint32_t fileType;
    bool kMix = false;
    // Which llama-quantize mix (llama_tensor_get_type, llama arch, no imatrix) the K / IQ files follow.
    enum class Mix { None, Q4KM, Q5KM, Q3KM, IQ4XS } mix = Mix::None;
    if (o.typeName == "f16") {
        mainType = TensorType::F16;
        fileType = 1;
    } else if (o.typeName == "q8_0") {
        mainType = TensorType::Q8_0;
        fileType = 7;
    } else if (o.typeName == "q4_0") {
        mainType = TensorType::Q4_0;
        fileType = 2;
    } else if (o.typeName == "q4_k_m") {
        mainType = TensorType::Q4_K;
        fileType = 15;
        kMix = true;
        mix = Mix::Q4KM;
    } else if (o.typeName == "q5_k_m") {
        mainType = TensorType::Q5_K;
        fileType = 17;
        kMix = true;
        mix = Mix::Q5KM;
    } else if (o.typeName == "q3_k_m") {
        mainType = TensorType::Q3_K;
        fileType = 12;
        mix = Mix::Q3KM;
    } else if (o.typeName == "iq4_xs") {
        mainType = TensorType::IQ4_XS;
        fileType = 30;
        mix = Mix::IQ4XS;
    } else {
        return makeError(ErrorCode::InvalidArgument,
                         "--type must be f16, q8_0, q4_0, q4_k_m, q5_k_m, q3_k_m or iq4_xs, got '" +
                             o.typeName + "'");
    }
    const Shape& s = o.shape;

    GgufWriter writer;
    writer.addString("general.architecture", "llama");
    writer.addString("general.name", std::string("synthetic ").append(s.name));
    writer.addUInt32("general.file_type", fileType);
    writer.addUInt32("general.alignment", 32);
    writer.addUInt32("llama.context_length", static_cast<uint32_t>(s.context));
    writer.addUInt32("llama.embedding_length", static_cast<uint32_t>(s.dim));
    writer.addUInt32("llama.block_count", static_cast<uint32_t>(s.layers));
    writer.addUInt32("llama.feed_forward_length", static_cast<uint32_t>(s.ffn));
    writer.addUInt32("llama.rope.dimension_count", static_cast<uint32_t>(s.dim / s.heads));
    writer.addUInt32("llama.attention.head_count", static_cast<uint32_t>(s.heads));
    writer.addUInt32("llama.attention.head_count_kv", static_cast<uint32_t>(s.kvHeads));
    writer.addFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    writer.addFloat32("llama.rope.freq_base", s.ropeBase);

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
    writer.addUInt32("llama.vocab_size", static_cast<uint32_t>(vocab));

    // Q4_K_M mixes in Q6_K the way llama.cpp's quantizer does, so a synthesized file has the same size and
    // tensor types as one llama-quantize would write: the output matrix always, and attn_v / ffn_down in the
    // first and last eighth of the layers and every third layer between them.
    const TensorType highType = kMix ? TensorType::Q6_K : mainType;
    // Like llama-quantize, any 4-bit file keeps the output matrix in Q6_K (Q8_0 and F16 keep their own type).
    const bool outputInQ6K = mainType != TensorType::F16 && mainType != TensorType::Q8_0 && s.dim % 256 == 0;
    const TensorType outputType = outputInQ6K ? TensorType::Q6_K : mainType;
    const auto layerType = [&](int64_t layer) {
        const int64_t eighth = s.layers / 8;
        const bool moreBits = layer < eighth || layer >= 7 * s.layers / 8 || (layer - eighth) % 3 == 2;
        return moreBits ? highType : mainType;
    };
    // attn_v, ffn_down and attn_output as llama-quantize picks them for the mixes (Q4_K_M / Q5_K_M: Q6_K on
    // the "more bits" layers; Q3_K_M: attn_v Q5_K on layers 0-1 else Q4_K, ffn_down Q5_K on the first
    // sixteenth else Q4_K, attn_output Q4_K; IQ4_XS: attn_v Q5_K with 4+ query heads per KV head, ffn_down
    // Q5_K on the first eighth).
    const auto attnVType = [&](int64_t layer) {
        switch (mix) {
        case Mix::Q3KM:
            return layer < 2 ? TensorType::Q5_K : TensorType::Q4_K;
        case Mix::IQ4XS:
            return s.heads / s.kvHeads >= 4 ? TensorType::Q5_K : mainType;
        default:
            return layerType(layer);
        }
    };
    const auto ffnDownType = [&](int64_t layer) {
        switch (mix) {
        case Mix::Q3KM:
            return layer < s.layers / 16 ? TensorType::Q5_K : TensorType::Q4_K;
        case Mix::IQ4XS:
            return layer < s.layers / 8 ? TensorType::Q5_K : mainType;
        default:
            return layerType(layer);
        }
    };
    const TensorType attnOutputType = mix == Mix::Q3KM ? TensorType::Q4_K : mainType;
    const int64_t kvDim = s.dim / s.heads * s.kvHeads;
    std::vector<PlannedTensor> plan;
    plan.push_back({"token_embd.weight", mainType, s.dim, vocab, false});
    for (int64_t l = 0; l < s.layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        plan.push_back({p + "attn_norm.weight", TensorType::F32, s.dim, 1, true});
        plan.push_back({p + "attn_q.weight", mainType, s.dim, s.dim, false});
        plan.push_back({p + "attn_k.weight", mainType, s.dim, kvDim, false});
        plan.push_back({p + "attn_v.weight", attnVType(l), s.dim, kvDim, false});
        plan.push_back({p + "attn_output.weight", attnOutputType, s.dim, s.dim, false});
        plan.push_back({p + "ffn_norm.weight", TensorType::F32, s.dim, 1, true});
        plan.push_back({p + "ffn_gate.weight", mainType, s.dim, s.ffn, false});
        plan.push_back({p + "ffn_up.weight", mainType, s.dim, s.ffn, false});
        plan.push_back({p + "ffn_down.weight", ffnDownType(l), s.ffn, s.dim, false});
    }
    plan.push_back({"output_norm.weight", TensorType::F32, s.dim, 1, true});
    plan.push_back({"output.weight", outputType, s.dim, vocab, false});
    for (const PlannedTensor& t : plan) {
        const std::vector<uint64_t> shape =
            t.rows == 1 ? std::vector<uint64_t>{static_cast<uint64_t>(t.cols)}
                        : std::vector<uint64_t>{static_cast<uint64_t>(t.cols), static_cast<uint64_t>(t.rows)};
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
        if (t.isNorm) {
            values.assign(static_cast<size_t>(t.cols), 1.0f);
            if (auto r = writer.writeTensorBytes(values.data(), values.size() * sizeof(float)); !r)
                return r;
            continue;
        }
        values.resize(static_cast<size_t>(kBatchRows * t.cols));
        packed.resize(static_cast<size_t>(kBatchRows) * rowBytes);
        for (int64_t first = 0; first < t.rows; first += kBatchRows) {
            const int64_t count = std::min(kBatchRows, t.rows - first);
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
            std::fprintf(log, "\rwrote %s", t.name.c_str());
            std::fflush(log);
        }
    }
    if (log)
        std::fputc('\n', log);
    return writer.finish();
}

const char* kModelUsage =
    R"(usage: declai-cli model synth --shape NAME --type f16|q8_0|q4_0|q4_k_m|q5_k_m|q3_k_m|iq4_xs -o FILE
                           [--seed S] [--vocab-from GGUF] [--threads T]
  writes a llama GGUF v3 with random weights (normal, std 0.02; norms 1.0)
  shapes: tinyllama-1.1b, llama-20m, llama3-8b
)";

} // namespace

int runModelCommand(const QStringList& args, std::FILE* out, std::FILE* err) {
    if (args.size() < 2 || args[1] == QStringLiteral("-h") || args[1] == QStringLiteral("--help")) {
        std::fputs(kModelUsage, args.size() < 2 ? err : out);
        return args.size() < 2 ? 2 : 0;
    }
    if (args[1] != QStringLiteral("synth")) {
        std::fprintf(err, "declai-cli: unknown model subcommand '%s'\n%s", args[1].toStdString().c_str(),
                     kModelUsage);
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
        return io.usage("unknown shape '" + shapeName + "' (tinyllama-1.1b, llama-20m, llama3-8b)");
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
