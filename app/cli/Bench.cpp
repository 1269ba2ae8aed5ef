#include "Bench.h"

#include "CliIo.h"
#include "declai/core/CommandLineOptions.h"
#include "declai/core/ModelLocator.h"
#include "declai/core/Quant.h"
#include "declai/gpu/DeviceBenchmark.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/Head.h"
#include "declai/gpu/ShardBackend.h"
#include "declai/gpu/ShardExecutor.h"
#include "declai/gpu/ThreadPool.h"

#include <QCommandLineParser>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <sys/resource.h>
#include <vector>

namespace declai::cli {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t mid = v.size() / 2;
    return v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

double peakRssMb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0; // ru_maxrss is in KiB on Linux
}

// Decode speed of one transformer layer on the device: what placement weighs nodes by.
Expected<double> measureLayerTokensPerSecond(const std::shared_ptr<const ModelWeights>& weights,
                                             const std::string& deviceId, ThreadPool& pool) {
    constexpr int kSteps = 32;
    auto layer = makeShardBackend(weights, {0, 1}, deviceId, pool, kSteps + 1);
    if (!layer)
        return layer.error();
    std::vector<float> hidden(static_cast<size_t>(weights->config().embeddingLength), 0.01f);
    for (int i = 0; i < 2; ++i) // warm-up
        if (auto r = (*layer)->forward(1, i, hidden, 1); !r)
            return r.error();
    (*layer)->endSession(1);
    const auto start = Clock::now();
    for (int i = 0; i < kSteps; ++i)
        if (auto r = (*layer)->forward(2, i, hidden, 1); !r)
            return r.error();
    return kSteps / secondsSince(start);
}

const char* kBenchUsage =
    R"(usage: declai-cli bench -m MODEL [--threads T] [--device D] [-p 64] [-n 32] [--reps 3] [--sessions S]
                        [--json] [--prefault]
  prefill tok/s (one forward of p tokens) and decode tok/s (n single-token steps after it), the median
  of --reps runs after one warm-up, plus peak RSS, read bandwidth and the decode ceiling it implies.
  --sessions S: S sessions, each prefilled with its own p tokens, then decoded together: every step is one
  batched pass (forwardBatch, one row per session, and one head pass for all); decode tok/s counts the
  tokens of all sessions (what a node serving S researchers at once delivers)
)";

struct RunTimes {
    double prefillSeconds = 0.0;
    double decodeSeconds = 0.0;
};

} // namespace

