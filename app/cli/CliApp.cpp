#include "CliApp.h"

#include "Bench.h"
#include "CliIo.h"
#include "Devices.h"
#include "ModelSynth.h"
#include "NumericFlags.h"
#include "Submit.h"
#include "declai/core/Architecture.h"
#include "declai/core/ChatTemplate.h"
#include "declai/core/GgufFile.h"
#include "declai/core/ModelLocator.h"
#include "declai/core/Quant.h"
#include "declai/core/Sampler.h"
#include "declai/core/StrCat.h"
#include "declai/core/Tokenizer.h"
#include "declai/core/Version.h"
#include "declai/gpu/LocalGenerator.h"
#include "declai/gpu/ShardBackend.h"
#include "declai/gpu/backend/DeviceId.h"

#include <QCommandLineParser>
#include <QFile>
#include <limits>
#include <map>
#include <optional>
#include <string>

namespace declai::cli {
namespace {

const char* kUsage = R"(usage: declai-cli COMMAND [options]
       declai-cli --version

commands:
  generate -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] [--threads T] [--device D] [--tokens]
           [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--ctx N] [--prefault]
                    print the continuation of PROMPT (greedy when --temp is 0)
  tokenize -m MODEL -p TEXT [--no-bos]
                    print token ids, space separated
  logits   -m MODEL -p PROMPT -o FILE [--threads T] [--device D]
                    write the last prompt position's logits as little-endian float32
  inspect  -m MODEL print metadata and the tensor table
  bench    -m MODEL [--threads T] [-p 64] [-n 32] [--reps 3] [--sessions S] [--json] [--prefault]
                    prefill and decode tok/s, read bandwidth, decode ceiling, peak RSS
  submit   --server wss://HOST:PORT [--ca FILE] -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] [--tokens]
                    stream a generation from a DeCLAI server (same output as generate)
  devices  [--json]  list compute backends and devices, with why a backend is unavailable
  model synth --shape NAME --type TYPE -o FILE [--seed S] [--vocab-from GGUF]
                    write a GGUF with random weights (tinyllama-1.1b, llama-20m, llama3-8b,
                    qwen2.5-0.5b, mixtral-tiny) in llama-quantize's mix for TYPE (f16, q4_k_m,
                    ...; `declai-cli model` lists them)

MODEL is a path or a file name looked up in DECLAI_MODEL_PATH (colon-separated folders). Weights are used in
place from the file mapping; --prefault reads them all in at load instead of on first use.
)";

// The help text; the sampling defaults come from SamplerConfig{} (NumericFlags.h), not typed here.
std::string usageText() {
    return strCat(kUsage, "\nsampling defaults (generate, submit): ", SamplingFlags::defaultsText(), "\n");
}

struct Options {
    QCommandLineOption model = makeOption({QStringLiteral("m"), QStringLiteral("model")}, "model", "MODEL");
    QCommandLineOption prompt = makeOption({QStringLiteral("p"), QStringLiteral("prompt")}, "prompt", "TEXT");
    QCommandLineOption count =
        makeOption({QStringLiteral("n"), QStringLiteral("n-predict")}, "tokens", "N", "32");
    QCommandLineOption threads =
        makeOption({QStringLiteral("t"), QStringLiteral("threads")}, "threads", "T", "0");
    QCommandLineOption device = makeOption({QStringLiteral("device")}, "device", "D", "cpu");
    QCommandLineOption tokens = makeOption({QStringLiteral("tokens")}, "print token ids");
    SamplingFlags sampling; // --temp, --seed, --top-k, --top-p, --min-p, --repeat-penalty
    QCommandLineOption context =
        makeOption({QStringLiteral("ctx")}, "context length (0 = model's)", "N", "0");
    QCommandLineOption noBos = makeOption({QStringLiteral("no-bos")}, "do not add BOS");
    QCommandLineOption prefault = makeOption({QStringLiteral("prefault")}, "touch every weight page at load");
    QCommandLineOption output =
        makeOption({QStringLiteral("o"), QStringLiteral("output")}, "output file", "FILE");
    QCommandLineOption help = makeOption({QStringLiteral("h"), QStringLiteral("help")}, "help");
};

// A model opened for a command: weights plus tokenizer.
struct OpenModel {
    std::shared_ptr<const ModelWeights> weights;
    std::unique_ptr<Tokenizer> tokenizer;
};

