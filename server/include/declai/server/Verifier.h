// Proof of inference by sampled re-execution. When a session ends, the gateway decides for each stage, with
// the serving node's current probability, whether to check it; a check recomputes that node's layers for the
// whole session in one batched prefill on the gateway's own CPU (trusted: it holds the full model file) and
// compares every row the node returned. One batched replay checks every step at once, at prefill speed. The
// probability starts high for new nodes and falls as a node builds a record of consecutive valid checks
// (BOINC-style adaptive replication), never below a floor. A mismatch marks the node as a cheater: the
// orchestrator voids its pending credit, cuts its reputation and quarantines it. Threading: the policy
// (shouldCheck/record) runs on the main thread; the recomputation runs on the Verifier's own thread and
// reports back with a queued signal.
#pragma once

#include "declai/gpu/ModelWeights.h"
#include "declai/gpu/ShardExecutor.h"
#include "declai/gpu/ThreadPool.h"
#include "declai/server/VerificationPolicy.h"

#include <QObject>
#include <QThread>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace declai::server {

struct NodeRecord {
    uint64_t checks = 0;
    uint64_t passed = 0;
    uint64_t failed = 0;
    uint64_t consecutiveValid = 0;
    double reputation = 1.0; // 0..1
    bool quarantined = false;
};

struct VerificationJob {
    uint64_t jobId = 0;
    std::string nodeId;
    std::shared_ptr<const ModelWeights> weights;
    LayerRange layers;
    std::vector<float> history; // every input row the stage has seen, the checked step's rows last
    int64_t rows = 0;
    int64_t promptTokens = 0; // the session's prompt length: its rows round as the node's did (BatchPart)
    int64_t promptChunkTokens = 0; // the gateway's prefill chunk (BatchPart::promptChunkTokens)
    std::vector<float> claimed;    // rows the node returned, one per entry of claimedPositions
    // Positions (row indices of the stage's output) of the claimed rows; empty = the last rows.
    std::vector<int64_t> claimedPositions;
};

struct VerificationResult {
    uint64_t jobId = 0;
    std::string nodeId;
    bool valid = false;
    double cosine = 0;
    double normalizedError = 0;
    qint64 computeUs = 0;
    std::string error; // the check itself could not run (not the node's fault)
};

// Compares claimed rows with recomputed ones under the policy's tolerance.
VerificationResult compareRows(const std::vector<float>& reference, const std::vector<float>& claimed,
                               const VerificationPolicy& policy);

class VerifierWorker : public QObject {
    Q_OBJECT
public:
    explicit VerifierWorker(int threads, VerificationPolicy policy);
public Q_SLOTS:
    void run(std::shared_ptr<declai::server::VerificationJob> job);
Q_SIGNALS:
    void done(declai::server::VerificationResult result);

private:
    int m_threads;
    VerificationPolicy m_policy;
    std::unique_ptr<ThreadPool> m_pool;
};

class Verifier : public QObject {
    Q_OBJECT
public:
    Verifier(VerificationPolicy policy, int threads, uint64_t seed, QObject* parent = nullptr);
    ~Verifier() override;

    const VerificationPolicy& policy() const { return m_policy; }
    double rateFor(const std::string& nodeId) const;
    bool shouldCheck(const std::string& nodeId); // draws with the node's current rate
    void submit(std::shared_ptr<VerificationJob> job);
    // Applies a result to the node's record; true when the node is (now) a cheater.
    bool record(const VerificationResult& result);
    const NodeRecord& recordOf(const std::string& nodeId) { return m_records[nodeId]; }
    uint64_t pendingJobs() const { return m_pending; }
    uint64_t totalCheckUs() const { return m_totalCheckUs; }

Q_SIGNALS:
    void finished(const declai::server::VerificationResult& result);

private:
    VerificationPolicy m_policy;
    QThread m_thread;
    VerifierWorker* m_worker;
    std::map<std::string, NodeRecord> m_records;
    std::mt19937_64 m_rng;
    uint64_t m_pending = 0;
    uint64_t m_totalCheckUs = 0;
};

} // namespace declai::server

Q_DECLARE_METATYPE(declai::server::VerificationResult)
