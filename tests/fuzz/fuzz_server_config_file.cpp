// libFuzzer target: declai-server's configuration file (the [gateway] section of the shared INI,
// resolveServerSources), then the arguments it yields through ServerConfig::fromArguments and every check of
// --check-config (checkServerSources). Input: the file's bytes; the environment is empty. Every outcome is a
// value: problems each carry a message.
#include "declai/server/ServerConfig.h"
#include "declai/server/ServerConfigFile.h"

#include <QFile>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_server_config_file: %s\n", what);
        std::abort();
    }
}

std::unique_ptr<QTemporaryDir> g_dir;
uint64_t g_files = 0;

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_dir = std::make_unique<QTemporaryDir>();
    if (!g_dir->isValid()) {
        std::fprintf(stderr, "fuzz_server_config_file: no temporary folder\n");
        std::exit(1);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai::server;
    // A fresh name per input: QSettings caches a file by name, size and modification time.
    const QString path = g_dir->filePath(QStringLiteral("declai-%1.ini").arg(++g_files));
    {
        QFile file(path);
        check(file.open(QIODevice::WriteOnly), "cannot write the input file");
        file.write(reinterpret_cast<const char*>(data), static_cast<qint64>(size));
    }
    const auto sources = resolveServerSources(
        {QStringLiteral("declai-server"), QStringLiteral("--config"), path}, QProcessEnvironment());
    if (sources) {
        for (const auto& problem : checkServerSources(*sources))
            check(!problem.message.isEmpty(), "a problem without a message");
        (void)ServerConfig::fromArguments(sources->arguments);
    } else {
        check(!sources.error().message.empty(), "refused without a message");
    }
    QFile::remove(path);
    return 0;
}
