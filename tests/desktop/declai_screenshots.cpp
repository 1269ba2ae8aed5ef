// declai-screenshots: drives the real app (DesktopApp, the same library as `declai`) against a running
// local swarm and writes a PNG of each wizard page, each dashboard page and the tray menu. Built only with
// the tests (a test seam outside the shipped binary); scripts/screenshots runs it under xvfb-run.
// Usage: declai-screenshots --server wss://127.0.0.1:PORT --ca FILE --researcher-key KEY --out DIR
//        (XDG_CONFIG_HOME / XDG_DATA_HOME should point at an empty folder: this is a first run)
#include "ContributePage.h"
#include "DesktopApp.h"
#include "FirstRunWizard.h"
#include "MainWindow.h"
#include "OverviewPage.h"
#include "PromptPage.h"
#include "SchedulePage.h"
#include "Translations.h"
#include "TrayController.h"
#include "WeeklyGridWidget.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QLineEdit>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScreen>
#include <QSpinBox>
#include <QSystemTrayIcon>
#include <QTableWidget>
#include <QTest>
#include <QToolTip>
#include <cstdio>

using namespace declai;
using namespace declai::desktop;

namespace {

QString g_out;

bool save(QWidget* widget, const QString& name) {
    QApplication::processEvents();
    const QString file = QDir(g_out).filePath(name + QStringLiteral(".png"));
    const bool ok = widget->grab().save(file, "PNG");
    std::fprintf(stderr, "%s %s\n", ok ? "wrote" : "FAILED", qPrintable(file));
    return ok;
}

// A part of the screen as it is (the tray icon lives in the tray host's window, not in ours).
bool saveScreen(QScreen* screen, const QRect& rect, const QString& name) {
    QApplication::processEvents();
    const QString file = QDir(g_out).filePath(name + QStringLiteral(".png"));
    const bool ok = screen->grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height()).save(file, "PNG");
    std::fprintf(stderr, "%s %s (from the screen)\n", ok ? "wrote" : "FAILED", qPrintable(file));
    return ok;
}

// Waits (processing events) until `done` or `timeoutMs`; false on timeout.
template <class F>
bool waitFor(F done, int timeoutMs) {
    QElapsedTimer clock;
    clock.start();
    while (!done()) {
        if (clock.elapsed() > timeoutMs)
            return false;
        QTest::qWait(100);
    }
    return true;
}

