// libFuzzer target: declai-server's command line (ServerConfig::fromArguments). Input: the arguments, one per
// line ('\n'); the program name is added. Every outcome is a value: a config with limits in range, or an
// error with a message. --model-dir must exist to be accepted: "/" and "." do, so seeds reach the later
// checks.
#include "FuzzInput.h"
#include "declai/server/ServerConfig.h"

#include <QString>
#include <QStringList>
#include <cstdio>
#include <cstdlib>

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_server_config: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai;
    const QString text = QString::fromUtf8(reinterpret_cast<const char*>(data), static_cast<qsizetype>(size));
    QStringList arguments{QStringLiteral("declai-server")};
    arguments.append(text.split(QLatin1Char('\n')));
    const Expected<server::ServerConfig> config = server::ServerConfig::fromArguments(arguments);
    if (config) {
        check(config->minNodes >= 1, "min-nodes below 1");
        check(config->gatewayLayers >= 1, "gateway-layers below 1");
        check(config->maxSessions >= 1, "max-sessions below 1");
        check(config->threads >= 0, "negative threads");
        check(config->stageTimeoutMs >= 100 && config->failoverDeadlineMs >= 100 && config->chainWaitMs >= 0,
              "timeouts out of range");
        check(config->frontDoor.maxConnections >= 8 && config->frontDoor.maxConnectionsPerAddress >= 1,
              "connection caps out of range");
        check(config->maxRequestsPerConnection >= 1 && config->maxRequestsPerAccount >= 1,
              "request limits out of range");
        check(config->wireEncoding == QStringLiteral("f32") || config->wireEncoding == QStringLiteral("f16"),
              "unknown wire encoding accepted");
        check(!config->modelDir.isEmpty() && !config->dataDir.isEmpty(), "no model or data folder");
    } else {
        check(!config.error().message.empty(), "refused without a message");
    }
    return 0;
}
