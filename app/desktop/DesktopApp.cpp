#include "DesktopApp.h"

#include "ContributePage.h"
#include "FirstRunWizard.h"
#include "HistoryFile.h"
#include "MainWindow.h"
#include "OverviewPage.h"
#include "PromptPage.h"
#include "SchedulePage.h"
#include "TrayController.h"
#include "declai/core/Identity.h"

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>
#include <QStyle>
#include <QStyleFactory>
#include <QTemporaryDir>

namespace declai::desktop {

namespace {

QPalette darkPalette() {
    QPalette p;
    const QColor window(0x2b, 0x2d, 0x31), base(0x1f, 0x21, 0x24), text(0xe8, 0xea, 0xed);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, window);
    p.setColor(QPalette::ToolTipBase, QColor(0x3c, 0x40, 0x43));
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, window);
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::Highlight, QColor(0x3d, 0x7f, 0xe0));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::PlaceholderText, QColor(0x9a, 0xa0, 0xa6));
    p.setColor(QPalette::Mid, QColor(0x45, 0x48, 0x4d));
    p.setColor(QPalette::Disabled, QPalette::Text, QColor(0x80, 0x80, 0x80));
    p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x80, 0x80, 0x80));
    p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0x80, 0x80, 0x80));
    return p;
}

} // namespace

DesktopPaths DesktopPaths::standard() {
    DesktopPaths p;
    p.nodeSettingsFile = node::NodeSettings::defaultPath();
    p.genericConfigDir = QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation);
    p.appSettingsFile = QDir(p.genericConfigDir).filePath(QStringLiteral("declai/declai-app.ini"));
    p.defaultDataDir = node::NodeSettings::defaultDataDir();
    return p;
}

DesktopApp::DesktopApp(DesktopPaths paths, DesktopOptions options, LogBuffer& log,
                       std::unique_ptr<EngineController> engine, QObject* parent)
    : QObject(parent), m_paths(std::move(paths)), m_options(std::move(options)), m_log(log),
      m_appSettings(m_paths.appSettingsFile, QSettings::IniFormat), m_engine(std::move(engine)),
      m_autostart(m_paths.genericConfigDir, m_options.program), m_benchmarks(m_appSettings) {
    m_writer.setMaxThreadCount(1);
    m_writer.setObjectName(QStringLiteral("declai-settings-writer"));
    m_systemPalette = QApplication::palette();
    // Small files read once at start (the engine has not started; nothing else waits on the GUI thread yet).
    m_firstRun = !QFile::exists(m_paths.nodeSettingsFile) ||
                 !m_appSettings.value(QStringLiteral("setup_done"), false).toBool();
    if (auto loaded = node::NodeSettings::load(m_paths.nodeSettingsFile)) {
        m_settings = *loaded;
    } else {
        m_settingsError = QString::fromStdString(loaded.error().message);
        qWarning("settings: %s", qPrintable(m_settingsError));
    }
    if (m_settings.dataDir.isEmpty())
        m_settings.dataDir = m_paths.defaultDataDir;
    if (m_firstRun && m_settings.serverUrl.isEmpty() && !m_options.defaultServer.isEmpty())
        m_settings.serverUrl = QUrl(m_options.defaultServer);
    QFile keyFile(accountKeyFile());
    if (keyFile.open(QIODevice::ReadOnly))
        m_accountKey = QString::fromUtf8(keyFile.readAll()).trimmed();
    if (!m_engine)
        m_engine = std::make_unique<LocalEngineController>(m_settings);
    openHistories();
    updateEndpoint();
    buildUi();
    if (!m_historyProblems.isEmpty())
        m_window->setNotice(m_historyProblems.join(QLatin1Char('\n')));
}

