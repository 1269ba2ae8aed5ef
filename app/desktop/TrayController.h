// The tray icon and its menu: the icon and tooltip follow the engine's state (TrayPresenter); Snooze 1 hour,
// Pause until resumed, Resume, Open dashboard, Quit; notifications (Notifier decides which). Where the
// desktop has no tray, no icon is created and the composition root opens the dashboard instead.
#pragma once

#include "EngineController.h"
#include "Notifier.h"
#include "TrayPresenter.h"

#include <QHash>
#include <QIcon>
#include <QObject>

class QAction;
class QMenu;
class QSystemTrayIcon;

namespace declai::desktop {

class TrayController : public QObject {
    Q_OBJECT
public:
    // `useTray` false: keep the menu (for the window's menu and screenshots) but show no icon.
    TrayController(EngineController& engine, bool useTray, QObject* parent = nullptr);
    ~TrayController() override;

    void showStats(const EngineStats& stats);
    void notify(const std::optional<Notification>& notification);
    Notifier& notifier() { return m_notifier; }

    QMenu* menu() const { return m_menu; }
    QSystemTrayIcon* trayIcon() const { return m_tray; }
    const TrayPresentation& presentation() const { return m_presentation; }
    QIcon icon(const QString& path);

Q_SIGNALS:
    void openDashboardRequested();
    void quitRequested();
    // The first time the tray drew the icon on screen (an XEmbed tray: the icon's window was docked and
    // painted; for the start-up measurement). Not emitted where the tray is a D-Bus service that draws
    // the icon itself (StatusNotifierItem): there is no paint to see.
    void iconShown();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    EngineController& m_engine;
    QMenu* m_menu = nullptr;
    QSystemTrayIcon* m_tray = nullptr;
    QAction* m_status = nullptr;
    QAction* m_snooze = nullptr;
    QAction* m_pause = nullptr;
    QAction* m_resume = nullptr;
    Notifier m_notifier;
    TrayPresentation m_presentation;
    QHash<QString, QIcon> m_icons;
    bool m_iconSeen = false;
};

} // namespace declai::desktop
