// The contributor's settings, one layer for declai-node and the desktop app: an INI file (QSettings
// IniFormat) at NodeSettings::defaultPath(), with every default written once, here. declai-node reads it with
// --config FILE and its command-line flags win (NodeConfig.h); the app edits it. Errors are values: an
// invalid value is refused with the file, the key and why. Loading and saving touch the disk: call them off
// the GUI thread where the file may be slow (they are small files; the app loads once at start).
#pragma once

#include "declai/core/ConfigFile.h"
#include "declai/core/ContributionSchedule.h"
#include "declai/core/Error.h"
#include "declai/network/TlsSetup.h"

#include <QMetaType>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QUrl>

namespace declai::node {

// What the volunteer lets DeCLAI use; changeable while the engine runs (ContributorEngine::setBudgets).
struct ResourceBudgets {
    int threads = 0;                  // compute threads; 0 = all cores
    uint64_t memoryBytes = 0;         // weights and KV caches; 0 = half of physical memory
    uint64_t diskBytes = 20ull << 30; // downloaded shards
    int maxSessions = 16;             // concurrent sessions
    // Devices DeCLAI may compute on, in preference order ("cpu", "opencl:0", "vulkan:0", "cuda:0", "hip:0").
    // Today a node computes on the first one; an empty list pauses contributing ("no device is enabled").
    QStringList enabledDevices{QStringLiteral("cpu")};

    QString device() const { return enabledDevices.isEmpty() ? QString() : enabledDevices.first(); }
    // Every field in range; the error names the field.
    Expected<void> validate() const;
    bool operator==(const ResourceBudgets&) const = default;
};

// "wss://a:7420, wss://b:7420": one or more gateway URLs (each a URL, none twice, at least one).
Expected<QList<QUrl>> parseGatewayList(const QString& text);

struct NodeSettings {
    QUrl serverUrl; // wss://host:port (ws:// only with tls.insecureDev)
    // More gateways of the same network (one shared ledger). With any, the node measures the round-trip
    // time to each (serverUrl included) when it connects, prefers the lowest and fails over to the next
    // when its gateway is lost. INI: server/url holds them all, comma-separated.
    QList<QUrl> otherGateways;
    QString dataDir; // identity, shards; default: QStandardPaths::AppDataLocation (see defaultDataDir)
    net::ClientTlsOptions tls;
    ResourceBudgets budgets;
    ContributionRules rules;
    int sessionIdleTimeoutMs = 300000;
    int statusIntervalMs = 10000;
    int drainGraceMs = 30000; // on stop: finish sessions for at most this long, then leave
    bool prefault = false;    // read a shard's weight pages in when it is loaded, not on first use
    // node/account_key_file: a private file (mode 600) holding the API key this node binds itself to at
    // start (as --account-key-file); "" = unbound.
    QString accountKeyFile;

    // serverUrl, then otherGateways.
    QList<QUrl> gateways() const;

    // QStandardPaths::AppConfigLocation's generic config folder + "declai/node.ini"
    // (on Linux: ~/.config/declai/node.ini).
    static QString defaultPath();
    // QStandardPaths::GenericDataLocation + "declai/node" (on Linux: ~/.local/share/declai/node).
    static QString defaultDataDir();

    // Reads `file` over the defaults. A missing file gives the defaults (a first run); an unreadable or
    // malformed one is an error "FILE: key 'KEY': why". Relative paths in the file are taken relative to
    // the file's folder.
    static Expected<NodeSettings> load(const QString& file);
    // The same, then the environment over the file: every key as DECLAI_<SECTION>_<KEY> (server/url is
    // DECLAI_SERVER_URL, budgets/threads DECLAI_BUDGETS_THREADS; [rules] only from the file); an empty
    // variable counts as unset. file may be "" (defaults and environment only). Keys in skip are ignored
    // (--check-config uses it to find every bad value, not only the first).
    static Expected<NodeSettings> load(const QString& file, const QProcessEnvironment& env,
                                       const QStringList& skip = {});
    // Every key of the file outside [rules], as SECTION/KEY.
    static const QStringList& keys();
    // --check-config: every problem of file (malformed lines, unknown keys, each bad value at its line)
    // and of the environment, and what validate() refuses; empty when the settings are good.
    static std::vector<ConfigProblem> check(const QString& file, const QProcessEnvironment& env);
    // Writes every key (so the file documents the defaults); the folder is created.
    Expected<void> save(const QString& file) const;
    // Everything a running node needs: a wss:// (or ws:// with insecureDev) URL with host and port, a data
    // folder, budgets and rules in range. The error names the key (as in the INI file).
    Expected<void> validate() const;
};

} // namespace declai::node

Q_DECLARE_METATYPE(declai::node::ResourceBudgets)
