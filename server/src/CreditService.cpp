#include "declai/server/CreditService.h"

#include "declai/core/Identity.h"
#include "declai/credit/PostgresLedgerStore.h"
#include "declai/credit/SqliteLedgerStore.h"
#include "declai/server/PostTo.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QSysInfo>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <limits>
#include <map>

namespace declai::server {

namespace {

// Whether a process with this id exists on this host (EPERM: it exists but belongs to someone else).
bool processExists(int64_t pid) {
    if (pid <= 0 || pid > std::numeric_limits<pid_t>::max())
        return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

int64_t nowMs() {
    return QDateTime::currentMSecsSinceEpoch();
}

} // namespace

std::string currentHostIdentity() {
    const QString pidNamespace = QFileInfo(QStringLiteral("/proc/self/ns/pid")).symLinkTarget();
    return QSysInfo::machineHostName().toStdString() + " boot " + QSysInfo::bootUniqueId().toStdString() +
           " " + QFileInfo(pidNamespace).fileName().toStdString();
}

std::string newGatewayInstanceId() {
    return QByteArray::fromStdString(randomBytes(12)).toHex().toStdString();
}

Expected<std::vector<OrphanedHold>> findOrphanedHolds(credit::Ledger& ledger, const std::string& selfInstance,
                                                      int64_t now, int64_t staleAfterMs) {
    auto holds = ledger.openHolds();
    if (!holds)
        return holds.error();
    auto runs = ledger.instances();
    if (!runs)
        return runs.error();
    return orphanedHoldsOf(std::move(*holds), std::move(*runs), selfInstance, now, staleAfterMs);
}

std::vector<OrphanedHold> orphanedHoldsOf(std::vector<credit::Hold> holds,
                                          std::vector<credit::GatewayInstance> runs,
                                          const std::string& selfInstance, int64_t now,
                                          int64_t staleAfterMs) {
    std::map<std::string, credit::GatewayInstance> byId;
    for (credit::GatewayInstance& run : runs)
        byId[run.id] = std::move(run);
    const std::string host = currentHostIdentity();
    std::vector<OrphanedHold> orphans;
    for (credit::Hold& hold : holds) {
        if (!selfInstance.empty() && hold.instance == selfInstance)
            continue;
        std::string reason;
        auto it = byId.find(hold.instance);
        if (hold.instance.empty() || it == byId.end()) {
            reason = "placed by an unknown gateway run";
        } else {
            const credit::GatewayInstance& run = it->second;
            if (run.stoppedAtMs > 0)
                reason = "its gateway run " + run.id + " stopped";
            else if (now - run.heartbeatMs > staleAfterMs)
                reason = "its gateway run " + run.id + " has not been heard from for " +
                         std::to_string((now - run.heartbeatMs) / 1000) + " s";
            else if (run.host == host && !processExists(run.pid))
                reason = "its gateway run " + run.id + " (process " + std::to_string(run.pid) + ") is gone";
        }
        if (!reason.empty())
            orphans.push_back(OrphanedHold{std::move(hold), std::move(reason)});
    }
    return orphans;
}

BillableTokens billableTokens(const RequestUsage& usage) {
    bool nodesWorked = false;
    for (const NodeWorkShare& w : usage.work)
        nodesWorked = nodesWorked || w.layerTokens > 0;
    const bool billed = usage.generatedTokens > 0 || (usage.end != RequestEnd::Failed && nodesWorked);
    if (!billed)
        return {};
    return BillableTokens{usage.promptTokens, usage.generatedTokens};
}

Expected<std::unique_ptr<credit::Ledger>> openLedger(const CreditConfig& config, const QString& dataDir,
                                                     std::optional<NodeIdentity> signer,
                                                     std::string instanceId) {
    std::unique_ptr<credit::LedgerStore> store;
    if (config.backend == QStringLiteral("postgres")) {
        auto info = credit::PostgresConnectionInfo::parse(config.postgres.toStdString());
        if (!info)
            return info.error();
        auto pg = credit::PostgresLedgerStore::open(*info);
        if (!pg)
            return pg.error();
        store = std::move(*pg);
    } else {
        QDir().mkpath(dataDir);
        auto sqlite =
            credit::SqliteLedgerStore::open(QDir(dataDir).filePath(QStringLiteral("ledger.sqlite")));
        if (!sqlite)
            return sqlite.error();
        store = std::move(*sqlite);
    }
    credit::Ledger::Options options;
    options.identity = std::move(signer);
    options.instanceId = std::move(instanceId);
    return std::make_unique<credit::Ledger>(std::move(store), std::move(options));
}

CreditService::CreditService(CreditConfig config, std::unique_ptr<credit::Ledger> ledger, QObject* parent)
    : QObject(parent), m_config(std::move(config)), m_ledger(std::move(ledger)),
      m_accounts(m_ledger->store()) {
    connect(&m_releaseTimer, &QTimer::timeout, this, &CreditService::housekeeping);
}

Expected<std::string> CreditService::authenticate(const std::string& apiKey) const {
    auto caller = m_accounts.authenticate(apiKey);
    if (!caller)
        return caller.error();
    return caller->account;
}

CreditService::~CreditService() {
    // A clean stop: holds this run still has open (sessions cut short by the shutdown) are orphaned from
    // now on, so the next start releases them and `ledger verify` reports them meanwhile.
    if (m_started)
        if (auto ok = recordInstance(nowMs()); !ok)
            qWarning("recording the gateway stop in the ledger failed: %s", ok.error().message.c_str());
}

Expected<void> CreditService::recordInstance(int64_t stoppedAtMs) {
    m_instance.heartbeatMs = nowMs();
    m_instance.stoppedAtMs = stoppedAtMs;
    return m_ledger->recordInstance(m_instance);
}

Expected<void> CreditService::start() {
    if (m_ledger->instanceId().empty())
        return makeError(ErrorCode::Internal, "the ledger was opened without a gateway instance id");
    m_instance.id = m_ledger->instanceId();
    m_instance.host = currentHostIdentity();
    m_instance.pid = QCoreApplication::applicationPid();
    m_instance.startedAtMs = nowMs();
    if (auto ok = recordInstance(0); !ok)
        return ok.error();
    m_started = true;
    if (auto recovered = recoverOrphanedHolds(); !recovered)
        return recovered.error();
    // Nodes that earned before a restart: their lots mature on this run's timer, not only on new work.
    if (auto ok = refreshNodesWithPending(); !ok)
        return ok.error();
    releaseMatured();
    const int64_t releaseEveryMs = std::clamp<int64_t>(m_config.verificationWindowMs / 4, 200, 60000);
    m_releaseTimer.start(
        static_cast<int>(std::min(releaseEveryMs, std::max<int64_t>(m_config.heartbeatMs, 200))));
    return {};
}

void CreditService::housekeeping() {
    // Nothing here is waited for; a slow ledger makes rounds rarer, never the event loop slower.
    if (m_housekeeping)
        return;
    m_housekeeping = true;
    auto matured = [this] {
        releaseMaturedThen();
        afterQueuedWork([this] { m_housekeeping = false; });
    };
    // The timer may tick faster than the heartbeat (short verification windows): beat at its own pace.
    if (nowMs() - m_instance.heartbeatMs < m_config.heartbeatMs)
        return matured();
    m_instance.heartbeatMs = nowMs();
    m_instance.stoppedAtMs = 0;
    m_ledger->store().writeThen<bool>(
        [instance = m_instance](credit::LedgerSession& session) -> Expected<bool> {
            if (auto ok = session.upsertInstance(instance); !ok)
                return ok.error();
            return true;
        },
        postTo<bool>(this, [](Expected<bool> ok) {
            if (!ok)
                qWarning("ledger heartbeat failed: %s", ok.error().message.c_str());
        }));
    // Other gateways on the same ledger may have stopped or died with earnings of their nodes still
    // pending: any live gateway releases them when they mature (closing a lot twice is impossible, the
    // release runs under the ledger's write lock).
    recoverOrphanedHoldsThen([this, matured] { refreshNodesWithPendingThen(matured); });
}

void CreditService::recoverOrphanedHoldsThen(std::function<void()> then) {
    struct Open {
        std::vector<credit::Hold> holds;
        std::vector<credit::GatewayInstance> runs;
    };
    m_ledger->store().readThen<Open>(
        [](credit::LedgerSession& session) -> Expected<Open> {
            auto holds = session.openHolds();
            if (!holds)
                return holds.error();
            auto runs = session.instances();
            if (!runs)
                return runs.error();
            return Open{std::move(*holds), std::move(*runs)};
        },
        postTo<Open>(this, [this, then = std::move(then)](Expected<Open> open) {
            if (!open) {
                qWarning("recovering orphaned holds failed: %s", open.error().message.c_str());
                return then();
            }
            for (OrphanedHold& orphan : orphanedHoldsOf(std::move(open->holds), std::move(open->runs),
                                                        m_instance.id, nowMs(), m_config.instanceStaleMs)) {
                auto release = m_ledger->releaseHoldWork(orphan.hold.id);
                if (!release)
                    continue;
                m_ledger->store().writeThen<credit::TxId>(
                    std::move(*release), postTo<credit::TxId>(this, [orphan](Expected<credit::TxId> tx) {
                        if (!tx)
                            qWarning("releasing orphaned hold %s failed: %s", orphan.hold.id.c_str(),
                                     tx.error().message.c_str());
                        else
                            qWarning("released orphaned hold %s of %s (%lld microcredits): %s",
                                     orphan.hold.id.c_str(), orphan.hold.account.c_str(),
                                     static_cast<long long>(orphan.hold.amount), orphan.reason.c_str());
                    }));
            }
            then();
        }));
}

void CreditService::refreshNodesWithPendingThen(std::function<void()> then) {
    m_ledger->store().readThen<std::map<std::string, credit::Microcredits>>(
        [](credit::LedgerSession& session) { return session.openLotSums(); },
        postTo<std::map<std::string, credit::Microcredits>>(
            this, [this, then = std::move(then)](Expected<std::map<std::string, credit::Microcredits>> lots) {
                if (!lots) {
                    qWarning("reading pending earnings failed: %s", lots.error().message.c_str());
                    return then();
                }
                // Replaced, not merged (as refreshNodesWithPending).
                m_nodesWithPending.clear();
                for (const auto& [node, amount] : *lots)
                    m_nodesWithPending.insert(node);
                then();
            }));
}

void CreditService::releaseMaturedThen() {
    const int64_t cutoff = QDateTime::currentMSecsSinceEpoch() - m_config.verificationWindowMs;
    for (const std::string& node : m_nodesWithPending)
        m_ledger->store().writeThen<credit::PendingReleaseResult>(
            m_ledger->releasePendingWork(node, cutoff),
            postTo<credit::PendingReleaseResult>(
                this, [node](Expected<credit::PendingReleaseResult> released) {
                    if (!released)
                        qWarning("releasing pending credit of %s failed: %s", node.c_str(),
                                 released.error().message.c_str());
                    else
                        logReleased(node, *released);
                }));
}

Expected<void> CreditService::refreshNodesWithPending() {
    auto lots = m_ledger->store().read<std::map<std::string, credit::Microcredits>>(
        [](credit::LedgerSession& session) { return session.openLotSums(); });
    if (!lots)
        return lots.error();
    // Replaced, not merged: a node without open lots has nothing to release (and the set stays bounded).
    m_nodesWithPending.clear();
    for (const auto& [node, amount] : *lots)
        m_nodesWithPending.insert(node);
    return {};
}

Expected<int> CreditService::recoverOrphanedHolds() {
    auto orphans = findOrphanedHolds(*m_ledger, m_instance.id, nowMs(), m_config.instanceStaleMs);
    if (!orphans)
        return orphans.error();
    int released = 0;
    for (const OrphanedHold& orphan : *orphans) {
        // Nothing of the lost session's progress was recorded, so the user gets the whole hold back and the
        // nodes of that session earn nothing for it (docs/ledger.md, "Recovery on start").
        auto tx = m_ledger->releaseHold(orphan.hold.id);
        if (!tx) {
            qWarning("releasing orphaned hold %s failed: %s", orphan.hold.id.c_str(),
                     tx.error().message.c_str());
            continue;
        }
        ++released;
        qWarning("released orphaned hold %s of %s (%lld microcredits): %s", orphan.hold.id.c_str(),
                 orphan.hold.account.c_str(), static_cast<long long>(orphan.hold.amount),
                 orphan.reason.c_str());
    }
    return released;
}

namespace {

const char* endName(RequestEnd end) {
    return end == RequestEnd::Completed    ? "completed"
           : end == RequestEnd::ClientLeft ? "client left"
                                           : "failed";
}

// The gateway's log line for a closed hold (tests read it).
void logClosed(const std::string& holdId, const RequestUsage& usage, const Charge& charge) {
    if (!charge.billed.any()) {
        qInfo("hold %s (%s): released, nothing charged", holdId.c_str(), endName(usage.end));
        return;
    }
    qInfo("hold %s (%s): charged %lld microcredits for %lld prompt + %lld generated tokens", holdId.c_str(),
          endName(usage.end), static_cast<long long>(charge.cost),
          static_cast<long long>(charge.billed.promptTokens),
          static_cast<long long>(charge.billed.generatedTokens));
}

} // namespace

Expected<Charge> CreditService::closeRequest(const std::string& holdId, int64_t modelParams,
                                             const RequestUsage& usage) {
    // The hold's API-key reservation is settled with it, in the ledger (Ledger::placeHold).
    return closeRequestInLedger(holdId, modelParams, usage);
}

Expected<Charge> CreditService::closeRequestInLedger(const std::string& holdId, int64_t modelParams,
                                                     const RequestUsage& usage) {
    auto work = closeRequestWork(holdId, modelParams, usage);
    if (!work)
        return work.error();
    auto charge = m_ledger->store().write<Charge>(std::move(*work));
    if (!charge)
        return charge.error();
    if (charge->billed.any())
        for (const NodeWorkShare& w : usage.work)
            m_nodesWithPending.insert(credit::nodeAccount(w.nodeId));
    logClosed(holdId, usage, *charge);
    return charge;
}

Expected<credit::LedgerWork<Charge>>
CreditService::closeRequestWork(const std::string& holdId, int64_t modelParams, const RequestUsage& usage) {
    Charge charge;
    charge.billed = billableTokens(usage);
    if (!charge.billed.any()) {
        auto release = m_ledger->releaseHoldWork(holdId);
        if (!release)
            return release.error();
        return credit::LedgerWork<Charge>(
            [release = std::move(*release), charge](credit::LedgerSession& session) -> Expected<Charge> {
                auto tx = release(session);
                if (!tx)
                    return tx.error();
                Charge released = charge;
                released.txId = *tx;
                return released;
            });
    }
    auto cost = credit::actualCost(prices(usage.priceMultiplier), modelParams, charge.billed.promptTokens,
                                   charge.billed.generatedTokens);
    if (!cost)
        return cost.error();
    charge.cost = cost->total;
    std::vector<credit::NodeWork> nodeWork;
    std::vector<std::string> nodeAccounts;
    for (const NodeWorkShare& w : usage.work) {
        nodeAccounts.push_back(credit::nodeAccount(w.nodeId));
        nodeWork.push_back(credit::NodeWork{nodeAccounts.back(), w.layerTokens});
    }
    auto shares = credit::splitByLayerTokens(credit::nodePool(m_config.prices, cost->total), nodeWork);
    if (!shares)
        return shares.error();
    auto settle = m_ledger->settleHoldWork(holdId, cost->total, *shares, "settle:" + holdId);
    if (!settle)
        return settle.error();
    // One transaction: the nodes' accounts (first work of a node) and the settlement.
    return credit::LedgerWork<Charge>([ledger = m_ledger.get(), nodeAccounts, settle = std::move(*settle),
                                       charge](credit::LedgerSession& session) -> Expected<Charge> {
        for (const std::string& account : nodeAccounts)
            if (auto a = credit::ensureAccountIn(session, account, credit::AccountKind::Node, ledger->now());
                !a)
                return a.error();
        auto tx = settle(session);
        if (!tx)
            return tx.error();
        Charge settled = charge;
        settled.txId = *tx;
        return settled;
    });
}

credit::PriceSchedule CreditService::prices(double multiplier) const {
    credit::PriceSchedule p = m_config.prices;
    if (multiplier != 1.0) {
        p.promptPer1kTokens =
            static_cast<credit::Microcredits>(std::llround(p.promptPer1kTokens * multiplier));
        p.generatedPer1kTokens =
            static_cast<credit::Microcredits>(std::llround(p.generatedPer1kTokens * multiplier));
    }
    return p;
}

Expected<credit::Quote> CreditService::quote(int64_t modelParams, int64_t promptTokens, int64_t maxTokens,
                                             double priceMultiplier) const {
    return credit::quote(prices(priceMultiplier), modelParams, promptTokens, maxTokens);
}

Expected<void> CreditService::ensureUser(const std::string& user) {
    if (m_knownUsers.count(user))
        return {};
    if (auto opened = m_ledger->store().write<bool>(openUserWork(user)); !opened)
        return opened.error();
    m_knownUsers.insert(user);
    return {};
}

credit::LedgerWork<bool> CreditService::openUserWork(const std::string& user) const {
    const std::string account = credit::userAccount(user);
    const credit::Microcredits grant = m_config.newAccountGrant;
    const credit::Microcredits dailyLimit = m_config.dailySpendLimit;
    const int64_t now = nowMs();
    // One transaction: the account, the welcome grant its rule allows now, and the daily spend limit. The
    // grant carries the user's name as its idempotency key, so it is paid once, ever, whatever grant later
    // runs are configured with.
    return [user, account, grant, dailyLimit, now](credit::LedgerSession& session) -> Expected<bool> {
        if (auto a = credit::ensureAccountIn(session, account, credit::AccountKind::User, now); !a)
            return a.error();
        if (dailyLimit > 0)
            if (auto l = session.setDailySpendLimit(account, dailyLimit); !l)
                return l.error();
        auto record = session.accountRecords().findUser(user);
        if (!record)
            return record.error();
        // No account record (a caller of this class without accounts, e.g. unit tests): as first use.
        if (record->has_value() && (*record)->welcome != credit::WelcomeRule::FirstUse)
            return false;
        const std::string key = "welcome-grant:" + user;
        auto earlier = session.findTransactionByKey(key);
        if (!earlier)
            return earlier.error();
        if (!earlier->has_value() && grant > 0)
            if (auto tx = session.appendTransaction({key,
                                                     credit::TxKind::Grant,
                                                     "welcome",
                                                     now,
                                                     {{credit::kMintAccount, -grant}, {account, grant}}});
                !tx)
                return tx.error();
        if (record->has_value())
            if (auto ok = session.accountRecords().setWelcome(user, credit::WelcomeRule::Paid, 0); !ok)
                return ok.error();
        return true;
    };
}

Expected<std::string> CreditService::admit(const std::string& user, const std::string& requestId,
                                           credit::Microcredits worstCase, const std::string& keyId) {
    if (auto e = ensureUser(user); !e)
        return e.error();
    // One transaction: the key's spend limit, the balance and the hold (no per-gateway reservation state).
    return m_ledger->placeHold(credit::userAccount(user), worstCase, requestId, keyId);
}

Expected<credit::TxId> CreditService::settle(const std::string& holdId, int64_t modelParams,
                                             int64_t promptTokens, int64_t generatedTokens,
                                             const std::vector<NodeWorkShare>& work, double priceMultiplier) {
    auto cost = credit::actualCost(prices(priceMultiplier), modelParams, promptTokens, generatedTokens);
    if (!cost)
        return cost.error();
    std::vector<credit::NodeWork> nodeWork;
    for (const NodeWorkShare& w : work) {
        const std::string account = credit::nodeAccount(w.nodeId);
        if (auto a = m_ledger->ensureAccount(account, credit::AccountKind::Node); !a)
            return a.error();
        nodeWork.push_back(credit::NodeWork{account, w.layerTokens});
        m_nodesWithPending.insert(account);
    }
    auto shares = credit::splitByLayerTokens(credit::nodePool(m_config.prices, cost->total), nodeWork);
    if (!shares)
        return shares.error();
    return m_ledger->settleHold(holdId, cost->total, *shares, "settle:" + holdId);
}

Expected<credit::TxId> CreditService::refund(const std::string& holdId) {
    return m_ledger->releaseHold(holdId);
}

Expected<credit::PendingReleaseResult> CreditService::voidNode(const std::string& nodeId,
                                                               const std::string& reason) {
    return m_ledger->voidPending(credit::nodeAccount(nodeId), reason);
}

Expected<credit::TxId> CreditService::refundVoidedRequest(const std::string& user, const std::string& holdId,
                                                          credit::Microcredits cost) {
    if (cost <= 0)
        return makeError(ErrorCode::InvalidArgument, "a refund must be positive");
    return m_ledger->grant(credit::userAccount(user), cost, "void-refund:" + holdId);
}

Expected<credit::Balance> CreditService::balanceOfUser(const std::string& user) {
    return m_ledger->balance(credit::userAccount(user));
}

void CreditService::admitThen(const std::string& user, const std::string& requestId,
                              credit::Microcredits worstCase, const std::string& keyId, bool quoteOnly,
                              std::function<void(Expected<Admitted>)> done) {
    auto answer = postTo<Admitted>(this, std::move(done));
    const std::string account = credit::userAccount(user);
    credit::LedgerWork<Admitted> admit;
    if (quoteOnly) {
        admit = [balance = credit::Ledger::balanceWork(account)](
                    credit::LedgerSession& session) -> Expected<Admitted> {
            auto b = balance(session);
            if (!b)
                return b.error();
            return Admitted{{}, b->available};
        };
    } else {
        // One transaction: the key's spend limit, the balance and the hold (Ledger::placeHold), and the
        // balance after it.
        auto hold = m_ledger->placeHoldWork(account, worstCase, requestId, keyId);
        if (!hold)
            return answer(hold.error());
        admit = [hold = std::move(*hold), balance = credit::Ledger::balanceWork(account)](
                    credit::LedgerSession& session) -> Expected<Admitted> {
            auto id = hold(session);
            if (!id)
                return id.error();
            auto b = balance(session);
            if (!b)
                return b.error();
            return Admitted{std::move(*id), b->available};
        };
    }
    auto run = [this, admit = std::move(admit), answer, quoteOnly] {
        if (quoteOnly)
            m_ledger->store().readThen<Admitted>(admit, answer);
        else
            m_ledger->store().writeThen<Admitted>(admit, answer);
    };
    if (m_knownUsers.count(user))
        return run();
    m_ledger->store().writeThen<bool>(openUserWork(user),
                                      postTo<bool>(this, [this, user, run, answer](Expected<bool> opened) {
                                          if (!opened)
                                              return answer(opened.error());
                                          m_knownUsers.insert(user);
                                          run();
                                      }));
}

void CreditService::closeRequestThen(const std::string& holdId, const std::string& user, int64_t modelParams,
                                     const RequestUsage& usage, std::function<void(Expected<Closed>)> done) {
    auto answer =
        postTo<Closed>(this, [this, holdId, usage, done = std::move(done)](Expected<Closed> closed) {
            if (closed) {
                if (closed->charge.billed.any())
                    for (const NodeWorkShare& w : usage.work)
                        m_nodesWithPending.insert(credit::nodeAccount(w.nodeId));
                logClosed(holdId, usage, closed->charge);
            }
            done(std::move(closed));
        });
    auto close = closeRequestWork(holdId, modelParams, usage);
    if (!close)
        return answer(close.error());
    m_ledger->store().writeThen<Closed>(
        [close = std::move(*close), balance = credit::Ledger::balanceWork(credit::userAccount(user))](
            credit::LedgerSession& session) -> Expected<Closed> {
            auto charge = close(session);
            if (!charge)
                return charge.error();
            auto b = balance(session);
            if (!b)
                return b.error();
            return Closed{std::move(*charge), b->available};
        },
        answer);
}

void CreditService::refundThen(const std::string& holdId, std::function<void(Expected<credit::TxId>)> done) {
    auto answer = postTo<credit::TxId>(this, std::move(done));
    auto release = m_ledger->releaseHoldWork(holdId);
    if (!release)
        return answer(release.error());
    m_ledger->store().writeThen<credit::TxId>(std::move(*release), answer);
}

void CreditService::voidNodeThen(const std::string& nodeId, const std::string& reason,
                                 std::function<void(Expected<credit::PendingReleaseResult>)> done) {
    auto answer = postTo<credit::PendingReleaseResult>(this, std::move(done));
    auto voiding = m_ledger->voidPendingWork(credit::nodeAccount(nodeId), reason);
    if (!voiding)
        return answer(voiding.error());
    m_ledger->store().writeThen<credit::PendingReleaseResult>(std::move(*voiding), answer);
}

void CreditService::refundVoidedRequestThen(const std::string& user, const std::string& holdId,
                                            credit::Microcredits cost,
                                            std::function<void(Expected<credit::TxId>)> done) {
    auto answer = postTo<credit::TxId>(this, std::move(done));
    if (cost <= 0)
        return answer(makeError(ErrorCode::InvalidArgument, "a refund must be positive"));
    auto grant = m_ledger->grantWork(credit::userAccount(user), cost, "void-refund:" + holdId);
    if (!grant)
        return answer(grant.error());
    m_ledger->store().writeThen<credit::TxId>(std::move(*grant), answer);
}

void CreditService::afterQueuedWork(std::function<void()> done) {
    m_ledger->store().readThen<bool>(
        [](credit::LedgerSession&) -> Expected<bool> { return true; },
        postTo<bool>(this, [done = std::move(done)](Expected<bool>) { done(); }));
}

void CreditService::releaseMatured() {
    const int64_t cutoff = QDateTime::currentMSecsSinceEpoch() - m_config.verificationWindowMs;
    for (const std::string& node : m_nodesWithPending) {
        auto released = m_ledger->releasePending(node, cutoff);
        if (!released) {
            qWarning("releasing pending credit of %s failed: %s", node.c_str(),
                     released.error().message.c_str());
            continue;
        }
        logReleased(node, *released);
    }
}

void CreditService::logReleased(const std::string& node, const credit::PendingReleaseResult& released) {
    if (released.amount > 0 && released.paidTo != node)
        qInfo("verified earnings of %s (%lld microcredits) paid to its owner %s", node.c_str(),
              static_cast<long long>(released.amount), released.paidTo.c_str());
    if (released.welcomeAmount > 0)
        qInfo("%s: first verified work, welcome grant of %lld microcredits released", released.paidTo.c_str(),
              static_cast<long long>(released.welcomeAmount));
}

} // namespace declai::server
