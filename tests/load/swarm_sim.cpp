// swarm_sim: how many volunteers one gateway holds (issue 17 §3). Starts a real declai-server on loopback
// with a few real declai-node processes that serve stories260K, then opens N simulated volunteers: real
// TLS WebSocket connections, each with its own Ed25519 key and the real node handshake (Hello, signed
// challenge, Welcome), then a NodeStatus heartbeat every --heartbeat-ms (a declai-node's default interval).
// While they are held it measures:
//  - heartbeats on time: the gateway answers a WebSocket ping only after it has read every frame sent
//    before it on that connection, so the ping round trip of sampled simulated nodes, sent right after a
//    heartbeat, is how late the gateway is in reading heartbeats; and no simulated node may be dropped;
//  - the gateway's CPU share and RSS (/proc), before and while holding N;
//  - prompt latency of declai-style clients (16 tokens) before the volunteers come and while they are held,
//    from a thread with its own event loop (and, for comparison, on the simulator's loop).
// Prints one JSON object (and writes it to --json FILE). With --check it exits 1 unless every volunteer
// was welcomed and kept, every prompt finished and the ping p99 stayed under --max-ping-ms: CI runs it so
// with a small N; docs/benchmarks.md records the full figure.
// A test-only tool (it links the test harness and the misbehaving-node helper): it does not ship.
#include "../server/AbuseClients.h"
#include "../server/FakeNode.h"
#include "declai/core/CommandLineOptions.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QJsonArray>
#include <QThread>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <set>
#include <sys/resource.h>
#include <unistd.h>

using namespace declai;
using testdata::FakeNode;
using testdata::Misbehaviour;
using testdata::Swarm;