void DesktopApp::openHistories() {
    // Small files (bounded, HistoryFile.h) read once at start, before the engine runs; written on the
    // writer thread, so the GUI thread never waits on the disk afterwards.
    const QDir history(QDir(m_settings.dataDir).filePath(QStringLiteral("history")));
    auto save = [this](const QString& path, const QJsonArray& items) {
        m_writer.start([path, items] {
            if (const QString error = writeHistoryFile(path, items); !error.isEmpty())
                qWarning("history: %s: %s", qPrintable(path), qPrintable(error));
        });
    };
    if (QString problem =
            m_history.open(history.filePath(QStringLiteral("prompts.json")), save, &m_appSettings);
        !problem.isEmpty())
        m_historyProblems << tr("Prompt history: %1").arg(problem);
    m_workFile = history.filePath(QStringLiteral("work.json"));
    HistoryRead work = readHistoryFile(m_workFile);
    m_work = WorkHistory::fromJson(work.items);
    if (!work.problem.isEmpty())
        m_historyProblems << tr("Work history: %1").arg(work.problem);
    for (const QString& problem : std::as_const(m_historyProblems))
        qWarning("%s", qPrintable(problem));
    // Work is saved at most once a minute while it changes (and at quit), not on every stats tick.
    m_workSave.setSingleShot(true);
    m_workSave.setInterval(60000);
    connect(&m_workSave, &QTimer::timeout, this, &DesktopApp::saveWork);
}

void DesktopApp::saveWork() {
    m_workSave.stop();
    const QString path = m_workFile;
    const QJsonArray items = m_work.toJson();
    m_writer.start([path, items] {
        if (const QString error = writeHistoryFile(path, items); !error.isEmpty())
            qWarning("history: %s: %s", qPrintable(path), qPrintable(error));
    });
}

DesktopApp::~DesktopApp() {
    m_writer.waitForDone();
}

QString DesktopApp::accountKeyFile() const {
    return QDir(m_settings.dataDir).filePath(QStringLiteral("account.key"));
}

void DesktopApp::updateEndpoint() {
    ApiEndpoint endpoint;
    endpoint.baseUrl = ApiEndpoint::httpBaseFrom(m_settings.serverUrl);
    endpoint.tls = m_settings.tls;
    endpoint.apiKey = m_accountKey;
    m_api.setEndpoint(endpoint);
}

