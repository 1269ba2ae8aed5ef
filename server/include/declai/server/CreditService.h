// The server's side of credits: who a client is (API key), what a request may cost (quote), admission (a
// hold for the worst case: prompt + max tokens), settlement at the end (the real cost; nodes earn in
// proportion to the layer-tokens they computed, pending until the verification window passes), refunds
// on failure, and voiding a cheater's pending earnings. Policies are documented in docs/ledger.md.
// It also keeps the books from getting stuck: it records this gateway run in the ledger (start, heartbeat,
// clean stop), releases holds left open by runs that died, and releases matured node earnings on a timer,
// also for nodes that earned before a restart.
// Threading: main thread. The gateway's event loop uses the *Then forms only: they queue their work on the
// ledger's store thread and return at once; their callback runs later on the main thread (never inside the
// call). The blocking forms wait for the store thread (with PostgreSQL a network round trip and a commit):
// they are for operator tools, start-up and tests, never for a request on the gateway's event loop.
#pragma once

#include "declai/credit/AccountStore.h"
#include "declai/credit/Ledger.h"
#include "declai/credit/Pricing.h"

#include <QObject>
#include <QTimer>
#include <map>
#include <memory>
#include <set>

namespace declai::server {

struct CreditConfig {
    bool enabled = true;
    QString backend = QStringLiteral("sqlite"); // or "postgres"
    QString postgres;                           // "host=... port=... user=... dbname=..."
    credit::Microcredits newAccountGrant = 100 * credit::kMicrocreditsPerCredit;
    credit::Microcredits dailySpendLimit = 0; // per user; 0 = none
    credit::PriceSchedule prices;
    int64_t verificationWindowMs = 10 * 60 * 1000;
    double highPriorityPriceMultiplier = 2.0; // priority=high pays this times the normal price
    // This run's heartbeat in the ledger, and how old another run's heartbeat may be before its open holds
    // count as orphaned (a run on this host whose process is gone counts as dead at once).
    int64_t heartbeatMs = 10 * 1000;
    int64_t instanceStaleMs = 60 * 1000;
    // Self-registration (POST /v1/accounts): off unless the operator allows it. Its welcome grant is held
    // until a node bound to the new account has verified work, so fresh identities cannot farm it.
    bool allowRegistration = false;
    credit::Microcredits registrationGrant = 0;
    int registrationsPerAddressPerHour = 3;
    // A node's signed binding message must be this close to the gateway's clock.
    int64_t bindingMaxSkewMs = 5 * 60 * 1000;
};

// Opens the configured ledger store (SQLite at DATA_DIR/ledger.sqlite by default). instanceId names the
// gateway run that will place holds through it ("" for operator tools, which place none).
Expected<std::unique_ptr<credit::Ledger>> openLedger(const CreditConfig& config, const QString& dataDir,
                                                     std::optional<NodeIdentity> signer,
                                                     std::string instanceId = {});

// A fresh id for one gateway run.
std::string newGatewayInstanceId();
// Where a process id names the same process: host name, boot id and pid namespace (two containers may share
// a host name, never a pid namespace). Recorded with each gateway run.
std::string currentHostIdentity();

// An open hold that no live gateway run owns, and why.
struct OrphanedHold {
    credit::Hold hold;
    std::string reason;
};
// A hold is live only while the run that placed it is: not stopped, its heartbeat younger than staleAfterMs,
// and, when it ran on this host, its process still exists. Holds of selfInstance (the caller's own run)
// are always live. Operator tools pass selfInstance "" and see every dead run's holds.
Expected<std::vector<OrphanedHold>> findOrphanedHolds(credit::Ledger& ledger, const std::string& selfInstance,
                                                      int64_t nowMs, int64_t staleAfterMs);
// The same rule on open holds and gateway runs already read.
std::vector<OrphanedHold> orphanedHoldsOf(std::vector<credit::Hold> holds,
                                          std::vector<credit::GatewayInstance> runs,
                                          const std::string& selfInstance, int64_t nowMs,
                                          int64_t staleAfterMs);

struct NodeWorkShare {
    std::string nodeId;
    int64_t layerTokens = 0;
};

// How a request ended, and what it used: decides what is charged (billableTokens, docs/ledger.md).
enum class RequestEnd {
    Completed,  // finished (stop token or max tokens)
    ClientLeft, // the client disconnected or cancelled
    Failed,     // the swarm or the gateway could not go on
};
struct RequestUsage {
    RequestEnd end = RequestEnd::Completed;
    int64_t promptTokens = 0;
    int64_t generatedTokens = 0;     // tokens sampled and sent to the client
    std::vector<NodeWorkShare> work; // accepted node work (layers x tokens)
    double priceMultiplier = 1.0;    // the request's priority price (high priority costs more)
};
struct BillableTokens {
    int64_t promptTokens = 0;
    int64_t generatedTokens = 0;
    bool any() const { return promptTokens > 0 || generatedTokens > 0; }
};
// The charging rule for every end path: generated tokens the client received are always charged, together
// with the prompt they came from; the prompt alone is charged when nodes processed it and the client ended
// the request (completed or left), never when the swarm failed before the first token. Nothing is charged
// for work that never ran.
BillableTokens billableTokens(const RequestUsage& usage);

struct Charge {
    credit::Microcredits cost = 0;
    BillableTokens billed;
    credit::TxId txId = 0;
};

// An admission as the ledger answered it (CreditService::admitThen).
struct Admitted {
    std::string holdId;                 // empty for a quote
    credit::Microcredits available = 0; // the user's available balance after the hold
};
// A closed request (CreditService::closeRequestThen).
struct Closed {
    Charge charge;
    credit::Microcredits available = 0; // the user's available balance after it
};

class CreditService : public QObject {
    Q_OBJECT

public:
    CreditService(CreditConfig config, std::unique_ptr<credit::Ledger> ledger, QObject* parent = nullptr);
    ~CreditService() override;