Expected<OpenModel> openModel(const QString& name, bool prefault = false) {
    auto path = locateModel(name.toStdString());
    if (!path)
        return path.error();
    auto weights = ModelWeights::load(*path);
    if (!weights)
        return weights.error();
    if (prefault)
        (*weights)->prefault({0, (*weights)->config().layerCount}, true);
    auto tokenizer = Tokenizer::fromGguf((*weights)->file());
    if (!tokenizer)
        return tokenizer.error();
    return OpenModel{std::move(*weights), std::move(*tokenizer)};
}

// Validates the --device spelling early (before the model loads); whether the device exists and can run
// the model is decided when the engine is created (LocalGenerator, via the backend registry).
Expected<void> checkDevice(const QString& device) {
    if (auto id = gpu::parseDeviceId(device.toStdString()); !id)
        return id.error();
    return {};
}

int cmdTokenize(const QCommandLineParser& parser, const Options& o, const CliIo& io) {
    if (!parser.isSet(o.model) || !parser.isSet(o.prompt))
        return io.usage("tokenize needs -m MODEL and -p TEXT");
    auto path = locateModel(parser.value(o.model).toStdString());
    if (!path)
        return io.fail(path.error().message);
    auto file = GgufFile::open(*path);
    if (!file)
        return io.fail(file.error().message);
    auto tokenizer = Tokenizer::fromGguf(*file);
    if (!tokenizer)
        return io.fail(tokenizer.error().message);
    const std::string text = parser.value(o.prompt).toStdString();
    const auto ids = (*tokenizer)->encode(text, !parser.isSet(o.noBos));
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i)
            line += ' ';
        line += std::to_string(ids[i]);
    }
    std::fprintf(io.out, "%s\n", line.c_str());
    return kExitOk;
}

int cmdGenerate(const QCommandLineParser& parser, const Options& o, const CliIo& io) {
    if (!parser.isSet(o.model) || !parser.isSet(o.prompt))
        return io.usage("generate needs -m MODEL and -p PROMPT");
    auto count = intOption(parser, o.count, 0, 1 << 20);
    auto threads = intOption(parser, o.threads, 0, 1024);
    auto context = intOption(parser, o.context, 0, 1 << 24);
    auto sampler = samplerFromFlags(parser, o.sampling);
    for (const Error* e : {count ? nullptr : &count.error(), threads ? nullptr : &threads.error(),
                           context ? nullptr : &context.error(), sampler ? nullptr : &sampler.error()}) {
        if (e)
            return io.usage(e->message);
    }
    if (auto d = checkDevice(parser.value(o.device)); !d)
        return io.fail(d.error().message);

    GenerationOptions options;
    options.maxTokens = static_cast<int32_t>(*count);
    options.sampler = *sampler;

    auto model = openModel(parser.value(o.model), parser.isSet(o.prefault));
    if (!model)
        return io.fail(model.error().message);
    const Tokenizer& tokenizer = *model->tokenizer;
    for (int32_t id = 0; id < tokenizer.vocabSize(); ++id) {
        if (tokenizer.isEndOfGeneration(id))
            options.stopIds.insert(id);
    }
    const auto prompt = tokenizer.encode(parser.value(o.prompt).toStdString(), true);
    if (prompt.empty())
        return io.fail("the prompt produced no tokens");

    ThreadPool pool(static_cast<int>(*threads));
    auto generator =
        LocalGenerator::create(model->weights, pool, parser.value(o.device).toStdString(), *context);
    if (!generator)
        return io.fail(generator.error().message);
    const bool printIds = parser.isSet(o.tokens);
    StreamingDecoder decoder(tokenizer);
    bool first = true;
    auto result = (*generator)->generate(prompt, options, [&](int32_t id) {
        // Runs on this (the calling) thread as each token is sampled: stream it out at once.
        if (printIds) {
            std::fprintf(io.out, first ? "%d" : " %d", id);
            first = false;
        } else {
            const std::string text = decoder.push(id);
            std::fwrite(text.data(), 1, text.size(), io.out);
        }
        std::fflush(io.out);
        return true;
    });
    if (!printIds) {
        const std::string rest = decoder.flush();
        std::fwrite(rest.data(), 1, rest.size(), io.out);
    }
    std::fputc('\n', io.out);
    if (!result)
        return io.fail(result.error().message);
    return kExitOk;
}