int runBench(const QStringList& args, std::FILE* out, std::FILE* err) {
    const QCommandLineOption model =
        makeOption({QStringLiteral("m"), QStringLiteral("model")}, "model", "MODEL");
    const QCommandLineOption threads =
        makeOption({QStringLiteral("t"), QStringLiteral("threads")}, "threads", "T", "0");
    const QCommandLineOption device = makeOption({QStringLiteral("device")}, "device", "D", "cpu");
    const QCommandLineOption prompt = makeOption({QStringLiteral("p")}, "prefill tokens", "N", "64");
    const QCommandLineOption count = makeOption({QStringLiteral("n")}, "decode tokens", "N", "32");
    const QCommandLineOption reps = makeOption({QStringLiteral("reps")}, "repetitions", "R", "3");
    const QCommandLineOption sessions =
        makeOption({QStringLiteral("sessions")}, "sessions decoded together", "S", "1");
    const QCommandLineOption json = makeOption({QStringLiteral("json")}, "print JSON");
    const QCommandLineOption prefault =
        makeOption({QStringLiteral("prefault")}, "touch every weight page at load");
    const QCommandLineOption help = makeOption({QStringLiteral("h"), QStringLiteral("help")}, "help");
    QCommandLineParser parser;
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    parser.addOptions({model, threads, device, prompt, count, reps, sessions, json, prefault, help});
    QStringList parseArgs = args;
    parseArgs[0] = QStringLiteral("declai-cli");
    const CliIo io{out, err};
    if (!parser.parse(parseArgs))
        return io.usage(parser.errorText().toStdString());
    if (parser.isSet(help)) {
        std::fputs(kBenchUsage, out);
        return 0;
    }
    if (!parser.positionalArguments().isEmpty())
        return io.usage("unexpected argument '" + parser.positionalArguments().first().toStdString() + "'");
    if (!parser.isSet(model))
        return io.usage("bench needs -m MODEL");
    const auto threadsValue = intOption(parser, threads, 0, 1024);
    const auto prefillValue = intOption(parser, prompt, 1, 1 << 16);
    const auto decodeValue = intOption(parser, count, 0, 1 << 16);
    const auto repsValue = intOption(parser, reps, 1, 1000);
    const auto sessionsValue = intOption(parser, sessions, 1, 256);
    for (const auto* value : {&threadsValue, &prefillValue, &decodeValue, &repsValue, &sessionsValue})
        if (!*value)
            return io.usage(value->error().message);
    const int threadCount = static_cast<int>(*threadsValue);
    const int prefillTokens = static_cast<int>(*prefillValue);
    const int decodeTokens = static_cast<int>(*decodeValue);
    const int repetitions = static_cast<int>(*repsValue);
    const int sessionCount = static_cast<int>(*sessionsValue);
    const QString deviceName = parser.value(device);

    const std::string modelName = parser.value(model).toStdString();
    auto path = locateModel(modelName);
    if (!path)
        return io.fail(path.error().message);
    auto loaded = ModelWeights::load(*path);
    if (!loaded)
        return io.fail(loaded.error().message);
    std::shared_ptr<const ModelWeights> weights = *loaded;
    {
        // As a node and the gateway hold them: the CPU's layers and the head in huge pages.
        const int64_t layerCount = weights->config().layerCount;
        const LayerRange layers{0, isCpuDevice(deviceName.toStdString()) ? layerCount : 0};
        weights = ModelWeights::makeResident(std::move(weights), layers, true).weights;
    }
    const ModelConfig& config = weights->config();
    if (parser.isSet(prefault))
        weights->prefault({0, config.layerCount}, true);
    const int64_t dim = config.embeddingLength;
    const int64_t contextNeeded = static_cast<int64_t>(prefillTokens) + decodeTokens;
    if (contextNeeded > config.contextLength)
        return io.fail("-p + -n = " + std::to_string(contextNeeded) + " exceeds the model's context " +
                       std::to_string(config.contextLength));

    ThreadPool pool(threadCount);
    Embedder embedder(weights);
    Head head(weights, pool);
    // The layers run on the chosen device; embeddings and the head stay on the CPU (as on the gateway).
    auto shard =
        makeShardBackend(weights, {0, config.layerCount}, deviceName.toStdString(), pool, contextNeeded);
    if (!shard)
        return io.fail(shard.error().message);

    std::vector<int32_t> tokens(static_cast<size_t>(prefillTokens));
    std::vector<float> hidden;
    std::vector<float> logits(static_cast<size_t>(head.vocabSize()));

    SessionId nextSession = 1;
    // Token i of session s: a fixed pseudo-random sequence, different per session.
    auto tokenAt = [&](int s, size_t i) {
        return static_cast<int32_t>((i * 7919 + 3 + static_cast<size_t>(s) * 104729) %
                                    static_cast<size_t>(config.vocabSize));
    };
    std::vector<SessionId> ids(static_cast<size_t>(sessionCount));
    std::vector<int32_t> stepIds(static_cast<size_t>(sessionCount));
    std::vector<float> stepHidden(static_cast<size_t>(sessionCount * dim));
    std::vector<BatchPart> parts(static_cast<size_t>(sessionCount));
    std::vector<float> stepLogits(static_cast<size_t>(sessionCount * head.vocabSize()));
    auto runOnce = [&]() -> Expected<RunTimes> {
        RunTimes times;
        // Prefill: embed each session's prompt, run every layer on it at once, logits of the last position.
        auto start = Clock::now();
        for (int s = 0; s < sessionCount; ++s) {
            const SessionId session = ids[static_cast<size_t>(s)] = nextSession++;
            for (int i = 0; i < prefillTokens; ++i)
                tokens[static_cast<size_t>(i)] = tokenAt(s, static_cast<size_t>(i));
            hidden.resize(static_cast<size_t>(prefillTokens * dim));
            std::span<const int32_t> promptIds(tokens.data(), static_cast<size_t>(prefillTokens));
            if (auto r = embedder.embed(promptIds, hidden); !r)
                return r.error();
            if (auto r = (*shard)->forward(session, 0, hidden, prefillTokens); !r)
                return r.error();
            std::span<const float> last(hidden.data() + (prefillTokens - 1) * dim, static_cast<size_t>(dim));
            if (auto r = head.logits(last, logits); !r)
                return r.error();
        }
        times.prefillSeconds = secondsSince(start);
        // Decode: one token per session per step, each step a full pass over the weights shared by all.
        start = Clock::now();
        for (int i = 0; i < decodeTokens; ++i) {
            const int64_t position = prefillTokens + i;
            for (int s = 0; s < sessionCount; ++s)
                stepIds[static_cast<size_t>(s)] = tokenAt(s, static_cast<size_t>(position));
            if (auto r = embedder.embed(stepIds, stepHidden); !r)
                return r.error();
            for (int s = 0; s < sessionCount; ++s)
                parts[static_cast<size_t>(s)] =
                    BatchPart{ids[static_cast<size_t>(s)], position,
                              std::span<float>(stepHidden.data() + s * dim, static_cast<size_t>(dim)), 1};
            for (auto& result : (*shard)->forwardBatch(parts))
                if (!result)
                    return result.error();
            if (auto r = head.logitsBatch(stepHidden, sessionCount, stepLogits); !r)
                return r.error();
        }
        times.decodeSeconds = secondsSince(start);
        for (SessionId session : ids)
            (*shard)->endSession(session);
        return times;
    };

    if (auto warm = runOnce(); !warm)
        return io.fail(warm.error().message);
    std::vector<double> prefillTps;
    std::vector<double> decodeTps;
    for (int rep = 0; rep < repetitions; ++rep) {
        auto times = runOnce();
        if (!times)
            return io.fail(times.error().message);
        prefillTps.push_back(prefillTokens * sessionCount / times->prefillSeconds);
        if (decodeTokens > 0)
            decodeTps.push_back(decodeTokens * sessionCount / times->decodeSeconds);
    }
    // Peak RSS of the model run itself, before the bandwidth probe allocates its buffer.
    const double rss = peakRssMb();
    const bool onCpu = deviceName == QStringLiteral("cpu") || deviceName == QStringLiteral("cpu:0");
    // The placement figures: matrix throughput (F16 and int8 weights) and one layer's decode speed.
    // A device that cannot be opened reports zero figures (as before: the model run above already used it).
    auto measured = gpu::measureDeviceFigures(deviceName.toStdString(), threadCount);
    const gpu::DeviceFigures figures = measured ? *measured : gpu::DeviceFigures{};
    auto layerTps = measureLayerTokensPerSecond(weights, deviceName.toStdString(), pool);
    if (!layerTps)
        return io.fail(layerTps.error().message);
    // Memory bandwidth: a streaming read on the CPU; on a device, the effective rate of a weight-bound GEMV.
    const double bandwidth = onCpu ? gpu::measureReadBandwidthGbps(pool) : figures.gemvBandwidthGbps;
    const WeightMatrix& output = weights->output();
    const uint64_t bytesPerToken =
        weights->layerBytes({0, config.layerCount}) + output.rowBytes * static_cast<uint64_t>(output.rows);
    const double ceiling = bandwidth * 1e9 / static_cast<double>(bytesPerToken);
    const double prefill = median(prefillTps);
    const double decode = decodeTps.empty() ? 0.0 : median(decodeTps);

    if (parser.isSet(json)) {
        std::string escaped;
        for (char c : modelName) {
            if (c == '"' || c == '\\')
                escaped.push_back('\\');
            escaped.push_back(c);
        }
        std::fprintf(out,
                     "{\"prefill_tps\": %.2f, \"decode_tps\": %.2f, \"bandwidth_gbps\": %.2f, "
                     "\"matmul_f16_gflops\": %.2f, \"matmul_int8_gflops\": %.2f, \"layer_tps\": %.2f, "
                     "\"decode_ceiling_tps\": %.2f, \"threads\": %d, \"sessions\": %d, \"model\": \"%s\", "
                     "\"device\": \"%s\", \"peak_rss_mb\": %.1f}\n",
                     prefill, decode, bandwidth, figures.f16Gflops, figures.int8Gflops, *layerTps, ceiling,
                     pool.threadCount(), sessionCount, escaped.c_str(), deviceName.toStdString().c_str(),
                     rss);
    } else {
        std::fprintf(out,
                     "model %s, %d threads, device %s, %d session(s)\n"
                     "prefill pp%d: %.2f tok/s\n"
                     "decode  tg%d: %.2f tok/s (all sessions)\n"
                     "read bandwidth %.2f GB/s, %.1f MB of weights per token -> decode ceiling %.2f tok/s\n"
                     "matmul %.2f GFLOP/s with F16 weights, %.2f GFLOP/s with int8 (Q8_0) weights\n"
                     "one layer: %.1f tokens/s (decode)\n"
                     "peak RSS %.1f MB (median of %d runs after one warm-up)\n",
                     modelName.c_str(), pool.threadCount(), deviceName.toStdString().c_str(), sessionCount,
                     prefillTokens, prefill, decodeTokens, decode, bandwidth,
                     static_cast<double>(bytesPerToken) / 1e6, ceiling, figures.f16Gflops, figures.int8Gflops,
                     *layerTps, rss, repetitions);
    }
    return 0;
}

} // namespace declai::cli