    bool enabled() const { return m_config.enabled; }
    const CreditConfig& config() const { return m_config; }
    credit::Ledger& ledger() { return *m_ledger; }
    // Accounts, keys and node bindings, in the same database as the ledger.
    credit::AccountStore& accounts() const { return m_accounts; } // the store is thread-safe
    // The account a key belongs to. Blocks on the store thread (a read); the gateway's handshake uses
    // accounts().authenticateThen instead.
    Expected<std::string> authenticate(const std::string& apiKey) const;

    // Opens the user's ledger account on first use (idempotent) and pays the welcome grant its account's
    // rule allows now: the configured grant for operator-made and migrated accounts (once, ever), nothing
    // for self-registered ones (theirs waits for the first verified work of a bound node).
    Expected<void> ensureUser(const std::string& user);
    // priceMultiplier scales the per-token prices (high priority costs more).
    Expected<credit::Quote> quote(int64_t modelParams, int64_t promptTokens, int64_t maxTokens,
                                  double priceMultiplier = 1.0) const;
    // Places the worst-case hold; fails with "insufficient credits ..." and changes nothing when short.
    // keyId: the API key the request came with; worstCase is reserved against its spend limit until the
    // request closes.
    Expected<std::string> admit(const std::string& user, const std::string& requestId,
                                credit::Microcredits worstCase, const std::string& keyId = {});
    // Records this run in the ledger, releases holds of dead runs and matured earnings (also of nodes that
    // earned before a restart), and starts the heartbeat/release timer. Call once, before serving.
    Expected<void> start();
    // Closes a request's hold on any end path: settles what billableTokens(usage) says (nodes share the node
    // pool by the work they did) or, when nothing is billable, releases the whole hold.
    Expected<Charge> closeRequest(const std::string& holdId, int64_t modelParams, const RequestUsage& usage);
    // Posts the real cost and releases the rest of the hold.
    Expected<credit::TxId> settle(const std::string& holdId, int64_t modelParams, int64_t promptTokens,
                                  int64_t generatedTokens, const std::vector<NodeWorkShare>& work,
                                  double priceMultiplier = 1.0);
    Expected<credit::TxId> refund(const std::string& holdId);
    // Releases every open hold whose run is dead (see findOrphanedHolds); returns how many.
    Expected<int> recoverOrphanedHolds();
    Expected<credit::PendingReleaseResult> voidNode(const std::string& nodeId, const std::string& reason);
    // Verification voided work a settled request depended on: the user gets its cost back (from
    // system:mint, since the voided node earnings were burned). Idempotent per hold.
    Expected<credit::TxId> refundVoidedRequest(const std::string& user, const std::string& holdId,
                                               credit::Microcredits cost);
    Expected<credit::Balance> balanceOfUser(const std::string& user);

