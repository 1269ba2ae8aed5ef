// declai-node's settings, from its command line. Errors are values; nothing here exits the process.
#pragma once

#include "declai/core/Error.h"
#include "declai/network/TlsSetup.h"

#include <QString>
#include <QStringList>
#include <QUrl>

namespace declai::node {

struct NodeConfig {
    QUrl serverUrl; // wss://host:port (ws:// only with --insecure-dev)
    QString dataDir;
    net::ClientTlsOptions tls;
    QString device = QStringLiteral("cpu");
    int threads = 0;                // 0 = all cores
    uint64_t memoryBudgetBytes = 0; // 0 = half of physical memory
    uint64_t diskBudgetBytes = 20ull << 30;
    int maxSessions = 16;
    int sessionIdleTimeoutMs = 300000;
    int statusIntervalMs = 10000;
    int drainGraceMs = 30000; // on SIGTERM: finish sessions for at most this long, then leave
    int stageDelayMs = 0;     // testing aid: sleep before each stage (simulates a slow node)
    bool prefault = false;    // read a shard's weight pages in when it is loaded, not on first use
    // Testing aid for the verification tests, never for real use: "random" (random output), "skip"
    // (returns its input unchanged), "stale" (replays its previous answer), "sometimes" (wrong on 5% of
    // stages). Empty = honest.
    QString testCheat;
    // An account API key (--account-key, or read from --account-key-file): the node binds itself to that
    // account at start (AccountBinder), so its verified earnings are credited there. Empty: unbound.
    QString accountKey;

    static Expected<NodeConfig> fromArguments(const QStringList& arguments);
    static QString usage();
};

} // namespace declai::node
