#include "declai/server/Verifier.h"

#include "declai/core/ThreadPriority.h"

#include <QElapsedTimer>
#include <algorithm>
#include <cmath>

namespace declai::server {

VerificationResult compareRows(const std::vector<float>& reference, const std::vector<float>& claimed,
                               const VerificationPolicy& policy) {
    VerificationResult r;
    if (reference.size() != claimed.size() || reference.empty()) {
        r.valid = false;
        r.error = "shape mismatch";
        return r;
    }
    double dot = 0, na = 0, nb = 0, maxRef = 0, maxErr = 0;
    for (size_t i = 0; i < reference.size(); ++i) {
        const double a = reference[i], b = claimed[i];
        dot += a * b;
        na += a * a;
        nb += b * b;
        maxRef = std::max(maxRef, std::fabs(a));
        maxErr = std::max(maxErr, std::fabs(a - b));
    }
    r.cosine = (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
    r.normalizedError = maxRef > 0 ? maxErr / maxRef : maxErr;
    r.valid = r.cosine >= policy.minCosine && r.normalizedError <= policy.maxNormalizedError;
    return r;
}

VerifierWorker::VerifierWorker(int threads, VerificationPolicy policy)
    : m_threads(threads), m_policy(policy) {}

void VerifierWorker::run(std::shared_ptr<VerificationJob> job) {
    if (!m_pool)
        m_pool = std::make_unique<ThreadPool>(m_threads); // created and used on this thread only
    QElapsedTimer clock;
    clock.start();
    VerificationResult result;
    auto executor = ShardExecutor::create(job->weights, job->layers, *m_pool);
    if (!executor) {
        result.error = executor.error().message;
    } else {
        const int64_t dim = (*executor)->hiddenSize();
        std::vector<float> rows = job->history;
        // A throwaway session: recompute every position, as a failover replay would.
        const BatchPart replay{1, 0, rows, job->rows, job->promptTokens, job->promptChunkTokens};
        if (auto r = std::move((*executor)->forwardBatch(std::span<const BatchPart>(&replay, 1)).front());
            !r) {
            result.error = r.error().message;
        } else {
            const size_t claimedValues = job->claimed.size();
            const auto udim = static_cast<size_t>(dim);
            std::vector<float> reference;
            bool fits = claimedValues > 0 && claimedValues % udim == 0 && claimedValues <= rows.size();
            if (fits && job->claimedPositions.empty()) {
                reference.assign(rows.end() - static_cast<std::ptrdiff_t>(claimedValues), rows.end());
            } else if (fits) {
                fits = job->claimedPositions.size() * udim == claimedValues;
                for (size_t i = 0; fits && i < job->claimedPositions.size(); ++i) {
                    const int64_t pos = job->claimedPositions[i];
                    fits = pos >= 0 && pos < job->rows;
                    if (fits)
                        reference.insert(reference.end(), rows.begin() + pos * dim,
                                         rows.begin() + (pos + 1) * dim);
                }
            }
            if (!fits)
                result.error = "claimed rows do not fit the stage";
            else
                result = compareRows(reference, job->claimed, m_policy);
        }
    }
    result.jobId = job->jobId;
    result.nodeId = job->nodeId;
    result.computeUs = clock.nsecsElapsed() / 1000;
    Q_EMIT done(result);
}

Verifier::Verifier(VerificationPolicy policy, int threads, uint64_t seed, QObject* parent)
    : QObject(parent), m_policy(policy), m_rng(seed) {
    qRegisterMetaType<VerificationResult>();
    m_worker = new VerifierWorker(threads, policy);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &VerifierWorker::done, this, [this](const VerificationResult& result) {
        if (m_pending > 0)
            --m_pending;
        m_totalCheckUs += static_cast<uint64_t>(result.computeUs);
        Q_EMIT finished(result);
    });
    m_thread.setObjectName(QStringLiteral("declai-verifier"));
    m_thread.start();
    // Checks are background work: on a gateway whose CPU is busy they wait for the relaying and the
    // sessions' own computing (and, where nodes share the machine, for those) instead of competing.
    QMetaObject::invokeMethod(
        m_worker, [] { lowerCurrentThreadPriority(10); }, Qt::QueuedConnection);
}

Verifier::~Verifier() {
    m_thread.quit();
    m_thread.wait();
}

double Verifier::rateFor(const std::string& nodeId) const {
    auto it = m_records.find(nodeId);
    const double valid = it == m_records.end() ? 0.0 : static_cast<double>(it->second.consecutiveValid);
    return std::max(m_policy.floorRate, m_policy.initialRate / (1.0 + valid / m_policy.recordScale));
}

bool Verifier::shouldCheck(const std::string& nodeId) {
    const double unit = static_cast<double>(m_rng() >> 11) * 0x1.0p-53;
    return unit < rateFor(nodeId);
}

void Verifier::submit(std::shared_ptr<VerificationJob> job) {
    ++m_pending;
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, job = std::move(job)]() mutable { worker->run(std::move(job)); },
        Qt::QueuedConnection); // runs on the verifier thread
}

bool Verifier::record(const VerificationResult& result) {
    NodeRecord& r = m_records[result.nodeId];
    if (!result.error.empty())
        return r.quarantined; // the check could not run: no verdict either way
    ++r.checks;
    if (result.valid) {
        ++r.passed;
        ++r.consecutiveValid;
        r.reputation = std::min(1.0, r.reputation + 0.01);
    } else {
        ++r.failed;
        r.consecutiveValid = 0;
        r.reputation = std::max(0.0, r.reputation * 0.25);
        r.quarantined = true;
    }
    return r.quarantined;
}

} // namespace declai::server
