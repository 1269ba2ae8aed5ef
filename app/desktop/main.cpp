// declai: the desktop app (tray contributor, dashboard, prompts). A thin shell over DesktopApp.
#include "DesktopApp.h"
#include "LogBuffer.h"
#include "SingleInstance.h"
#include "Translations.h"
#include "TrayController.h"
#include "declai/core/Version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QSocketNotifier>
#include <QSystemTrayIcon>
#include <QTimer>
#include <csignal>
#include <cstdio>
#include <memory>
#include <sys/socket.h>
#include <unistd.h>

namespace {
int g_signalPipe[2] = {-1, -1};
void onSignal(int) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(g_signalPipe[1], &byte, 1); // async-signal-safe
}
} // namespace

int main(int argc, char** argv) {
    QElapsedTimer sinceStart;
    sinceStart.start();
    // Before QApplication: --version works without a display and prints nothing else (packaging checks it).
    QStringList arguments;
    for (int i = 1; i < argc; ++i)
        arguments << QString::fromLocal8Bit(argv[i]);
    if (declai::isVersionRequest(arguments)) {
        std::printf("%s\n", declai::softwareName("declai").c_str());
        return 0;
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("declai"));
    QApplication::setOrganizationName(QStringLiteral("declai"));
    QApplication::setApplicationDisplayName(QStringLiteral("DeCLAI"));
    QApplication::setDesktopFileName(QStringLiteral("org.declai.Declai"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/declai.svg")));
    const declai::desktop::Translations translations; // the system locale's language, where we have it
    // The window closes to the tray; the app ends only through Quit (DesktopApp::finished).
    QApplication::setQuitOnLastWindowClosed(false);

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("DeCLAI: lend this computer to a community LLM network"));
    parser.addHelpOption();
    const QCommandLineOption minimized(
        QStringLiteral("minimized"),
        QStringLiteral("Start in the tray without opening the window (autostart)."));
    parser.addOption(minimized);
    parser.process(app);

    declai::desktop::LogBuffer log;
    declai::desktop::LogBuffer::install(&log);
    const auto paths = declai::desktop::DesktopPaths::standard();
    declai::desktop::SingleInstance instance(paths.genericConfigDir);
    if (!instance.claim()) {
        std::fprintf(stderr, "declai: already running; its window was raised\n");
        declai::desktop::LogBuffer::install(nullptr);
        return 0;
    }
    declai::desktop::DesktopOptions options;
    options.minimized = parser.isSet(minimized);
    options.useTray = QSystemTrayIcon::isSystemTrayAvailable();
    options.defaultServer = qEnvironmentVariable("DECLAI_SERVER", QStringLiteral("wss://127.0.0.1:7420"));
    options.program = QApplication::applicationFilePath();
    int status = 0;
    {
        declai::desktop::DesktopApp desktop(paths, options, log);
        QObject::connect(&instance, &declai::desktop::SingleInstance::raiseRequested, &desktop,
                         &declai::desktop::DesktopApp::raiseWindow);
        QObject::connect(&desktop, &declai::desktop::DesktopApp::finished, &app,
                         [] { QApplication::quit(); });
        // SIGTERM/SIGINT (logout, kill): quit cleanly like the menu's Quit. A self-pipe wakes the event loop
        // only when a signal arrives, so an idle app does not poll.
        std::unique_ptr<QSocketNotifier> signalNotifier;
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalPipe) == 0) {
            signalNotifier = std::make_unique<QSocketNotifier>(g_signalPipe[0], QSocketNotifier::Read);
            QObject::connect(signalNotifier.get(), &QSocketNotifier::activated, &desktop, [&desktop] {
                char byte = 0;
                [[maybe_unused]] const ssize_t got = ::read(g_signalPipe[0], &byte, 1);
                desktop.quit();
            });
            std::signal(SIGTERM, onSignal);
            std::signal(SIGINT, onSignal);
        }
        QObject::connect(&desktop.tray(), &declai::desktop::TrayController::iconShown, &desktop,
                         [&sinceStart] {
                             qInfo("declai: tray icon on screen after %lld ms",
                                   static_cast<long long>(sinceStart.elapsed()));
                         });
        desktop.start();
        // The first turn of the event loop: the tray icon (or, without a tray, the window) is up.
        QTimer::singleShot(0, &desktop, [&sinceStart, &options] {
            qInfo("declai: ready after %lld ms (%s)", static_cast<long long>(sinceStart.elapsed()),
                  options.useTray ? "tray icon shown" : "no system tray: dashboard shown");
        });
        status = QApplication::exec();
        std::signal(SIGTERM, SIG_DFL);
        std::signal(SIGINT, SIG_DFL);
    } // the engine's threads are joined here (its destructor), before the log and the application go
    declai::desktop::LogBuffer::install(nullptr);
    return status;
}