int cmdLogits(const QCommandLineParser& parser, const Options& o, const CliIo& io) {
    if (!parser.isSet(o.model) || !parser.isSet(o.prompt) || !parser.isSet(o.output))
        return io.usage("logits needs -m MODEL, -p PROMPT and -o FILE");
    auto threads = intOption(parser, o.threads, 0, 1024);
    if (!threads)
        return io.usage(threads.error().message);
    if (auto d = checkDevice(parser.value(o.device)); !d)
        return io.fail(d.error().message);
    auto model = openModel(parser.value(o.model), parser.isSet(o.prefault));
    if (!model)
        return io.fail(model.error().message);
    const auto prompt = model->tokenizer->encode(parser.value(o.prompt).toStdString(), true);
    if (prompt.empty())
        return io.fail("the prompt produced no tokens");
    ThreadPool pool(static_cast<int>(*threads));
    auto generator = LocalGenerator::create(model->weights, pool, parser.value(o.device).toStdString());
    if (!generator)
        return io.fail(generator.error().message);
    auto logits = (*generator)->promptLogits(prompt);
    if (!logits)
        return io.fail(logits.error().message);
    QFile file(parser.value(o.output));
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return io.fail("cannot write '" + parser.value(o.output).toStdString() +
                       "': " + file.errorString().toStdString());
    const auto bytes = static_cast<qint64>(logits->size() * sizeof(float));
    if (file.write(reinterpret_cast<const char*>(logits->data()), bytes) != bytes)
        return io.fail("short write to '" + parser.value(o.output).toStdString() + "'");
    return kExitOk;
}

// Every tensor type in the file with its count, and the ones the engine cannot compute with, each with its
// first tensor: the model line above names only the first problem it meets.
void printTypeSupport(const GgufFile& file, const CliIo& io) {
    struct Use {
        size_t count = 0;
        std::string firstTensor;
    };
    std::map<std::string, Use> all, unsupported;
    for (const GgufTensorInfo& t : file.tensors()) {
        const std::string name(tensorTypeName(t.type));
        for (auto* uses : {&all, tensorTypeTraits(t.type).computeSupported ? nullptr : &unsupported}) {
            if (!uses)
                continue;
            Use& u = (*uses)[name];
            if (u.count++ == 0)
                u.firstTensor = t.name;
        }
    }
    std::string line;
    for (const auto& [name, use] : all)
        line.append(line.empty() ? "" : ", ").append(name + " x" + std::to_string(use.count));
    std::fprintf(io.out, "tensor types: %s\n", line.empty() ? "none" : line.c_str());
    for (const auto& [name, use] : unsupported)
        std::fprintf(io.out, "unsupported tensor type: %s (%zu tensors, first '%s')\n", name.c_str(),
                     use.count, use.firstTensor.c_str());
}

// The chat-template family the HTTP API would use for this model (core/ChatTemplate.h).
void printChatTemplate(const GgufFile& file, const CliIo& io) {
    auto text = chatTemplateOf(file);
    if (!text) {
        std::fprintf(io.out, "chat template: unreadable: %s\n", text.error().message.c_str());
    } else if (!text->has_value()) {
        std::fprintf(io.out, "chat template: none (chats use the generic format)\n");
    } else {
        const ChatFamily family = detectChatFamily(**text);
        std::fprintf(io.out, "chat template: %s\n",
                     family == ChatFamily::Generic ? "not recognised (chats use the generic format)"
                                                   : familyName(family).c_str());
    }
}

