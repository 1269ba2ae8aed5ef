#include "NodeMain.h"

#include "AccountBinder.h"
#include "ContributorEngine.h"
#include "NodeConfig.h"
#include "declai/core/Version.h"

#include <QCoreApplication>
#include <QTimer>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>

namespace declai::node {
namespace {

std::atomic<int> g_signals{0};
void onSignal(int) {
    ++g_signals; // only an atomic: safe in a signal handler
}

} // namespace

int runNodeMain(int argc, char** argv, const NodeMainOptions& options) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("declai-node"));
    QStringList arguments = QCoreApplication::arguments();
    if (isVersionRequest(arguments.mid(1))) {
        std::printf("%s\n", softwareName("declai-node").c_str());
        return 0;
    }
    std::shared_ptr<ComputeHooks> hooks;
    if (options.takeTestOptions) {
        auto taken = options.takeTestOptions(arguments);
        if (!taken) {
            std::fprintf(stderr, "declai-node: %s\n", taken.error().message.c_str());
            return 2;
        }
        hooks = *taken;
    }
    auto commandLine = parseNodeCommandLine(arguments, QProcessEnvironment::systemEnvironment());
    if (!commandLine) {
        if (commandLine.error().code == ErrorCode::NotFound) {
            std::fputs(nodeUsage().toLocal8Bit().constData(), stdout);
            return 0;
        }
        std::fprintf(stderr, "declai-node: %s\n%s", commandLine.error().message.c_str(),
                     nodeUsage().toLocal8Bit().constData());
        return 2;
    }
    if (commandLine->checkOnly) {
        for (const ConfigProblem& problem : commandLine->problems)
            std::fprintf(stderr, "%s\n", qPrintable(problem.text()));
        if (!commandLine->problems.empty())
            return 1;
        std::printf("%s: configuration ok\n",
                    commandLine->configFile.isEmpty() ? "declai-node" : qPrintable(commandLine->configFile));
        return 0;
    }
    if (!commandLine->configFile.isEmpty())
        qInfo("settings from %s", qPrintable(commandLine->configFile));
    ContributorEngine engine(commandLine->settings);
    engine.setComputeHooks(hooks);
    QObject::connect(&engine, &ContributorEngine::fatalError, &app, [](const QString& reason) {
        std::fprintf(stderr, "declai-node: %s\n", qPrintable(reason));
        QCoreApplication::exit(1);
    });
    QObject::connect(&engine, &ContributorEngine::stopped, &app, [] { QCoreApplication::quit(); });
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    QTimer signalPoll;
    int handled = 0;
    QObject::connect(&signalPoll, &QTimer::timeout, &app, [&] {
        if (g_signals > handled) {
            if (handled++ == 0)
                engine.stop(); // first signal: leave gracefully
            else
                QCoreApplication::quit(); // second: leave now
        }
    });
    signalPoll.start(100);
    if (commandLine->accountKey.isEmpty()) {
        engine.start();
        return app.exec();
    }
    // With an account key, the node binds itself to that account first (its earnings are credited there),
    // then serves; a refused binding stops it rather than earning for nobody the user meant.
    const NodeSettings& settings = commandLine->settings;
    auto identity = NodeIdentity::loadOrCreate(settings.dataDir.toStdString());
    if (!identity) {
        std::fprintf(stderr, "declai-node: %s\n", identity.error().message.c_str());
        return 1;
    }
    // Bindings live in the ledger database every gateway of the network shares: any gateway that answers
    // will do, in the listed order.
    const QList<QUrl> gateways = settings.gateways();
    std::unique_ptr<AccountBinder> binder;
    int next = 0;
    std::function<void(const QString&)> bindAt = [&](const QString& previousFailure) {
        if (next >= gateways.size()) {
            std::fprintf(stderr, "declai-node: %s\n", qPrintable(previousFailure));
            QCoreApplication::exit(1);
            return;
        }
        if (!previousFailure.isEmpty())
            qWarning("binding through the previous gateway failed (%s); trying %s",
                     qPrintable(previousFailure), qPrintable(gateways[next].toString()));
        binder = std::make_unique<AccountBinder>(gateways[next++], settings.tls, *identity);
        QObject::connect(binder.get(), &AccountBinder::bound, &app,
                         [&engine](const QString& account, const QString&, bool alreadyBound) {
                             qInfo("node bound to account %s%s", qPrintable(account),
                                   alreadyBound ? " (already bound)" : "");
                             engine.start();
                         });
        // Queued: the failing binder is replaced only after its signal returned.
        QObject::connect(
            binder.get(), &AccountBinder::failed, &app, [&bindAt](const QString& reason) { bindAt(reason); },
            Qt::QueuedConnection);
        binder->bind(commandLine->accountKey);
    };
    bindAt(QString());
    return app.exec();
}

} // namespace declai::node
