// declai-server: the headless gateway. Everything lives in declai-server-lib; this only parses the
// command line, runs the event loop and turns SIGINT/SIGTERM into a clean shutdown.
#include "declai/core/Version.h"
#include "declai/server/AdminCommands.h"
#include "declai/server/ServerApp.h"
#include "declai/server/ServerConfigFile.h"

#include <QCoreApplication>
#include <QTimer>
#include <atomic>
#include <csignal>
#include <cstdio>

namespace {
std::atomic<bool> g_stopRequested{false};
void onSignal(int) {
    g_stopRequested = true; // only an atomic store: safe in a signal handler
}
} // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("declai-server"));
    if (declai::isVersionRequest(QCoreApplication::arguments().mid(1))) {
        std::printf("%s\n", declai::softwareName("declai-server").c_str());
        return 0;
    }
    // The configuration file and DECLAI_* variables become flags in front of the command line's own.
    auto sources = declai::server::resolveServerSources(QCoreApplication::arguments(),
                                                        QProcessEnvironment::systemEnvironment());
    if (!sources) {
        std::fprintf(stderr, "declai-server: %s\n", sources.error().message.c_str());
        return 2;
    }
    if (sources->checkOnly)
        return declai::server::reportServerConfigCheck(*sources, stdout, stderr);
    for (const declai::ConfigProblem& problem : sources->problems)
        std::fprintf(stderr, "declai-server: %s\n", qPrintable(problem.text()));
    if (!sources->problems.empty())
        return 2;
    if (auto status = declai::server::runAdminCommand(sources->arguments, stdout, stderr))
        return *status;
    auto config = declai::server::ServerConfig::fromArguments(sources->arguments);
    if (!config) {
        if (config.error().code == declai::ErrorCode::NotFound) { // --help
            std::fputs(declai::server::ServerConfig::usage().toLocal8Bit().constData(), stdout);
            return 0;
        }
        std::fprintf(stderr, "declai-server: %s\n%s", config.error().message.c_str(),
                     declai::server::ServerConfig::usage().toLocal8Bit().constData());
        return 2;
    }
    declai::server::ServerApp server(*config);
    auto port = server.start();
    if (!port) {
        std::fprintf(stderr, "declai-server: %s\n", port.error().message.c_str());
        return 1;
    }
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    QTimer stopPoll;
    QObject::connect(&stopPoll, &QTimer::timeout, &app, [] {
        if (g_stopRequested)
            QCoreApplication::quit();
    });
    stopPoll.start(100);
    const int status = app.exec();
    qInfo("declai-server stopped");
    return status;
}
