#include "SettingsPage.h"

#include "Autostart.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFontDatabase>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSplitter>
#include <QVBoxLayout>

namespace declai::desktop {

SettingsPage::SettingsPage(Autostart& autostart, LogBuffer& log, QWidget* parent)
    : QWidget(parent), m_autostart(autostart), m_log(log) {
    qRegisterMetaType<AppPreferences>();
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(tr("<h2>Account &amp; settings</h2>"), this));
    auto* columns = new QHBoxLayout;
    layout->addLayout(columns);

    auto* left = new QVBoxLayout;
    columns->addLayout(left, 1);
    auto* serverBox = new QGroupBox(tr("Server and account"), this);
    auto* server = new QFormLayout(serverBox);
    m_server = new QLineEdit(serverBox);
    m_server->setPlaceholderText(QStringLiteral("wss://declai.example.org:7420"));
    server->addRow(tr("&Server address:"), m_server);
    auto* caRow = new QHBoxLayout;
    m_ca = new QLineEdit(serverBox);
    m_ca->setPlaceholderText(tr("system certificates"));
    auto* caBrowse = new QPushButton(tr("Bro&wse…"), serverBox);
    caRow->addWidget(m_ca);
    caRow->addWidget(caBrowse);
    server->addRow(tr("Certificate (CA file):"), caRow);
    m_pin = new QLineEdit(serverBox);
    m_pin->setPlaceholderText(QStringLiteral("SHA256:…"));
    server->addRow(tr("or &pinned fingerprint:"), m_pin);
    m_key = new QLineEdit(serverBox);
    m_key->setEchoMode(QLineEdit::Password);
    m_key->setPlaceholderText(tr("none: contribute without an account"));
    server->addRow(tr("Account &key:"), m_key);
    left->addWidget(serverBox);

    auto* identityBox = new QGroupBox(tr("This computer's identity"), this);
    auto* identity = new QFormLayout(identityBox);
    m_fingerprint = new QLabel(tr("shown once the engine has started"), identityBox);
    m_fingerprint->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    identity->addRow(tr("Fingerprint:"), m_fingerprint);
    auto* idButtons = new QHBoxLayout;
    auto* exportButton = new QPushButton(tr("&Export identity…"), identityBox);
    auto* importButton = new QPushButton(tr("&Import identity…"), identityBox);
    idButtons->addWidget(exportButton);
    idButtons->addWidget(importButton);
    idButtons->addStretch(1);
    identity->addRow(idButtons);
    left->addWidget(identityBox);

    auto* appBox = new QGroupBox(tr("This app"), this);
    auto* app = new QFormLayout(appBox);
    m_autostartBox = new QCheckBox(tr("Start DeCLAI when I log in (in the tray)"), appBox);
    app->addRow(m_autostartBox);
    auto* dataRow = new QHBoxLayout;
    m_dataDir = new QLineEdit(appBox);
    auto* dataBrowse = new QPushButton(tr("Brow&se…"), appBox);
    dataRow->addWidget(m_dataDir);
    dataRow->addWidget(dataBrowse);
    app->addRow(tr("Data folder:"), dataRow);
    m_theme = new QComboBox(appBox);
    m_theme->addItem(tr("Follow the system"), int(Theme::System));
    m_theme->addItem(tr("Light"), int(Theme::Light));
    m_theme->addItem(tr("Dark"), int(Theme::Dark));
    app->addRow(tr("&Theme:"), m_theme);
    m_notifications = new QCheckBox(tr("Show &notifications (first credits, milestones, problems)"), appBox);
    app->addRow(m_notifications);
    left->addWidget(appBox);

    auto* applyRow = new QHBoxLayout;
    m_message = new QLabel(this);
    m_message->setWordWrap(true);
    auto* apply = new QPushButton(tr("&Apply"), this);
    applyRow->addWidget(m_message, 1);
    applyRow->addWidget(apply);
    left->addLayout(applyRow);
    left->addStretch(1);

    auto* logBox = new QGroupBox(tr("Log"), this);
    auto* lv = new QVBoxLayout(logBox);
    auto* filterRow = new QHBoxLayout;
    m_logFilter = new QLineEdit(logBox);
    m_logFilter->setPlaceholderText(tr("Filter…"));
    m_logFilter->setClearButtonEnabled(true);
    m_logFilter->setAccessibleName(tr("Log filter"));
    m_logLevel = new QComboBox(logBox);
    m_logLevel->addItem(tr("Everything"), int(QtDebugMsg));
    m_logLevel->addItem(tr("Information and up"), int(QtInfoMsg));
    m_logLevel->addItem(tr("Warnings and errors"), int(QtWarningMsg));
    m_logLevel->setCurrentIndex(1);
    m_logLevel->setAccessibleName(tr("Log level"));
    filterRow->addWidget(m_logFilter, 1);
    filterRow->addWidget(m_logLevel);
    lv->addLayout(filterRow);
    m_logView = new QPlainTextEdit(logBox);
    m_logView->setReadOnly(true);
    m_logView->setAccessibleName(tr("Log"));
    m_logView->setLineWrapMode(QPlainTextEdit::WidgetWidth); // long lines wrap: no sideways scrolling
    QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    m_logView->setFont(mono);
    lv->addWidget(m_logView);
    columns->addWidget(logBox, 1);