void DesktopApp::buildUi() {
    m_window = std::make_unique<MainWindow>();
    m_overview = new OverviewPage;
    m_contribute = new ContributePage(*m_engine, m_benchmarks);
    m_schedule = new SchedulePage;
    m_prompt = new PromptPage(m_api, m_history);
    m_settingsPage = new SettingsPage(m_autostart, m_log);
    m_window->addPage(QStringLiteral("overview"), tr("Overview"), m_overview);
    m_window->addPage(QStringLiteral("contribute"), tr("Contribute"), m_contribute);
    m_window->addPage(QStringLiteral("schedule"), tr("Schedule"), m_schedule);
    m_window->addPage(QStringLiteral("prompt"), tr("Prompt"), m_prompt);
    m_window->addPage(QStringLiteral("settings"), tr("Account & settings"), m_settingsPage);

    m_contribute->setBudgets(m_settings.budgets);
    m_schedule->setRules(m_settings.rules);
    m_settingsPage->setNodeSettings(m_settings);
    m_settingsPage->setAccountKey(m_accountKey);
    const AppPreferences preferences{Theme(m_appSettings.value(QStringLiteral("theme"), 0).toInt()),
                                     m_appSettings.value(QStringLiteral("notifications"), true).toBool()};
    m_settingsPage->setPreferences(preferences);

    m_tray = new TrayController(*m_engine, m_options.useTray, this);
    m_tray->notifier().setEnabled(preferences.notifications);
    applyPreferences(preferences);
    m_window->setHidesToTray(m_options.useTray);
    if (!m_options.useTray)
        m_window->setBanner(
            tr("This desktop has no system tray, so DeCLAI shows this window instead. Closing it "
               "quits DeCLAI and stops contributing."));
    if (!m_settingsError.isEmpty())
        m_window->setBanner(
            tr("Your settings could not be read (%1); the defaults are shown.").arg(m_settingsError));

    connect(m_engine.get(), &EngineController::statsChanged, this, &DesktopApp::onStats);
    connect(m_engine.get(), &EngineController::fatalError, this, [this](const QString& reason) {
        m_window->setBanner(tr("Contributing stopped: %1").arg(reason));
    });
    connect(m_schedule, &SchedulePage::rulesEdited, this, [this](const ContributionRules& rules) {
        m_settings.rules = rules;
        m_engine->setRules(rules); // the engine evaluates them at once on its thread
        saveNodeSettings();
    });
    connect(m_contribute, &ContributePage::budgetsEdited, this, [this](const ResourceBudgets& budgets) {
        m_settings.budgets = budgets;
        m_engine->setBudgets(budgets);
        saveNodeSettings();
    });
    connect(m_settingsPage, &SettingsPage::applied, this, &DesktopApp::applySettings);
    connect(m_settingsPage, &SettingsPage::preferencesChanged, this, [this](const AppPreferences& p) {
        m_appSettings.setValue(QStringLiteral("theme"), int(p.theme));
        m_appSettings.setValue(QStringLiteral("notifications"), p.notifications);
        m_tray->notifier().setEnabled(p.notifications);
        applyPreferences(p);
    });
    connect(m_settingsPage, &SettingsPage::exportIdentityRequested, this, [this](const QString& target) {
        const QString source = QDir(m_settings.dataDir).filePath(QStringLiteral("identity/node.key"));
        m_writer.start([this, source, target] {
            // Writer thread: a copy that never exists with other permissions than 0600.
            QFile in(source);
            QString message;
            if (!in.open(QIODevice::ReadOnly)) {
                message = tr("No identity to export yet (%1).").arg(source);
            } else {
                const QByteArray bytes = in.readAll();
                QFile::remove(target); // the save dialog asked before overwriting
                auto written = writeSecretFile(target.toStdString(),
                                               std::string_view(bytes.constData(), size_t(bytes.size())));
                message = written
                              ? tr("Identity exported to %1. Keep it private: it is this computer's key.")
                                    .arg(target)
                              : tr("Export failed: %1").arg(QString::fromStdString(written.error().message));
            }
            QMetaObject::invokeMethod(this, [this, message] { m_window->setBanner(message); });
        });
    });
    connect(m_settingsPage, &SettingsPage::importIdentityRequested, this, [this](const QString& source) {
        const QString dataDir = m_settings.dataDir;
        const bool wasRunning = m_engine->isRunning();
        m_writer.start([this, source, dataDir, wasRunning] {
            // Writer thread: check the key loads as an identity before it replaces this computer's one.
            QFile in(source);
            QString message;
            bool ok = false;
            QByteArray bytes;
            if (in.open(QIODevice::ReadOnly))
                bytes = in.readAll();
            QTemporaryDir check;
            const QString checkFile = QDir(check.path()).filePath(QStringLiteral("identity/node.key"));
            if (bytes.isEmpty() || !makePrivateDirectory(QFileInfo(checkFile).absolutePath().toStdString()) ||
                !writeSecretFile(checkFile.toStdString(),
                                 std::string_view(bytes.constData(), size_t(bytes.size())))) {
                message = tr("Cannot read %1.").arg(source);
            } else if (auto identity = NodeIdentity::loadOrCreate(check.path().toStdString()); !identity) {
                message = tr("Not an identity key: %1").arg(QString::fromStdString(identity.error().message));
            } else {
                ok = true;
                message = tr("Identity %1 imported; contributing restarts with it.")
                              .arg(QString::fromStdString(identity->shortId()));
            }
            QMetaObject::invokeMethod(this, [this, ok, message, bytes, dataDir, wasRunning] {
                m_window->setBanner(message);
                if (!ok)
                    return;
                // Replace the key only while the engine is stopped, then start it again.
                auto replace = [this, bytes, dataDir, wasRunning] {
                    m_writer.start([this, bytes, dataDir, wasRunning] {
                        const QString target = QDir(dataDir).filePath(QStringLiteral("identity/node.key"));
                        (void)makePrivateDirectory(QFileInfo(target).absolutePath().toStdString());
                        QFile::remove(target);
                        auto written = writeSecretFile(
                            target.toStdString(), std::string_view(bytes.constData(), size_t(bytes.size())));
                        QMetaObject::invokeMethod(this, [this, written, wasRunning] {
                            if (!written)
                                m_window->setBanner(
                                    tr("Import failed: %1")
                                        .arg(QString::fromStdString(written.error().message)));
                            m_engine->reconfigure(m_settings);
                            if (wasRunning)
                                startEngine();
                        });
                    });
                };
                if (m_engine->isRunning()) {
                    auto* once = new QObject(this);
                    connect(m_engine.get(), &EngineController::stopped, once, [once, replace] {
                        once->deleteLater();
                        replace();
                    });
                    m_engine->stop();
                } else {
                    replace();
                }
            });
        });
    });
    connect(m_prompt, &PromptPage::completionEnded, this, &DesktopApp::refreshCredits);
    connect(m_tray, &TrayController::openDashboardRequested, this, &DesktopApp::raiseWindow);
    connect(m_tray, &TrayController::quitRequested, this, &DesktopApp::quit);
    connect(m_window.get(), &MainWindow::closeRequested, this, &DesktopApp::quit);
    connect(&m_api, &ApiClient::creditsReady, this, [this](const CreditSummary& credits) {
        const QDateTime now = QDateTime::currentDateTime();
        m_overview->showCredits(credits, now);
        m_tray->notify(m_tray->notifier().onBalance(credits.available, now));
    });
    connect(&m_api, &ApiClient::creditsFailed, m_overview, &OverviewPage::showCreditsUnavailable);
    // Balances change slowly (verification windows are minutes): a request every 2 minutes, and after each
    // prompt; nothing polls faster, so the idle app stays idle.
    m_creditsTimer.setInterval(120000);
    m_bindRetry.setSingleShot(true);
    m_bindRetry.setInterval(60000);
    connect(&m_bindRetry, &QTimer::timeout, this, &DesktopApp::startEngine);
    connect(&m_creditsTimer, &QTimer::timeout, this, &DesktopApp::refreshCredits);
}