void fail(const char* what) {
    std::fprintf(stderr, "declai-screenshots: %s\n", what);
    std::exit(1);
}

} // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("declai"));
    QApplication::setQuitOnLastWindowClosed(false);
    const Translations translations; // as `declai` does: the locale's language, else English plurals
    QCommandLineParser parser;
    const QCommandLineOption server(QStringLiteral("server"), QStringLiteral("gateway"),
                                    QStringLiteral("URL"));
    const QCommandLineOption ca(QStringLiteral("ca"), QStringLiteral("certificate"), QStringLiteral("FILE"));
    const QCommandLineOption researcher(QStringLiteral("researcher-key"), QStringLiteral("key"),
                                        QStringLiteral("KEY"));
    const QCommandLineOption out(QStringLiteral("out"), QStringLiteral("folder"), QStringLiteral("DIR"));
    parser.addOptions({server, ca, researcher, out});
    parser.process(app);
    g_out = parser.value(out);
    QDir().mkpath(g_out);

    LogBuffer log;
    LogBuffer::install(&log);
    DesktopOptions options;
    options.useTray = true; // pictures without the "no tray" banner that Xvfb would cause
    options.defaultServer = parser.value(server);
    options.program = QStringLiteral("/usr/bin/declai");
    DesktopApp desktop(DesktopPaths::standard(), options, log);
    desktop.start();
    FirstRunWizard* wizard = desktop.wizard();
    if (!wizard)
        fail("not a first run: point XDG_CONFIG_HOME and XDG_DATA_HOME at an empty folder");
    wizard->resize(680, 500);
    waitFor([&] { return wizard->isVisible(); }, 5000);
    wizard->caEdit()->setText(parser.value(ca));
    save(wizard, QStringLiteral("wizard-1-server"));
    wizard->next();
    save(wizard, QStringLiteral("wizard-2-account"));
    wizard->next();
    if (!waitFor([&] { return wizard->currentId() == FirstRunWizard::DevicesPage; }, 20000))
        fail("the account was not created");
    waitFor([&] { return !desktop.engine().devices().isEmpty(); }, 60000);
    save(wizard, QStringLiteral("wizard-3-devices"));
    wizard->next();
    save(wizard, QStringLiteral("wizard-4-schedule"));
    wizard->accept();

    MainWindow& window = desktop.window();
    window.resize(1100, 760);
    window.show();
    if (!waitFor([&] { return !desktop.engine().stats().shards.isEmpty(); }, 240000))
        fail("the node got no shard");

    // A researcher's prompts: the app's node computes them and earns.
    ApiClient researcherApi;
    ApiEndpoint endpoint = desktop.api().endpoint();
    endpoint.apiKey = parser.value(researcher);
    researcherApi.setEndpoint(endpoint);
    for (const QString& text : {QStringLiteral("Once upon a time"), QStringLiteral("The little dog"),
                                QStringLiteral("Lily and Ben went")}) {
        CompletionRequest request;
        request.model = QStringLiteral("stories260K");
        request.messages = {{QStringLiteral("user"), text}};
        request.maxTokens = 60;
        CompletionStream* stream = researcherApi.startCompletion(request);
        bool done = false;
        QObject::connect(stream, &CompletionStream::finished, stream, [&done] { done = true; });
        QObject::connect(stream, &CompletionStream::failed, stream, [&done](const ApiError& e) {
            std::fprintf(stderr, "researcher prompt failed: %s\n", qPrintable(e.message));
            done = true;
        });
        waitFor([&] { return done; }, 120000);
        stream->deleteLater();
    }
    // Earnings are released after the verification window.
    double available = 0;
    QObject::connect(&desktop.api(), &ApiClient::creditsReady, &app,
                     [&available](const CreditSummary& c) { available = c.available; });
    waitFor(
        [&] {
            desktop.refreshCredits();
            QTest::qWait(1500);
            return available > 0;
        },
        90000);

    // Contribute: a benchmark of the CPU, so the figures show.
    window.showPage(QStringLiteral("contribute"));
    desktop.contribute().deviceTable()->selectRow(0);
    desktop.contribute().benchmarkButton()->click();
    QTest::qWait(1500);
    save(&window, QStringLiteral("contribute-benchmark-running"));
    waitFor([&] { return desktop.contribute().benchmarkButton()->isEnabled(); }, 240000);

    // Prompt: one answered prompt in the history and on screen.
    PromptPage& prompt = desktop.prompt();
    prompt.refreshModels();
    waitFor([&] { return prompt.modelBox()->count() > 0; }, 15000);
    prompt.input()->setPlainText(QStringLiteral("Once upon a time, a little robot"));
    prompt.maxTokensBox()->setValue(80);
    prompt.sendButton()->click();
    waitFor([&] { return !prompt.isStreaming(); }, 120000);
    // Its cost comes from the ledger once the request is settled; then a follow-up with its quote.
    if (!waitFor(
            [&] {
                const auto records = desktop.promptHistory().load();
                return !records.isEmpty() && records.first().costCredits >= 0;
            },
            60000))
        std::fprintf(stderr, "the prompt's cost did not show in the history\n");
    // The follow-up as a single prompt (the story so far and a follow-up would not fit stories260K's
    // 128-token context), so its quote shows next to Send with the answer still on screen.
    for (QCheckBox* chat : prompt.findChildren<QCheckBox*>())
        chat->setChecked(false);
    prompt.maxTokensBox()->setValue(40);
    prompt.input()->setPlainText(QStringLiteral("What did the robot find?"));
    waitFor([&] { return prompt.quoteText().contains(QStringLiteral("Costs")); }, 15000);
    desktop.refreshCredits();
    QTest::qWait(2000);

    const std::pair<const char*, const char*> pages[] = {{"overview", "overview"},
                                                         {"contribute", "contribute"},
                                                         {"schedule", "schedule"},
                                                         {"prompt", "prompt"},
                                                         {"settings", "settings"}};
    for (const auto& [id, file] : pages) {
        window.showPage(QString::fromLatin1(id));
        QTest::qWait(400);
        save(&window, QString::fromLatin1(file));
    }
    // The tray: with a real XEmbed tray host on the display (scripts/screenshots starts trayer), the
    // docked icon, its tooltip and its menu are photographed from the screen as a volunteer sees them.
    QMenu* menu = desktop.tray().menu();
    QSystemTrayIcon* icon = desktop.tray().trayIcon();
    const bool realTray =
        icon && QSystemTrayIcon::isSystemTrayAvailable() &&
        waitFor([&] { return icon->geometry().isValid() && icon->geometry().y() > 0; }, 5000);
    if (realTray) {
        window.hide();
        QTest::qWait(300);
        const QRect at = icon->geometry();
        QScreen* screen = QGuiApplication::primaryScreen();
        // Tight crops around what a volunteer looks at (the virtual screen behind is plain black).
        const QRect panel(at.left() - 4, at.top() - 2, at.width() + 8, at.height() + 4);
        QToolTip::showText(at.center(), icon->toolTip());
        QTest::qWait(700);
        QRect tip = panel;
        for (QWidget* w : QApplication::topLevelWidgets())
            if (w->isVisible() && w->inherits("QTipLabel"))
                tip = tip.united(w->geometry());
        saveScreen(screen, tip.adjusted(-8, -8, 8, 8) & screen->geometry(), QStringLiteral("tray-tooltip"));
        QToolTip::hideText();
        QTest::qWait(300);
        // Above the icon, right-aligned with it, as trays at the bottom of the screen open it.
        const QSize menuSize = menu->sizeHint();
        menu->popup(QPoint(at.right() - menuSize.width() + 1, at.top() - menuSize.height() - 2));
        QTest::qWait(500);
        const QRect area = menu->geometry().united(panel).adjusted(-8, -8, 8, 8) & screen->geometry();
        saveScreen(screen, area, QStringLiteral("tray-menu"));
        menu->hide();
    } else {
        std::fprintf(stderr, "no system tray on this display: the tray menu is drawn on its own\n");
        menu->adjustSize();
        save(menu, QStringLiteral("tray-menu"));
    }

    bool finished = false;
    QObject::connect(&desktop, &DesktopApp::finished, &app, [&finished] { finished = true; });
    desktop.quit();
    waitFor([&] { return finished; }, 60000);
    LogBuffer::install(nullptr);
    return 0;
}
