// declai-node: the contributor engine without widgets, for servers and labs. SIGINT/SIGTERM drain: no new
// sessions, running ones finish (bounded by --drain-grace-s), then the process exits.
#include "AccountBinder.h"
#include "NodeAgent.h"
#include "declai/core/Version.h"

#include <QCoreApplication>
#include <QTimer>
#include <atomic>
#include <csignal>
#include <cstdio>

namespace {
std::atomic<int> g_signals{0};
void onSignal(int) {
    ++g_signals; // only an atomic: safe in a signal handler
}
} // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("declai-node"));
    if (declai::isVersionRequest(QCoreApplication::arguments().mid(1))) {
        std::printf("%s\n", declai::softwareName("declai-node").c_str());
        return 0;
    }
    auto config = declai::node::NodeConfig::fromArguments(QCoreApplication::arguments());
    if (!config) {
        if (config.error().code == declai::ErrorCode::NotFound) {
            std::fputs(declai::node::NodeConfig::usage().toLocal8Bit().constData(), stdout);
            return 0;
        }
        std::fprintf(stderr, "declai-node: %s\n%s", config.error().message.c_str(),
                     declai::node::NodeConfig::usage().toLocal8Bit().constData());
        return 2;
    }
    auto identity = declai::NodeIdentity::loadOrCreate(config->dataDir.toStdString());
    if (!identity) {
        std::fprintf(stderr, "declai-node: %s\n", identity.error().message.c_str());
        return 1;
    }
    declai::node::NodeAgent agent(*config, *identity);
    QObject::connect(&agent, &declai::node::NodeAgent::fatalError, &app, [](const QString& reason) {
        std::fprintf(stderr, "declai-node: %s\n", qPrintable(reason));
        QCoreApplication::exit(1);
    });
    QObject::connect(&agent, &declai::node::NodeAgent::drained, &app, [] { QCoreApplication::quit(); });
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    QTimer signalPoll;
    int handled = 0;
    QObject::connect(&signalPoll, &QTimer::timeout, &app, [&] {
        if (g_signals > handled) {
            if (handled++ == 0)
                agent.drain(); // first signal: leave gracefully
            else
                QCoreApplication::quit(); // second: leave now
        }
    });
    signalPoll.start(100);
    qInfo("node %s starting (data in %s)", identity->shortId().c_str(), qPrintable(config->dataDir));
    // With an account key, the node binds itself to that account first (its earnings are credited there),
    // then serves; a refused binding stops it rather than earning for nobody the user meant.
    declai::node::AccountBinder binder(config->serverUrl, config->tls, *identity);
    if (config->accountKey.isEmpty()) {
        agent.start();
    } else {
        QObject::connect(&binder, &declai::node::AccountBinder::bound, &app,
                         [&agent](const QString& account, const QString&, bool alreadyBound) {
                             qInfo("node bound to account %s%s", qPrintable(account),
                                   alreadyBound ? " (already bound)" : "");
                             agent.start();
                         });
        QObject::connect(&binder, &declai::node::AccountBinder::failed, &app, [](const QString& reason) {
            std::fprintf(stderr, "declai-node: %s\n", qPrintable(reason));
            QCoreApplication::exit(1);
        });
        binder.bind(config->accountKey);
    }
    return app.exec();
}
