// Account & settings: server address and certificate (CA file or pinned fingerprint), the account key,
// the identity fingerprint with export/import, start at login, data folder, theme, notifications, and the
// log with a filter. Edits are applied with Apply (a new server or data folder restarts the engine).
#pragma once

#include "LogBuffer.h"
#include "NodeSettings.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;

namespace declai::desktop {

class Autostart;

enum class Theme { System, Light, Dark };

struct AppPreferences {
    Theme theme = Theme::System;
    bool notifications = true;
};

class SettingsPage : public QWidget {
    Q_OBJECT
public:
    SettingsPage(Autostart& autostart, LogBuffer& log, QWidget* parent = nullptr);

    void setNodeSettings(const node::NodeSettings& settings);
    void setAccountKey(const QString& key);
    void setPreferences(const AppPreferences& preferences);
    void showIdentity(const QString& fingerprint, const QString& nodeId);

    // What the form says now, over the settings last set (budgets and rules are kept as they are).
    node::NodeSettings editedNodeSettings() const;
    QString editedAccountKey() const;

Q_SIGNALS:
    void applied(const declai::node::NodeSettings& settings, const QString& accountKey);
    void preferencesChanged(const declai::desktop::AppPreferences& preferences);
    void exportIdentityRequested(const QString& file);
    void importIdentityRequested(const QString& file);

private:
    void refreshLog();

    Autostart& m_autostart;
    LogBuffer& m_log;
    node::NodeSettings m_settings;
    QLineEdit* m_server = nullptr;
    QLineEdit* m_ca = nullptr;
    QLineEdit* m_pin = nullptr;
    QLineEdit* m_key = nullptr;
    QLineEdit* m_dataDir = nullptr;
    QLabel* m_fingerprint = nullptr;
    QCheckBox* m_autostartBox = nullptr;
    QComboBox* m_theme = nullptr;
    QCheckBox* m_notifications = nullptr;
    QLineEdit* m_logFilter = nullptr;
    QComboBox* m_logLevel = nullptr;
    QPlainTextEdit* m_logView = nullptr;
    QLabel* m_message = nullptr;
    bool m_loading = false;
};

} // namespace declai::desktop

Q_DECLARE_METATYPE(declai::desktop::AppPreferences)