void DesktopApp::applyPreferences(const AppPreferences& p) {
    switch (p.theme) {
    case Theme::System:
        QApplication::setPalette(m_systemPalette);
        break;
    case Theme::Light:
        QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
        QApplication::setPalette(QApplication::style()->standardPalette());
        break;
    case Theme::Dark:
        QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
        QApplication::setPalette(darkPalette());
        break;
    }
}

void DesktopApp::start() {
    onStats(m_engine->stats());
    if (!m_work.isEmpty())
        m_overview->showWork(m_work, QDateTime::currentDateTime()); // kept from earlier runs
    m_creditsTimer.start();
    if (m_firstRun) {
        m_wizard = std::make_unique<FirstRunWizard>(*m_engine, m_api, m_settings);
        connect(m_wizard.get(), &QWizard::accepted, this, &DesktopApp::applyWizard);
        connect(m_wizard.get(), &QWizard::rejected, this, [this] {
            m_window->setBanner(
                tr("Setup was not finished, so this computer does not contribute yet. Set a server "
                   "in Account & settings and press Apply."));
            m_window->raiseAndShow();
        });
        m_wizard->show();
        return;
    }
    if (m_settings.validate())
        startEngine();
    else
        m_window->setBanner(tr("No server is set: choose one in Account & settings."));
    refreshCredits();
    m_prompt->refreshModels();
    if (!m_options.minimized || !m_options.useTray)
        m_window->show();
}

void DesktopApp::applyWizard() {
    const WizardResult r = m_wizard->result();
    m_settings.serverUrl = r.serverUrl;
    m_settings.tls = r.tls;
    m_settings.budgets.enabledDevices =
        r.enabledDevices; // the wizard keeps the default while none are listed
    m_settings.rules = r.rules;
    m_accountKey = r.accountKey;
    m_appSettings.setValue(QStringLiteral("setup_done"), true);
    m_firstRun = false;
    saveNodeSettings();
    saveAccountKey();
    updateEndpoint();
    m_contribute->setBudgets(m_settings.budgets);
    m_schedule->setRules(m_settings.rules);
    m_settingsPage->setNodeSettings(m_settings);
    m_settingsPage->setAccountKey(m_accountKey);
    m_engine->reconfigure(m_settings);
    if (auto valid = m_settings.validate(); !valid) {
        m_window->setBanner(tr("Not started: %1").arg(QString::fromStdString(valid.error().message)));
        m_window->raiseAndShow();
        return;
    }
    startEngine();
    refreshCredits();
    m_prompt->refreshModels();
    if (!m_options.useTray)
        m_window->raiseAndShow();
}

