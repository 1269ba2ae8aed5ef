#include "TrayController.h"

#include <QApplication>
#include <QEvent>
#include <QMenu>
#include <QSystemTrayIcon>

namespace declai::desktop {

TrayController::TrayController(EngineController& engine, bool useTray, QObject* parent)
    : QObject(parent), m_engine(engine) {
    m_menu = new QMenu;
    m_status = m_menu->addAction(QString());
    m_status->setEnabled(false);
    m_menu->addSeparator();
    m_snooze = m_menu->addAction(tr("&Snooze 1 hour"));
    m_pause = m_menu->addAction(tr("&Pause until resumed"));
    m_resume = m_menu->addAction(tr("&Resume"));
    m_menu->addSeparator();
    QAction* open = m_menu->addAction(tr("&Open dashboard"));
    m_menu->addSeparator();
    QAction* quit = m_menu->addAction(tr("&Quit DeCLAI"));
    connect(m_snooze, &QAction::triggered, this,
            [this] { m_engine.pauseByUser(QDateTime::currentDateTime().addSecs(3600)); });
    connect(m_pause, &QAction::triggered, this, [this] { m_engine.pauseByUser(std::nullopt); });
    connect(m_resume, &QAction::triggered, this, [this] { m_engine.resume(); });
    connect(open, &QAction::triggered, this, &TrayController::openDashboardRequested);
    connect(quit, &QAction::triggered, this, &TrayController::quitRequested);

    if (useTray) {
        m_tray = new QSystemTrayIcon(this);
        m_tray->setContextMenu(m_menu);
        connect(m_tray, &QSystemTrayIcon::activated, this, [this](QSystemTrayIcon::ActivationReason reason) {
            if (reason == QSystemTrayIcon::Trigger || reason == QSystemTrayIcon::DoubleClick)
                Q_EMIT openDashboardRequested();
        });
    }
    showStats(m_engine.stats());
    if (m_tray) {
        // Qt draws an XEmbed tray icon in a widget of its own (objectName "QSystemTrayIconSys") that the
        // tray host docks; its first paint is the icon appearing. Watched until then, not after.
        qApp->installEventFilter(this);
        m_tray->show();
    }
}

bool TrayController::eventFilter(QObject* watched, QEvent* event) {
    if (!m_iconSeen && event->type() == QEvent::Paint && watched->isWidgetType() &&
        (watched->objectName() == QLatin1String("QSystemTrayIconSys") ||
         qstrcmp(watched->metaObject()->className(), "QSystemTrayIconSys") == 0)) {
        m_iconSeen = true;
        qApp->removeEventFilter(this);
        Q_EMIT iconShown();
    }
    return QObject::eventFilter(watched, event);
}

TrayController::~TrayController() {
    delete m_menu;
}

QIcon TrayController::icon(const QString& path) {
    auto it = m_icons.find(path);
    if (it == m_icons.end())
        it = m_icons.insert(path, QIcon(path)); // SVG: crisp at any tray size and device pixel ratio
    return *it;
}

void TrayController::showStats(const EngineStats& stats) {
    const TrayPresentation p = TrayPresenter::present(stats, QDateTime::currentDateTime());
    const bool changed = p.iconPath != m_presentation.iconPath || p.tooltip != m_presentation.tooltip;
    m_presentation = p;
    m_status->setText(p.status);
    m_snooze->setEnabled(p.canPause || p.canResume);
    m_pause->setEnabled(p.canPause || (p.canResume && stats.pauseKind == node::PauseKind::Snooze));
    m_resume->setEnabled(p.canResume);
    if (m_tray && changed) {
        m_tray->setIcon(icon(p.iconPath));
        m_tray->setToolTip(p.tooltip);
    }
    notify(m_notifier.onStats(stats, QDateTime::currentDateTime()));
}

void TrayController::notify(const std::optional<Notification>& n) {
    if (!n || !m_tray || !QSystemTrayIcon::supportsMessages())
        return;
    m_tray->showMessage(n->title, n->body,
                        n->warning ? QSystemTrayIcon::Warning : QSystemTrayIcon::Information, 8000);
}

} // namespace declai::desktop
