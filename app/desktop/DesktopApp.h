// The composition root of the desktop app: loads the settings, builds the engine controller, the API
// client, the pages, the dashboard window, the tray and (on a first run) the wizard, and wires them. main()
// is a thin shell around it; the UI tests build it with their own folders. Threading: GUI thread; settings
// files are written on one writer thread (m_writer), the engine works on its own threads.
#pragma once

#include "AccountBinder.h"
#include "ApiClient.h"
#include "Autostart.h"
#include "BenchmarkStore.h"
#include "EngineController.h"
#include "LogBuffer.h"
#include "PromptHistory.h"
#include "SettingsPage.h"
#include "WorkHistory.h"

#include <QObject>
#include <QPointer>
#include <QSettings>
#include <QThreadPool>
#include <QTimer>
#include <memory>

namespace declai::desktop {

class ContributePage;
class FirstRunWizard;
class MainWindow;
class OverviewPage;
class PromptPage;
class SchedulePage;
class TrayController;

struct DesktopPaths {
    QString nodeSettingsFile; // shared with declai-node (NodeSettings::defaultPath())
    QString appSettingsFile;  // this app's own: theme, notifications, benchmarks, prompt history
    QString genericConfigDir; // where autostart/ lives
    QString defaultDataDir;   // identity, shards, account key
    static DesktopPaths standard();
};

struct DesktopOptions {
    bool minimized = false; // --minimized: start in the tray (autostart)
    bool useTray = true;    // false where the desktop has no tray (decided by main or a test)
    QString defaultServer;  // the wizard's proposal
    QString program;        // this executable, for the autostart entry
};

class DesktopApp : public QObject {
    Q_OBJECT
public:
    // `engine` == nullptr: the in-process ContributorEngine with the loaded settings.
    DesktopApp(DesktopPaths paths, DesktopOptions options, LogBuffer& log,
               std::unique_ptr<EngineController> engine = nullptr, QObject* parent = nullptr);
    ~DesktopApp() override;

    void start();
    // Stops the engine (drained, threads joined), saves, then emits finished(). Idempotent.
    void quit();
    void raiseWindow();

    bool isFirstRun() const { return m_firstRun; }
    MainWindow& window() { return *m_window; }
    FirstRunWizard* wizard() { return m_wizard.get(); }
    EngineController& engine() { return *m_engine; }
    TrayController& tray() { return *m_tray; }
    ApiClient& api() { return m_api; }
    OverviewPage& overview() { return *m_overview; }
    ContributePage& contribute() { return *m_contribute; }
    SchedulePage& schedule() { return *m_schedule; }
    PromptPage& prompt() { return *m_prompt; }
    SettingsPage& settingsPage() { return *m_settingsPage; }
    const node::NodeSettings& nodeSettings() const { return m_settings; }
    QString accountKey() const { return m_accountKey; }
    QString boundAccount() const { return m_boundAccount; }  // empty until the binding succeeded
    bool bindingRefused() const { return m_bindingRefused; } // the ledger refused to move this node
    const PromptHistory& promptHistory() const { return m_history; }
    const WorkHistory& workHistory() const { return m_work; }
    void refreshCredits();
    // Blocks until every queued settings write has finished (quit and tests).
    void flushWrites();

Q_SIGNALS:
    void finished();

private:
    void buildUi();
    // Binds the node to the account first when there is a key (AccountBinder; idempotent), then starts.
    void startEngine();
    // Binds the node to m_accountKey's account; then starts the engine when startAfter and it is stopped.
    void bindAccount(bool startAfter);
    void onBindingRefused(const QString& reason, const QString& nodeId);
    void onStats(const EngineStats& stats);
    void applyWizard();
    void applySettings(const node::NodeSettings& settings, const QString& accountKey);
    void applyPreferences(const AppPreferences& preferences);
    void saveNodeSettings();
    void saveAccountKey();
    void updateEndpoint();
    QString accountKeyFile() const;
    void openHistories();
    void saveWork();

    DesktopPaths m_paths;
    DesktopOptions m_options;
    LogBuffer& m_log;
    QSettings m_appSettings;
    node::NodeSettings m_settings;
    QString m_settingsError;
    QString m_accountKey;
    bool m_firstRun = false;
    bool m_quitting = false;
    std::unique_ptr<EngineController> m_engine;
    ApiClient m_api;
    Autostart m_autostart;
    BenchmarkStore m_benchmarks;
    PromptHistory m_history;
    WorkHistory m_work;
    QString m_workFile;
    QTimer m_workSave;
    QStringList m_historyProblems; // unreadable history files (shown in the banner at start)
    QThreadPool m_writer;          // one thread: settings writes never reorder
    QTimer m_creditsTimer;
    QTimer m_bindRetry; // a binding that failed (server unreachable) is tried again
    std::unique_ptr<node::AccountBinder> m_binder;
    QString m_boundAccount;
    bool m_bindingRefused = false; // the notice shows the ledger's refusal to move this node
    QPalette m_systemPalette;
    std::unique_ptr<MainWindow> m_window;
    std::unique_ptr<FirstRunWizard> m_wizard; // only on a first run
    TrayController* m_tray = nullptr;
    OverviewPage* m_overview = nullptr;
    ContributePage* m_contribute = nullptr;
    SchedulePage* m_schedule = nullptr;
    PromptPage* m_prompt = nullptr;
    SettingsPage* m_settingsPage = nullptr;
};

} // namespace declai::desktop