void DesktopApp::startEngine() {
    bindAccount(true);
}

void DesktopApp::bindAccount(bool startAfter) {
    m_bindRetry.stop();
    if (m_accountKey.isEmpty()) {
        if (startAfter && !m_engine->isRunning())
            m_engine->start();
        return;
    }
    const node::NodeSettings settings = m_settings;
    const QString key = m_accountKey;
    m_writer.start([this, settings, key, startAfter] {
        // Writer thread: loading (or creating) the identity reads and may write the key file.
        auto identity = NodeIdentity::loadOrCreate(settings.dataDir.toStdString());
        QMetaObject::invokeMethod(this, [this, identity, settings, key, startAfter] {
            if (m_quitting)
                return;
            if (!identity) {
                m_window->setBanner(tr("This computer's identity cannot be loaded: %1")
                                        .arg(QString::fromStdString(identity.error().message)));
                return;
            }
            const QString nodeId = QString::fromStdString(identity->nodeId());
            m_binder = std::make_unique<node::AccountBinder>(settings.serverUrl, settings.tls, *identity);
            node::AccountBinder* binder = m_binder.get();
            connect(
                binder, &node::AccountBinder::bound, this,
                [this, startAfter](const QString& account, const QString&, bool alreadyBound) {
                    const QString before = m_appSettings.value(QStringLiteral("bound_account")).toString();
                    m_boundAccount = account;
                    m_appSettings.setValue(QStringLiteral("bound_account"), account);
                    qInfo("node bound to account %s%s", qPrintable(account),
                          alreadyBound ? " (already bound)" : "");
                    m_window->setBanner(!alreadyBound && !before.isEmpty() && before != account
                                            ? tr("This computer is now linked to account %1: its verified "
                                                 "earnings go there from now on.")
                                                  .arg(account)
                                            : QString());
                    if (m_bindingRefused) // the operator unbound it, or the earlier key is back
                        m_window->setNotice(QString());
                    m_bindingRefused = false;
                    if (startAfter && !m_quitting && !m_engine->isRunning())
                        m_engine->start();
                });
            connect(binder, &node::AccountBinder::failed, this,
                    [this, binder, startAfter, nodeId](const QString& reason) {
                        if (binder->lastFailureHttpStatus() == 409) {
                            onBindingRefused(reason, nodeId);
                            if (startAfter && !m_quitting && !m_engine->isRunning())
                                m_engine->start(); // its binding stands: it earns for the account it has
                            return;
                        }
                        // Earnings must go to the account the volunteer meant, so the engine waits for the
                        // binding (a running engine keeps the binding it has).
                        m_window->setBanner(
                            m_engine->isRunning()
                                ? tr("This computer could not be linked to the account of the new key yet "
                                     "(%1). DeCLAI tries again in a minute.")
                                      .arg(reason)
                                : tr("This computer could not be linked to your account yet (%1). DeCLAI "
                                     "tries again in a minute; contributing starts once it is linked.")
                                      .arg(reason));
                        m_bindRetry.start();
                    });
            binder->bind(key);
        });
    });
}

void DesktopApp::onBindingRefused(const QString& reason, const QString& nodeId) {
    // The ledger never moves a bound node to another account (that would redirect its earnings), so there
    // is nothing to retry: say where the earnings go and what the volunteer can do.
    const QString account = m_appSettings.value(QStringLiteral("bound_account")).toString();
    m_boundAccount = account;
    m_bindingRefused = true;
    const QString where = account.isEmpty() ? tr("the account it was linked to first")
                                            : tr("account %1, the one it was linked to first").arg(account);
    m_window->setNotice(
        tr("This computer stays linked to %1, so its verified earnings keep going there. The ledger refuses "
           "to move a computer to another account, so that nobody can redirect its earnings. Prompts are "
           "paid from the account of the key in Account & settings. To earn for that account, ask the "
           "server's operator to unbind this computer (declai-server node unbind %2) and press Apply again, "
           "or go back to the earlier key.\nThe server said: %3")
            .arg(where, nodeId, reason));
    m_window->setBanner(QString());
    qWarning("binding refused: %s", qPrintable(reason));
}