int cmdInspect(const QCommandLineParser& parser, const Options& o, const CliIo& io) {
    if (!parser.isSet(o.model))
        return io.usage("inspect needs -m MODEL");
    auto path = locateModel(parser.value(o.model).toStdString());
    if (!path)
        return io.fail(path.error().message);
    auto file = GgufFile::open(*path);
    if (!file)
        return io.fail(file.error().message);
    std::fprintf(io.out, "file: %s\nGGUF version: %u\nalignment: %llu\ndata offset: %llu\nsize: %llu bytes\n",
                 file->path().c_str(), file->version(), static_cast<unsigned long long>(file->alignment()),
                 static_cast<unsigned long long>(file->dataOffset()),
                 static_cast<unsigned long long>(file->fileSize()));
    std::fprintf(io.out, "\nmetadata (%zu keys):\n", file->metadataKeys().size());
    for (const std::string& key : file->metadataKeys()) {
        const GgufValue* v = file->find(key);
        std::fprintf(io.out, "  %-40s %-4s %s\n", key.c_str(), ggufValueTypeName(v->type),
                     file->valueToString(*v).c_str());
    }
    std::fprintf(io.out, "\ntensors (%zu):\n", file->tensors().size());
    for (const GgufTensorInfo& t : file->tensors()) {
        std::string shape;
        for (size_t i = 0; i < t.shape.size(); ++i)
            shape.append(i ? " x " : "").append(std::to_string(t.shape[i]));
        std::fprintf(io.out, "  %-32s %-5s %-18s offset %-12llu %llu bytes\n", t.name.c_str(),
                     std::string(tensorTypeName(t.type)).c_str(), shape.c_str(),
                     static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.sizeBytes));
    }
    // Issue 15 §3: the architecture, whether the engine has a description of it, and where it runs.
    const auto architecture = file->getStringOr("general.architecture", "");
    const std::string archName = architecture ? *architecture : std::string();
    if (archName.empty())
        std::fprintf(io.out, "\narchitecture: none (general.architecture is missing)\n");
    else if (!findArchitecture(archName))
        std::fprintf(io.out, "\narchitecture: %s, not supported (supported: %s)\n", archName.c_str(),
                     supportedArchitectureNames().c_str());
    else
        std::fprintf(io.out, "\narchitecture: %s, supported\n", archName.c_str());
    if (auto config = ModelConfig::fromGguf(*file)) {
        // Where it runs.
        if (const std::string optional = config->deviceOptionalFeatures(); !optional.empty())
            std::fprintf(io.out,
                         "devices: CPU, OpenCL, Vulkan, CUDA and HIP (device ops beyond llama's: %s)\n",
                         optional.c_str());
        else
            std::fprintf(io.out, "devices: CPU, OpenCL, Vulkan, CUDA and HIP\n");
        std::fprintf(
            io.out,
            "\nmodel: %s, %lld layers, dim %lld, %lld heads (%lld KV), head dim %lld, FFN %lld, vocab %lld, "
            "context %lld, rope base %g, rms eps %g%s\n",
            config->architecture.c_str(), static_cast<long long>(config->layerCount),
            static_cast<long long>(config->embeddingLength), static_cast<long long>(config->headCount),
            static_cast<long long>(config->kvHeadCount), static_cast<long long>(config->headDim),
            static_cast<long long>(config->feedForwardLength), static_cast<long long>(config->vocabSize),
            static_cast<long long>(config->contextLength), static_cast<double>(config->ropeFreqBase),
            static_cast<double>(config->rmsNormEps), config->tiedEmbeddings ? ", tied embeddings" : "");
        if (config->expertCount > 0)
            std::fprintf(io.out, "experts: %lld, %lld used per token, FFN %lld each\n",
                         static_cast<long long>(config->expertCount),
                         static_cast<long long>(config->expertUsedCount),
                         static_cast<long long>(config->feedForwardLength));
        if (config->hasLongRopeFactors)
            std::fprintf(
                io.out,
                "rope: LongRoPE, long factors when run with more than %lld tokens of context (a network "
                "runs the model's %lld: %s factors; `generate --ctx N` picks as llama.cpp's -c N), "
                "attn_factor %g\n",
                static_cast<long long>(config->ropeOriginalContext),
                static_cast<long long>(config->contextLength),
                config->usesLongRopeFactors(config->contextLength) ? "long" : "short",
                static_cast<double>(config->ropeAttnFactor));
        if (config->separateWindowRope)
            std::fprintf(
                io.out,
                "rope: sliding-window layers base %g, scale %g; full-attention layers base %g, scale %g\n",
                static_cast<double>(config->ropeFreqBaseWindow),
                static_cast<double>(config->ropeFreqScaleWindow), static_cast<double>(config->ropeFreqBase),
                static_cast<double>(config->ropeFreqScale));
        if (config->ropeYarn.enabled())
            std::fprintf(io.out,
                         "rope: YaRN, factor %g over %lld trained positions (dimension pairs below %g "
                         "unscaled, from %g on scaled, mixed between), cos/sin x %.7g\n",
                         static_cast<double>(1.0f / config->ropeFreqScale),
                         static_cast<long long>(config->ropeOriginalContext),
                         static_cast<double>(config->ropeYarn.corrLow),
                         static_cast<double>(config->ropeYarn.corrHigh),
                         static_cast<double>(config->ropeAttnFactor));
        if (config->attentionTemperatureScale != 0.0f)
            std::fprintf(io.out, "attention: queries x 1 + %g ln(floor(position / %lld) + 1) after RoPE\n",
                         static_cast<double>(config->attentionTemperatureScale),
                         static_cast<long long>(config->ropeOriginalContext));
        if (config->hasRopeFactors)
            std::fprintf(io.out, "rope: frequency factors (rope_freqs.weight)%s\n",
                         config->ropeAttnFactor != 1.0f ? ", with attn_factor" : "");
        if (config->spec->readsMultipliers)
            std::fprintf(io.out, "multipliers: embedding %g, residual %g, attention %g, logits / %g%s\n",
                         static_cast<double>(config->embeddingScale),
                         static_cast<double>(config->residualScale),
                         static_cast<double>(config->attentionScale), static_cast<double>(config->logitScale),
                         config->ropeEnabled ? "" : "; no RoPE (rope.scaling.finetuned false)");
    } else {
        std::fprintf(io.out, "\nmodel: not runnable: %s\n", config.error().message.c_str());
    }
    printTypeSupport(*file, io);
    // The tokenizer as it would run; its warnings (an unknown pre-tokenizer, out-of-range special ids) mean
    // token ids may differ from the model's.
    if (auto tokenizer = Tokenizer::fromGguf(*file)) {
        if ((*tokenizer)->kind() == VocabKind::SentencePiece)
            std::fprintf(io.out, "\ntokenizer: SentencePiece, %d tokens\n", (*tokenizer)->vocabSize());
        else
            std::fprintf(io.out, "\ntokenizer: BPE, %d tokens, pre-tokenizer '%s'\n",
                         (*tokenizer)->vocabSize(), (*tokenizer)->preTokenizerName().c_str());
        for (const std::string& warning : (*tokenizer)->warnings())
            std::fprintf(io.out, "tokenizer warning: %s\n", warning.c_str());
    } else {
        std::fprintf(io.out, "\ntokenizer: not usable: %s\n", tokenizer.error().message.c_str());
    }
    printChatTemplate(*file, io);
    return kExitOk;
}

} // namespace