namespace {

struct ProcSample {
    double cpuS = 0; // user + system
    qint64 rssKiB = 0;
};

ProcSample sample(qint64 pid) {
    ProcSample s;
    QFile f(QStringLiteral("/proc/%1/stat").arg(pid));
    if (f.open(QIODevice::ReadOnly)) {
        const QByteArray line = f.readAll();
        const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
        if (fields.size() > 13)
            s.cpuS = double(fields[11].toLongLong() + fields[12].toLongLong()) / double(sysconf(_SC_CLK_TCK));
    }
    s.rssKiB = testdata::rssKiB(pid);
    return s;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty())
        return -1;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

// Prompts one at a time on one client connection; the latency of each, in ms.
std::vector<double> promptLatencies(const Swarm& swarm, int prompts, int tokens, int* failed) {
    testdata::PipelinedClient client(swarm, QString());
    std::vector<double> ms;
    if (!client.waitWelcome()) {
        *failed += prompts;
        return ms;
    }
    for (int i = 1; i <= prompts; ++i) {
        QElapsedTimer clock;
        clock.start();
        client.submit(uint64_t(i), tokens);
        if (!client.waitAnswers(size_t(i), 120000) || !client.done.count(uint64_t(i)))
            ++*failed;
        else
            ms.push_back(double(clock.elapsed()));
    }
    return ms;
}

// The same, from a thread of its own with its own event loop. Measured on the simulator's event loop, each
// prompt's answers wait behind the 5,000 simulated volunteers' sockets and their heartbeat timer: the figure
// is then the simulator's lag as much as the gateway's (docs/benchmarks.md, Swarm load). The main loop keeps
// serving the volunteers meanwhile.
std::vector<double> promptLatenciesOwnThread(const Swarm& swarm, int prompts, int tokens, int* failed) {
    std::vector<double> ms;
    int threadFailed = 0;
    std::unique_ptr<QThread> thread(
        QThread::create([&] { ms = promptLatencies(swarm, prompts, tokens, &threadFailed); }));
    thread->start();
    while (!thread->isFinished())
        QTest::qWait(20);
    thread->wait();
    *failed += threadFailed;
    return ms;
}

QJsonObject latencyJson(const std::vector<double>& ms) {
    return QJsonObject{{QStringLiteral("count"), qint64(ms.size())},
                       {QStringLiteral("p50_ms"), percentile(ms, 0.5)},
                       {QStringLiteral("p95_ms"), percentile(ms, 0.95)},
                       {QStringLiteral("max_ms"), percentile(ms, 1.0)}};
}

} // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    const QCommandLineOption nodesOpt =
        makeOption({QStringLiteral("nodes")}, "simulated volunteers", "N", "500");
    const QCommandLineOption realOpt =
        makeOption({QStringLiteral("real-nodes")}, "declai-node processes", "K", "2");
    const QCommandLineOption holdOpt =
        makeOption({QStringLiteral("hold-s")}, "seconds to hold them all", "S", "30");
    const QCommandLineOption beatOpt =
        makeOption({QStringLiteral("heartbeat-ms")}, "status interval", "MS", "10000");
    const QCommandLineOption parallelOpt =
        makeOption({QStringLiteral("parallel")}, "handshakes at once", "N", "24");
    const QCommandLineOption promptsOpt =
        makeOption({QStringLiteral("prompts")}, "prompts per phase", "N", "10");
    const QCommandLineOption maxPingOpt =
        makeOption({QStringLiteral("max-ping-ms")}, "ping p99 bar", "MS", "2000");
    const QCommandLineOption lateOpt = makeOption(
        {QStringLiteral("late-nodes")}, "real nodes started while the volunteers are held", "K", "0");
    const QCommandLineOption jsonOpt = makeOption({QStringLiteral("json")}, "write the result here", "FILE");
    const QCommandLineOption checkOpt = makeOption({QStringLiteral("check")}, "exit 1 below the bar");
    parser.addOptions({nodesOpt, realOpt, holdOpt, beatOpt, parallelOpt, promptsOpt, maxPingOpt, lateOpt,
                       jsonOpt, checkOpt});
    parser.addHelpOption();
    parser.process(app);
    // Read as every program reads its numbers (declai/core/CommandLineOptions.h): a bad one is a usage error.
    const auto nodesValue = intOption(parser, nodesOpt, 0, 1000000);
    const auto realValue = intOption(parser, realOpt, 0, 64);
    const auto holdValue = intOption(parser, holdOpt, 0, 86400);
    const auto beatValue = intOption(parser, beatOpt, 0, 3600000);
    const auto parallelValue = intOption(parser, parallelOpt, 0, 100000);
    const auto promptsValue = intOption(parser, promptsOpt, 0, 100000);
    const auto lateValue = intOption(parser, lateOpt, 0, 64);
    const auto maxPingValue = floatOption(parser, maxPingOpt, 0, 1e9);
    for (const auto* value :
         {&nodesValue, &realValue, &holdValue, &beatValue, &parallelValue, &promptsValue, &lateValue}) {
        if (!*value) {
            std::fprintf(stderr, "swarm_sim: %s\n", value->error().message.c_str());
            return 2;
        }
    }
    if (!maxPingValue) {
        std::fprintf(stderr, "swarm_sim: %s\n", maxPingValue.error().message.c_str());
        return 2;
    }
    const int n = int(*nodesValue);
    const int realNodes = int(*realValue);
    const int holdMs = int(*holdValue) * 1000;
    const int heartbeatMs = std::max(100, int(*beatValue));
    const int parallel = std::max(1, int(*parallelValue));
    const int prompts = int(*promptsValue);
    const int lateNodes = int(*lateValue);
    const double maxPingMs = *maxPingValue;
    if (testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty()) {
        std::fprintf(stderr, "swarm_sim: stories260K.gguf not in DECLAI_MODEL_PATH: skipped\n");
        return 77;
    }
    // Both ends hold N sockets: the gateway inherits this limit.
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    const QString maxConnections = QString::number(std::max<rlim_t>(1024, limit.rlim_cur - 64));
    // Every simulated volunteer comes from 127.0.0.1: the per-address caps and the join limit are raised.
    Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--max-connections"), maxConnections,
                 QStringLiteral("--max-connections-per-ip"), QStringLiteral("1000000"),
                 QStringLiteral("--new-nodes-per-ip"), QStringLiteral("1000000")});
    if (!swarm.waitForServer()) {
        std::fprintf(stderr, "swarm_sim: the server did not start:\n%s\n",
                     qPrintable(swarm.log(QStringLiteral("server"))));
        return 1;
    }
    for (int i = 0; i < realNodes; ++i)
        swarm.addNode();
    if (!swarm.waitForShards(std::max(1, realNodes), 60000)) {
        std::fprintf(stderr, "swarm_sim: the real nodes were not placed\n");
        return 1;
    }
    const qint64 pid = swarm.server().processId();
    int promptFailures = 0;
    const std::vector<double> unloaded = promptLatenciesOwnThread(swarm, prompts, 16, &promptFailures);
    const std::vector<double> unloadedMain = promptLatencies(swarm, prompts, 16, &promptFailures);
    const ProcSample idle = sample(pid);

    // The volunteers, opened `parallel` handshakes at a time.
    std::vector<std::unique_ptr<FakeNode>> nodes;
    nodes.reserve(size_t(n));
    std::vector<qint64> nextBeatMs(size_t(n), 0);
    QElapsedTimer clock;
    clock.start();
    int welcomed = 0;
    int failedJoins = 0;
    std::vector<char> counted(size_t(n), 0);
    while ((int(nodes.size()) < n || welcomed + failedJoins < n) && clock.elapsed() < 600000) {
        const int inFlight = int(nodes.size()) - welcomed - failedJoins;
        for (int i = inFlight; i < parallel && int(nodes.size()) < n; ++i) {
            nodes.push_back(std::make_unique<FakeNode>(Misbehaviour::Polite, swarm.caFile()));
            nodes.back()->setMemoryBudgetBytes(0); // idle volunteers: the real nodes serve the model
            nodes.back()->connectTo(swarm.port());
        }
        QTest::qWait(5);
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (counted[i])
                continue;
            if (nodes[i]->welcomed()) {
                counted[i] = 1;
                ++welcomed;
                nextBeatMs[i] = clock.elapsed() + heartbeatMs; // the Welcome was answered by a status
            } else if (nodes[i]->closed() || nodes[i]->rejected()) {
                counted[i] = 2;
                ++failedJoins;
            }
        }
    }
    const qint64 rampMs = clock.elapsed();

    // Hold them all: heartbeats on their interval, pings after heartbeats on a sample, prompts meanwhile.
    std::vector<double> pingMs;
    std::vector<double> beatLateMs; // how late this process itself sent heartbeats (its own lag)
    int heartbeats = 0;
    QTimer beat;
    beat.setInterval(50);
    const size_t sampleEvery = std::max<size_t>(1, size_t(n) / 50); // about 50 sampled connections
    QObject::connect(&beat, &QTimer::timeout, &beat, [&] {
        const qint64 now = clock.elapsed();
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (counted[i] != 1 || now < nextBeatMs[i] || nodes[i]->closed())
                continue;
            beatLateMs.push_back(double(now - nextBeatMs[i]));
            nextBeatMs[i] += heartbeatMs;
            nodes[i]->heartbeat();
            ++heartbeats;
            if (i % sampleEvery == 0)
                nodes[i]->socket().ping();
        }
    });
    for (size_t i = 0; i < nodes.size(); i += sampleEvery)
        QObject::connect(
            &nodes[i]->socket(), &QWebSocket::pong, &nodes[i]->socket(),
            [&pingMs](quint64 elapsedMs, const QByteArray&) { pingMs.push_back(double(elapsedMs)); });
    // From here on each volunteer beats on its interval, phases spread evenly as independent nodes' are
    // (the Welcome of each was answered by a status already; the ramp's wait is not counted as lateness).
    for (size_t i = 0; i < nodes.size(); ++i)
        nextBeatMs[i] = clock.elapsed() + qint64(i) * heartbeatMs / std::max(1, n);
    beat.start();
    const ProcSample holdStart = sample(pid);
    QElapsedTimer hold;
    hold.start();
    std::fprintf(stderr, "swarm_sim: holding %d volunteers for %d s; gateway pid %lld\n", welcomed,
                 holdMs / 1000, static_cast<long long>(pid));
    std::vector<double> loaded, loadedMain;
    if (welcomed > 0) {
        loaded = promptLatenciesOwnThread(swarm, prompts, 16, &promptFailures);
        loadedMain = promptLatencies(swarm, prompts, 16, &promptFailures);
    }
    // Real nodes that join while the gateway is busy with heartbeats must be given layers like any other: the
    // time from their start until they serve a shard (-1: not within 60 s).
    // Counted by id: only nodes that were not serving before (an earlier node dropping meanwhile is
    // another question, reported in the log).
    qint64 latePlacedMs = -1;
    if (lateNodes > 0) {
        const auto servingIds = [&swarm] {
            std::set<QString> ids;
            for (const QJsonValue& v : swarm.status().value(QStringLiteral("nodes")).toArray())
                if (!v.toObject().value(QStringLiteral("shards")).toArray().isEmpty())
                    ids.insert(v.toObject().value(QStringLiteral("id")).toString());
            return ids;
        };
        const std::set<QString> before = servingIds();
        QElapsedTimer late;
        late.start();
        for (int i = 0; i < lateNodes; ++i)
            swarm.addNode();
        while (late.elapsed() < 60000 && latePlacedMs < 0) {
            int newlyServing = 0;
            for (const QString& id : servingIds())
                newlyServing += before.count(id) ? 0 : 1;
            if (newlyServing >= lateNodes)
                latePlacedMs = late.elapsed();
            else
                QTest::qWait(250);
        }
    }
    while (hold.elapsed() < holdMs)
        QTest::qWait(50);
    const ProcSample holdEnd = sample(pid);
    const double holdS = double(hold.elapsed()) / 1000.0;
    beat.stop();
    int dropped = 0;
    for (size_t i = 0; i < nodes.size(); ++i)
        dropped += counted[i] == 1 && nodes[i]->closed() ? 1 : 0;
    const QJsonObject status = swarm.status();
    const int gatewayNodes = status.value(QStringLiteral("nodes")).toArray().size();

    const double p99 = percentile(pingMs, 0.99);
    const QJsonObject result{
        {QStringLiteral("simulated_nodes"), n},
        {QStringLiteral("welcomed"), welcomed},
        {QStringLiteral("failed_joins"), failedJoins},
        {QStringLiteral("dropped_while_held"), dropped},
        {QStringLiteral("gateway_nodes_listed"), gatewayNodes},
        {QStringLiteral("real_nodes"), realNodes},
        {QStringLiteral("ramp_ms"), rampMs},
        {QStringLiteral("hold_s"), holdS},
        {QStringLiteral("heartbeat_interval_ms"), heartbeatMs},
        {QStringLiteral("heartbeats_sent"), heartbeats},
        {QStringLiteral("heartbeat_send_lag_p99_ms"), percentile(beatLateMs, 0.99)},
        {QStringLiteral("ping_after_heartbeat"),
         QJsonObject{{QStringLiteral("samples"), qint64(pingMs.size())},
                     {QStringLiteral("p50_ms"), percentile(pingMs, 0.5)},
                     {QStringLiteral("p99_ms"), p99},
                     {QStringLiteral("max_ms"), percentile(pingMs, 1.0)}}},
        {QStringLiteral("gateway"),
         QJsonObject{{QStringLiteral("rss_idle_kib"), idle.rssKiB},
                     {QStringLiteral("rss_holding_kib"), holdEnd.rssKiB},
                     {QStringLiteral("rss_per_node_kib"),
                      welcomed > 0 ? double(holdEnd.rssKiB - idle.rssKiB) / welcomed : 0.0},
                     {QStringLiteral("cpu_while_holding_percent"),
                      holdS > 0 ? 100.0 * (holdEnd.cpuS - holdStart.cpuS) / holdS : 0.0}}},
        {QStringLiteral("prompt_latency_unloaded"), latencyJson(unloaded)},
        {QStringLiteral("prompt_latency_holding"), latencyJson(loaded)},
        // The same prompts measured on the simulator's own event loop (how this tool measured before).
        {QStringLiteral("prompt_latency_unloaded_sim_loop"), latencyJson(unloadedMain)},
        {QStringLiteral("prompt_latency_holding_sim_loop"), latencyJson(loadedMain)},
        {QStringLiteral("prompt_failures"), promptFailures},
        {QStringLiteral("late_nodes"), lateNodes},
        {QStringLiteral("late_nodes_placed_ms"), latePlacedMs},
    };
    const QByteArray json = QJsonDocument(result).toJson(QJsonDocument::Indented);
    std::fwrite(json.constData(), 1, size_t(json.size()), stdout);
    if (parser.isSet(jsonOpt)) {
        QFile out(parser.value(jsonOpt));
        if (out.open(QIODevice::WriteOnly))
            out.write(json);
    }
    nodes.clear();
    if (parser.isSet(checkOpt)) {
        const bool ok = welcomed == n && dropped == 0 && promptFailures == 0 &&
                        (lateNodes == 0 || latePlacedMs >= 0) && int(loaded.size()) == prompts && p99 >= 0 &&
                        p99 <= maxPingMs;
        if (!ok) {
            // The server's log without the simulated volunteers' joins and departures (thousands of lines).
            QStringList lines;
            for (const QString& line : swarm.log(QStringLiteral("server")).split(QLatin1Char('\n')))
                if (!line.contains(QStringLiteral(" left: ")) &&
                    !line.contains(QStringLiteral(" joined from ")))
                    lines << line;
            std::fprintf(
                stderr, "swarm_sim: below the bar\n%s\n",
                qPrintable(lines.mid(std::max<qsizetype>(0, lines.size() - 60)).join(QLatin1Char('\n'))));
            // The real nodes' own view (node0 .. node<real+late-1>): why a late node was not placed.
            for (int i = 0; i < realNodes + lateNodes; ++i)
                std::fprintf(stderr, "--- node%d:\n%s\n", i,
                             qPrintable(swarm.log(QStringLiteral("node%1").arg(i)).right(2000)));
            return 1;
        }
    }
    return 0;
}