void DesktopApp::applySettings(const node::NodeSettings& settings, const QString& accountKey) {
    const bool engineChanged = settings.serverUrl != m_settings.serverUrl ||
                               settings.dataDir != m_settings.dataDir ||
                               settings.tls.caFile != m_settings.tls.caFile ||
                               settings.tls.pinnedFingerprint != m_settings.tls.pinnedFingerprint;
    const bool keyChanged = accountKey != m_accountKey;
    m_settings = settings;
    m_accountKey = accountKey;
    m_appSettings.setValue(QStringLiteral("setup_done"), true);
    saveNodeSettings();
    saveAccountKey();
    updateEndpoint();
    m_window->setBanner(QString());
    if (engineChanged) {
        const bool running = m_engine->isRunning();
        m_engine->reconfigure(m_settings); // a running engine drains and starts again with these
        if (!running)
            startEngine();
        else if (keyChanged)
            bindAccount(false);
    } else if (keyChanged || m_bindingRefused) { // after a refusal, Apply asks again (an operator unbound it)
        // A new account key: the node is bound to that account (signed binding), or the ledger says why
        // not (onBindingRefused). A stopped engine starts once the binding is settled.
        bindAccount(!m_engine->isRunning() && bool(m_settings.validate()));
    }
    refreshCredits();
    m_prompt->refreshModels();
}

void DesktopApp::saveNodeSettings() {
    const node::NodeSettings copy = m_settings;
    const QString file = m_paths.nodeSettingsFile;
    m_writer.start([copy, file] {
        if (auto saved = copy.save(file); !saved) // writer thread
            qWarning("settings: %s", saved.error().message.c_str());
    });
}

void DesktopApp::saveAccountKey() {
    const QString file = accountKeyFile();
    const QByteArray key = m_accountKey.toUtf8();
    m_writer.start([file, key] {
        // Writer thread: the key is a credential, so the file is 0600 and written whole or not at all.
        QFile::remove(file);
        if (key.isEmpty())
            return;
        (void)makePrivateDirectory(QFileInfo(file).absolutePath().toStdString());
        if (auto written =
                writeSecretFile(file.toStdString(), std::string_view(key.constData(), size_t(key.size())));
            !written)
            qWarning("account key: %s", written.error().message.c_str());
    });
}

void DesktopApp::flushWrites() {
    m_writer.waitForDone();
    m_appSettings.sync();
}

void DesktopApp::refreshCredits() {
    if (m_api.isConfigured() && !m_accountKey.isEmpty())
        m_api.fetchCredits();
    else if (m_accountKey.isEmpty())
        m_overview->showCreditsUnavailable({ApiError::Kind::Unauthorized, QString()});
}

void DesktopApp::onStats(const EngineStats& stats) {
    const QDateTime now = QDateTime::currentDateTime();
    m_tray->showStats(stats);
    m_overview->showStats(stats, now);
    m_contribute->showStats(stats);
    m_schedule->showStats(stats);
    m_settingsPage->showIdentity(stats.fingerprint, stats.nodeId);
    if (m_work.record(now, stats.layerTokensServed) && !m_workSave.isActive())
        m_workSave.start();
    if (!m_work.isEmpty())
        m_overview->showWork(m_work, now);
}

void DesktopApp::raiseWindow() {
    if (FirstRunWizard* wizard = m_wizard.get(); wizard && wizard->isVisible()) {
        wizard->raise();
        wizard->activateWindow();
        return;
    }
    m_window->raiseAndShow();
}

void DesktopApp::quit() {
    if (m_quitting)
        return;
    m_quitting = true;
    m_creditsTimer.stop();
    m_bindRetry.stop();
    m_window->hide();
    if (FirstRunWizard* wizard = m_wizard.get())
        wizard->hide();
    auto done = [this] {
        if (m_workSave.isActive())
            saveWork();
        flushWrites();
        Q_EMIT finished();
    };
    if (!m_engine->isRunning()) {
        QMetaObject::invokeMethod(this, done, Qt::QueuedConnection);
        return;
    }
    connect(m_engine.get(), &EngineController::stopped, this, done);
    m_engine->stop(); // drains running sessions (bounded by the settings' drain grace), joins threads
}

} // namespace declai::desktop