    connect(caBrowse, &QPushButton::clicked, this, [this] {
        const QString file =
            QFileDialog::getOpenFileName(this, tr("Server certificate"), m_ca->text(),
                                         tr("Certificates (*.crt *.pem *.der);;All files (*)"));
        if (!file.isEmpty())
            m_ca->setText(file);
    });
    connect(dataBrowse, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Data folder"), m_dataDir->text());
        if (!dir.isEmpty())
            m_dataDir->setText(dir);
    });
    connect(exportButton, &QPushButton::clicked, this, [this] {
        const QString file =
            QFileDialog::getSaveFileName(this, tr("Export identity"), QStringLiteral("declai-node.key"),
                                         tr("Key files (*.key);;All files (*)"));
        if (!file.isEmpty())
            Q_EMIT exportIdentityRequested(file);
    });
    connect(importButton, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(this, tr("Import identity"), QString(),
                                                          tr("Key files (*.key);;All files (*)"));
        if (!file.isEmpty())
            Q_EMIT importIdentityRequested(file);
    });
    connect(apply, &QPushButton::clicked, this, [this] {
        const node::NodeSettings edited = editedNodeSettings();
        if (auto valid = edited.validate(); !valid) {
            m_message->setText(tr("Not applied: %1").arg(QString::fromStdString(valid.error().message)));
            return;
        }
        m_message->setText(tr("Applied."));
        Q_EMIT applied(edited, editedAccountKey());
    });
    connect(m_autostartBox, &QCheckBox::toggled, this, [this](bool on) {
        if (m_loading)
            return;
        if (auto done = m_autostart.setEnabled(on); !done)
            m_message->setText(tr("Start at login: %1").arg(QString::fromStdString(done.error().message)));
    });
    auto emitPreferences = [this] {
        if (!m_loading)
            Q_EMIT preferencesChanged(
                AppPreferences{Theme(m_theme->currentData().toInt()), m_notifications->isChecked()});
    };
    connect(m_theme, &QComboBox::currentIndexChanged, this, emitPreferences);
    connect(m_notifications, &QCheckBox::toggled, this, emitPreferences);
    connect(m_logFilter, &QLineEdit::textChanged, this, &SettingsPage::refreshLog);
    connect(m_logLevel, &QComboBox::currentIndexChanged, this, &SettingsPage::refreshLog);
    connect(&m_log, &LogBuffer::lineAdded, this, [this](const LogLine& line) {
        if (line.type == QtDebugMsg && m_logLevel->currentData().toInt() != int(QtDebugMsg))
            return;
        const QString filter = m_logFilter->text();
        if (!filter.isEmpty() && !line.text.contains(filter, Qt::CaseInsensitive))
            return;
        if (m_logLevel->currentData().toInt() == int(QtWarningMsg) &&
            (line.type == QtInfoMsg || line.type == QtDebugMsg))
            return;
        m_logView->appendPlainText(LogBuffer::format(line));
    });
    m_loading = true;
    m_autostartBox->setChecked(m_autostart.isEnabled());
    m_loading = false;
    refreshLog();
}

void SettingsPage::refreshLog() {
    m_logView->setPlainText(m_log.render(m_logFilter->text(), QtMsgType(m_logLevel->currentData().toInt())));
    m_logView->verticalScrollBar()->setValue(m_logView->verticalScrollBar()->maximum());
}

void SettingsPage::setNodeSettings(const node::NodeSettings& s) {
    m_settings = s;
    m_server->setText(s.serverUrl.toString());
    m_ca->setText(s.tls.caFile);
    m_pin->setText(s.tls.pinnedFingerprint);
    m_dataDir->setText(s.dataDir);
}

void SettingsPage::setAccountKey(const QString& key) {
    m_key->setText(key);
}

void SettingsPage::setPreferences(const AppPreferences& p) {
    m_loading = true;
    m_theme->setCurrentIndex(m_theme->findData(int(p.theme)));
    m_notifications->setChecked(p.notifications);
    m_loading = false;
}

void SettingsPage::showIdentity(const QString& fingerprint, const QString& nodeId) {
    if (fingerprint.isEmpty())
        return;
    m_fingerprint->setText(fingerprint);
    m_fingerprint->setToolTip(nodeId);
}

node::NodeSettings SettingsPage::editedNodeSettings() const {
    node::NodeSettings s = m_settings;
    s.serverUrl = QUrl(m_server->text().trimmed(), QUrl::StrictMode);
    s.tls.caFile = m_ca->text().trimmed();
    s.tls.pinnedFingerprint = m_pin->text().trimmed();
    s.dataDir = m_dataDir->text().trimmed();
    return s;
}

QString SettingsPage::editedAccountKey() const {
    return m_key->text().trimmed();
}

} // namespace declai::desktop