int run(const QStringList& args, std::FILE* out, std::FILE* err) {
    const CliIo io{out, err};
    if (args.isEmpty() || args.first() == QStringLiteral("-h") || args.first() == QStringLiteral("--help") ||
        args.first() == QStringLiteral("help")) {
        std::fputs(usageText().c_str(), args.isEmpty() ? err : out);
        return args.isEmpty() ? kExitUsage : kExitOk;
    }
    if (isVersionRequest(args)) {
        std::fprintf(out, "%s\n", softwareName("declai-cli").c_str());
        return kExitOk;
    }
    const QString command = args.first();
    // These commands take their own options (their -p/-n are counts, not a prompt).
    if (command == QStringLiteral("model"))
        return runModelCommand(args, out, err);
    if (command == QStringLiteral("bench"))
        return runBench(args, out, err);
    if (command == QStringLiteral("devices"))
        return runDevices(args, out, err);
    if (command == QStringLiteral("submit"))
        return runSubmit(args, out, err);
    Options o;
    QCommandLineParser parser;
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    parser.addOptions({o.model, o.prompt, o.count, o.threads, o.device, o.tokens, o.context, o.noBos,
                       o.output, o.prefault, o.help});
    parser.addOptions(o.sampling.all());
    QStringList parseArgs = args;
    parseArgs[0] = QStringLiteral("declai-cli");
    if (!parser.parse(parseArgs))
        return io.usage(parser.errorText().toStdString());
    if (!parser.positionalArguments().isEmpty())
        return io.usage("unexpected argument '" + parser.positionalArguments().first().toStdString() + "'");
    if (parser.isSet(o.help)) {
        std::fputs(usageText().c_str(), out);
        return kExitOk;
    }
    if (command == QStringLiteral("generate"))
        return cmdGenerate(parser, o, io);
    if (command == QStringLiteral("tokenize"))
        return cmdTokenize(parser, o, io);
    if (command == QStringLiteral("logits"))
        return cmdLogits(parser, o, io);
    if (command == QStringLiteral("inspect"))
        return cmdInspect(parser, o, io);
    return io.usage("unknown command '" + command.toStdString() + "' (try --help)");
}

} // namespace declai::cli