    // The non-blocking forms (the gateway's request path). Each returns at once; `done` runs exactly once,
    // later, on this object's (the main) thread, and not at all when this CreditService is destroyed first
    // (its holds are then recovered as orphans on the next start, docs/ledger.md).
    // Opens the user's account on first use (ensureUser), then in one transaction places the worst-case hold
    // under requestId (against keyId's spend limit) and reads the available balance after it. quoteOnly: no
    // hold, only the balance. runs on: main thread.
    void admitThen(const std::string& user, const std::string& requestId, credit::Microcredits worstCase,
                   const std::string& keyId, bool quoteOnly, std::function<void(Expected<Admitted>)> done);
    // closeRequest and the user's available balance after it, in one transaction. runs on: main thread.
    void closeRequestThen(const std::string& holdId, const std::string& user, int64_t modelParams,
                          const RequestUsage& usage, std::function<void(Expected<Closed>)> done);
    // refund (the whole hold back). runs on: main thread.
    void refundThen(const std::string& holdId, std::function<void(Expected<credit::TxId>)> done);
    // voidNode. runs on: main thread.
    void voidNodeThen(const std::string& nodeId, const std::string& reason,
                      std::function<void(Expected<credit::PendingReleaseResult>)> done);
    // refundVoidedRequest. runs on: main thread.
    void refundVoidedRequestThen(const std::string& user, const std::string& holdId,
                                 credit::Microcredits cost, std::function<void(Expected<credit::TxId>)> done);
    // Runs `done` after every ledger job queued before it has finished (the store runs jobs in order), so
    // callbacks of those jobs have run too. runs on: main thread.
    void afterQueuedWork(std::function<void()> done);

private:
    // The account and welcome grant of ensureUser as one write job (also sets the daily spend limit).
    credit::LedgerWork<bool> openUserWork(const std::string& user) const;
    // What closing a hold does in the ledger, as one write job (closeRequestInLedger's steps).
    Expected<credit::LedgerWork<Charge>> closeRequestWork(const std::string& holdId, int64_t modelParams,
                                                          const RequestUsage& usage);

    credit::PriceSchedule prices(double multiplier) const;
    Expected<Charge> closeRequestInLedger(const std::string& holdId, int64_t modelParams,
                                          const RequestUsage& usage);
    void releaseMatured(); // pending earnings older than the verification window become available
    // Logs one node's released earnings.
    static void logReleased(const std::string& node, const credit::PendingReleaseResult& released);
    // The release set becomes every node with open pending lots in the ledger (earned through any gateway).
    Expected<void> refreshNodesWithPending();
    // Timer, main thread: heartbeat, orphaned holds, matured earnings. Queued on the store thread, never
    // waited for; a round starts only when the previous one is through the queue.
    void housekeeping();
    void recoverOrphanedHoldsThen(std::function<void()> then);    // queued; then: main thread
    void refreshNodesWithPendingThen(std::function<void()> then); // queued; then: main thread
    void releaseMaturedThen();                                    // queued
    Expected<void> recordInstance(int64_t stoppedAtMs);

    CreditConfig m_config;
    std::unique_ptr<credit::Ledger> m_ledger;
    mutable credit::AccountStore m_accounts;
    std::set<std::string> m_nodesWithPending;
    std::set<std::string> m_knownUsers; // accounts opened (and granted) during this run
    QTimer m_releaseTimer;
    credit::GatewayInstance m_instance;
    bool m_started = false;
    bool m_housekeeping = false; // a housekeeping round is in the ledger's queue
};

} // namespace declai::server
