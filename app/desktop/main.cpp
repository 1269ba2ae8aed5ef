// declai: the desktop app (tray contributor, dashboard, prompts). A thin shell over DesktopApp.
#include "DesktopApp.h"
#include "LogBuffer.h"
#include "SingleInstance.h"
#include "declai/core/Version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QSystemTrayIcon>
#include <cstdio>

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("declai"));
    QApplication::setOrganizationName(QStringLiteral("declai"));
    QApplication::setApplicationDisplayName(QStringLiteral("DeCLAI"));
    QApplication::setDesktopFileName(QStringLiteral("org.declai.Declai"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/declai.svg")));
    // The window closes to the tray; the app ends only through Quit (DesktopApp::finished).
    QApplication::setQuitOnLastWindowClosed(false);
    if (declai::isVersionRequest(QApplication::arguments().mid(1))) {
        std::printf("%s\n", declai::softwareName("declai").c_str());
        return 0;
    }
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("DeCLAI: lend this computer to a community LLM network"));
    parser.addHelpOption();
    const QCommandLineOption minimized(QStringLiteral("minimized"),
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
        QObject::connect(&desktop, &declai::desktop::DesktopApp::finished, &app, [] { QApplication::quit(); });
        desktop.start();
        status = QApplication::exec();
    } // the engine's threads are joined here (its destructor), before the log and the application go
    declai::desktop::LogBuffer::install(nullptr);
    return status;
}
