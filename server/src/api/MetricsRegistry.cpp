#include "MetricsRegistry.h"

#include "declai/network/FrontDoor.h"
#include "declai/server/Orchestrator.h"

namespace declai::server::api {
namespace {

constexpr qint64 kRateWindowMs = 60000;

QByteArray num(double v) {
    return QByteArray::number(v, 'g', 12);
}

QByteArray label(const QString& value) {
    QString v = value;
    v.replace(QLatin1Char('\\'), QStringLiteral("\\\\"))
        .replace(QLatin1Char('"'), QStringLiteral("\\\""))
        .replace(QLatin1Char('\n'), QStringLiteral("\\n"));
    return v.toUtf8();
}

void header(QByteArray& out, const char* name, const char* type, const char* help) {
    out += QByteArray("# HELP ") + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n';
}

void single(QByteArray& out, const char* name, const char* type, const char* help, double value) {
    header(out, name, type, help);
    out += QByteArray(name) + ' ' + num(value) + '\n';
}

} // namespace

void Histogram::observe(double value) {
    ++m_count;
    m_sum += value;
    for (size_t i = 0; i < m_bounds.size(); ++i)
        if (value <= m_bounds[i]) {
            ++m_counts[i];
            break;
        }
}

void Histogram::render(QByteArray& out, const char* name, const char* help) const {
    header(out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < m_bounds.size(); ++i) {
        cumulative += m_counts[i];
        out += QByteArray(name) + "_bucket{le=\"" + num(m_bounds[i]) + "\"} " +
               QByteArray::number(cumulative) + '\n';
    }
    out += QByteArray(name) + "_bucket{le=\"+Inf\"} " + QByteArray::number(m_count) + '\n';
    out += QByteArray(name) + "_sum " + num(m_sum) + '\n';
    out += QByteArray(name) + "_count " + QByteArray::number(m_count) + '\n';
}

MetricsRegistry::MetricsRegistry()
    : m_ttft({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      m_perToken({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {
    m_clock.start();
}

void MetricsRegistry::requestEnded(const SubmitEnd& end) {
    const SessionStats& s = end.stats;
    const QString outcome = !end.failed   ? QStringLiteral("completed")
                            : s.cancelled ? QStringLiteral("cancelled")
                                          : QStringLiteral("failed");
    ++m_ended[{outcome, end.failed ? QString() : QString::fromStdString(end.reason)}];
    m_tokens += s.generatedTokens;
    if (s.generatedTokens > 0) {
        m_recentTokens.emplace_back(m_clock.elapsed(), s.generatedTokens);
        if (s.timeToFirstTokenMs >= 0) {
            m_ttft.observe(static_cast<double>(s.timeToFirstTokenMs) / 1000.0);
            if (s.generatedTokens > 1)
                m_perToken.observe(static_cast<double>(s.totalMs - s.timeToFirstTokenMs) / 1000.0 /
                                   static_cast<double>(s.generatedTokens - 1));
        }
    }
}

void MetricsRegistry::httpAnswered(const QString& route, int status) {
    ++m_http[{route, status}];
}

double MetricsRegistry::tokensPerSecond() {
    const qint64 now = m_clock.elapsed();
    while (!m_recentTokens.empty() && m_recentTokens.front().first < now - kRateWindowMs)
        m_recentTokens.pop_front();
    uint64_t tokens = 0;
    for (const auto& [ms, n] : m_recentTokens)
        tokens += n;
    const double windowS =
        static_cast<double>(std::min<qint64>(std::max<qint64>(now, 1), kRateWindowMs)) / 1000.0;
    return static_cast<double>(tokens) / windowS;
}

QByteArray MetricsRegistry::render(const Orchestrator& o, const std::vector<const net::FrontDoor*>& doors) {
    QByteArray out;
    const OrchestratorStats& st = o.stats();
    single(out, "declai_nodes_connected", "gauge", "Volunteer nodes connected to this gateway.",
           static_cast<double>(o.nodeCount()));
    single(out, "declai_clients_connected", "gauge", "WebSocket clients (declai-cli) connected.",
           static_cast<double>(o.clientCount()));
    single(out, "declai_sessions_active", "gauge", "Generation sessions running.",
           static_cast<double>(o.activeSessionCount()));
    single(out, "declai_admissions_waiting", "gauge",
           "Requests whose credit hold the ledger is still placing (a slow ledger shows here; the gateway "
           "serves on).",
           static_cast<double>(o.admissionsInFlight()));
    header(out, "declai_queue_depth", "gauge", "Requests waiting for a session slot, by priority.");
    for (const auto& [p, name] : {std::pair{Priority::Low, "low"}, std::pair{Priority::Normal, "normal"},
                                  std::pair{Priority::High, "high"}})
        out += QByteArray("declai_queue_depth{priority=\"") + name + "\"} " +
               QByteArray::number(static_cast<qulonglong>(o.queuedCount(p))) + '\n';
    single(out, "declai_stage_requests_in_flight", "gauge",
           "Stage requests sent to nodes and not yet answered (a node batches those it holds).",
           static_cast<double>(o.stageDispatcher().inFlightTotal()));
    single(out, "declai_stage_requests_waiting", "gauge",
           "Stage requests waiting at the gateway for a slot at their node (fair share between accounts).",
           static_cast<double>(o.stageDispatcher().waitingTotal()));
    single(out, "declai_stage_batch_frames_total", "counter",
           "StageBatch frames sent to nodes (several sessions' stage requests in one frame).",
           static_cast<double>(o.stageOutbox().batchFramesSent()));
    single(out, "declai_stage_batched_requests_total", "counter",
           "Stage requests sent inside StageBatch frames (divided by the frames: the mean batch size).",
           static_cast<double>(o.stageOutbox().requestsInBatches()));
    single(out, "declai_tokens_generated_total", "counter", "Tokens generated (all requests, any end).",
           static_cast<double>(m_tokens));
    single(out, "declai_tokens_per_second", "gauge", "Tokens generated per second over the last minute.",
           tokensPerSecond());
    header(out, "declai_requests_ended_total", "counter",
           "Generation requests by outcome and finish reason.");
    for (const auto& [key, n] : m_ended)
        out += "declai_requests_ended_total{outcome=\"" + label(key.first) + "\",finish_reason=\"" +
               label(key.second) + "\"} " + QByteArray::number(static_cast<qulonglong>(n)) + '\n';
    m_ttft.render(out, "declai_time_to_first_token_seconds",
                  "Time from start of a session to its first token.");
    m_perToken.render(out, "declai_token_latency_seconds",
                      "Mean time per token after the first, one observation per request.");
    header(out, "declai_ledger_postings_total", "counter", "Request holds closed in the ledger, by kind.");
    out += "declai_ledger_postings_total{kind=\"settle\"} " +
           QByteArray::number(static_cast<qulonglong>(o.billing().settlements())) + '\n';
    out += "declai_ledger_postings_total{kind=\"release\"} " +
           QByteArray::number(static_cast<qulonglong>(o.billing().releases())) + '\n';
    header(out, "declai_verifications_total", "counter", "Sampled re-computations of node work, by outcome.");
    out += "declai_verifications_total{outcome=\"passed\"} " +
           QByteArray::number(static_cast<qulonglong>(st.verificationsPassed)) + '\n';
    out += "declai_verifications_total{outcome=\"failed\"} " +
           QByteArray::number(static_cast<qulonglong>(st.verificationsFailed)) + '\n';
    out += "declai_verifications_total{outcome=\"skipped\"} " +
           QByteArray::number(static_cast<qulonglong>(st.verificationsSkipped)) + '\n';
    single(out, "declai_nodes_quarantined_total", "counter", "Nodes cut off for failing verification.",
           static_cast<double>(st.cheatersQuarantined));
    single(out, "declai_relayed_bytes_total", "counter",
           "Hidden-state bytes the gateway sent to nodes (completed sessions).",
           static_cast<double>(st.hiddenBytesSent));
    single(out, "declai_stage_hops_total", "counter", "Stage requests sent to nodes (completed sessions).",
           static_cast<double>(st.stageHops));
    single(out, "declai_failovers_total", "counter", "Sessions re-routed after a node failed.",
           static_cast<double>(st.failovers));
    int open = 0;
    uint64_t accepted = 0;
    for (const net::FrontDoor* d : doors)
        if (d) {
            const net::FrontDoorStats s = d->stats();
            open += s.open;
            accepted += s.accepted;
        }
    single(out, "declai_connections_open", "gauge", "Open TCP connections on the gateway's listeners.", open);
    single(out, "declai_connections_accepted_total", "counter", "Connections accepted.",
           static_cast<double>(accepted));
    header(out, "declai_http_responses_total", "counter", "HTTP API answers by route and status.");
    for (const auto& [key, n] : m_http)
        out += "declai_http_responses_total{route=\"" + label(key.first) + "\",status=\"" +
               QByteArray::number(key.second) + "\"} " + QByteArray::number(static_cast<qulonglong>(n)) +
               '\n';
    return out;
}

} // namespace declai::server::api
