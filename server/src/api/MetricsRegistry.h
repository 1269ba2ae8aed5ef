// What GET /metrics reports, in Prometheus' text exposition format (version 0.0.4). Counters and histograms
// that only the API sees live here (requests by route and status, time to first token, per-token latency);
// gauges of the swarm (nodes, sessions, queue) are read from the Orchestrator when scraped.
// Threading: gateway thread only.
#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QString>
#include <deque>
#include <map>
#include <utility>
#include <vector>

namespace declai::server {
class Orchestrator;
struct SubmitEnd;
} // namespace declai::server

namespace declai::net {
class FrontDoor;
}

namespace declai::server::api {

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds) : m_bounds(std::move(bounds)), m_counts(m_bounds.size()) {}
    void observe(double value);
    // Appends the _bucket, _sum and _count lines of `name`.
    void render(QByteArray& out, const char* name, const char* help) const;

private:
    std::vector<double> m_bounds;
    std::vector<uint64_t> m_counts; // per bucket, not cumulative
    uint64_t m_count = 0;
    double m_sum = 0;
};

class MetricsRegistry {
public:
    MetricsRegistry();

    // Every generation's end (WebSocket and HTTP alike): Orchestrator::setSessionEndObserver.
    void requestEnded(const SubmitEnd& end);
    // Every HTTP API answer: route is the path pattern (never the raw URL: bounded label values).
    void httpAnswered(const QString& route, int status);

    QByteArray render(const Orchestrator& orchestrator, const std::vector<const net::FrontDoor*>& doors);

private:
    double tokensPerSecond(); // over the last minute of finished requests

    Histogram m_ttft;
    Histogram m_perToken;
    std::map<std::pair<QString, QString>, uint64_t> m_ended; // (outcome, finish reason) -> requests
    std::map<std::pair<QString, int>, uint64_t> m_http;      // (route, status) -> answers
    std::deque<std::pair<qint64, uint64_t>> m_recentTokens;  // (ms, tokens) of requests ended lately
    uint64_t m_tokens = 0; // every generated token (completed, failed or cancelled requests)
    QElapsedTimer m_clock;
};

} // namespace declai::server::api
