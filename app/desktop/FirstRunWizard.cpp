#include "FirstRunWizard.h"

#include "DeviceIds.h"

#include <QButtonGroup>
#include <QFormLayout>
#include <QHostInfo>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QVBoxLayout>

namespace declai::desktop {

// The account page creates the account when Next is pressed: Next waits for the server's answer (the
// request runs asynchronously; the page says so) and moves on by itself once the key arrived.
class AccountWizardPage : public QWizardPage {
public:
    explicit AccountWizardPage(FirstRunWizard& wizard) : m_wizard(wizard) {}
    bool validatePage() override {
        if (!m_wizard.m_create->isChecked() || !m_wizard.m_createdKey.isEmpty())
            return true;
        if (m_waiting)
            return false;
        const QUrl base = ApiEndpoint::httpBaseFrom(QUrl(m_wizard.m_server->text().trimmed()));
        ApiEndpoint endpoint;
        endpoint.baseUrl = base;
        endpoint.tls.caFile = m_wizard.m_ca->text().trimmed();
        endpoint.tls.pinnedFingerprint = m_wizard.m_pin->text().trimmed();
        m_wizard.m_api.setEndpoint(endpoint);
        m_waiting = true;
        m_wizard.m_accountStatus->setText(FirstRunWizard::tr("Creating your account…"));
        m_wizard.m_api.createAccount(QHostInfo::localHostName());
        return false;
    }
    void finishCreate(const QString& key, const QString& error) {
        m_waiting = false;
        if (!key.isEmpty()) {
            m_wizard.m_createdKey = key;
            m_wizard.m_accountStatus->setText(
                FirstRunWizard::tr("Account created. Its key is kept in your data folder."));
            m_wizard.next();
        } else {
            m_wizard.m_accountStatus->setText(error);
        }
    }

private:
    FirstRunWizard& m_wizard;
    bool m_waiting = false;
};

FirstRunWizard::FirstRunWizard(EngineController& engine, ApiClient& api, const node::NodeSettings& defaults,
                               QWidget* parent)
    : QWizard(parent), m_engine(engine), m_api(api), m_defaults(defaults) {
    setWindowTitle(tr("Welcome to DeCLAI"));
    setWizardStyle(QWizard::ClassicStyle);
    setOption(QWizard::NoBackButtonOnStartPage);
    setMinimumSize(620, 460);
    setPixmap(QWizard::LogoPixmap, QIcon(QStringLiteral(":/icons/declai.svg")).pixmap(QSize(48, 48)));

    // 1. Server
    auto* server = new QWizardPage(this);
    server->setTitle(tr("Step 1 of 4 — Which network do you join?"));
    server->setSubTitle(tr("DeCLAI runs language models on volunteers' computers."));
    auto* sf = new QFormLayout(server);
    auto* serverIntro =
        new QLabel(tr("DeCLAI lends this computer to a community language-model network when you "
                      "are not using it, and pays you credits you can spend on prompts. The "
                      "defaults below are fine for most people."),
                   server);
    serverIntro->setWordWrap(true);
    sf->addRow(serverIntro);
    m_server = new QLineEdit(defaults.serverUrl.toString(), server);
    m_server->setAccessibleName(tr("Server address"));
    sf->addRow(tr("&Server address:"), m_server);
    m_ca = new QLineEdit(defaults.tls.caFile, server);
    m_ca->setPlaceholderText(tr("optional: the server's certificate file"));
    sf->addRow(tr("&Certificate file:"), m_ca);
    m_pin = new QLineEdit(defaults.tls.pinnedFingerprint, server);
    m_pin->setPlaceholderText(tr("optional: SHA256:… fingerprint"));
    sf->addRow(tr("or &fingerprint:"), m_pin);
    setPage(ServerPage, server);

    // 2. Account
    auto* account = new AccountWizardPage(*this);
    account->setTitle(tr("Step 2 of 4 — Your account"));
    account->setSubTitle(tr("Credits this computer earns go to your account; the Prompt page spends them."));
    auto* av = new QVBoxLayout(account);
    m_create = new QRadioButton(tr("&Create a new account (recommended)"), account);
    m_useKey = new QRadioButton(tr("I &have an account key:"), account);
    m_key = new QLineEdit(account);
    m_key->setEchoMode(QLineEdit::Password);
    m_key->setEnabled(false);
    m_noAccount = new QRadioButton(tr("Contribute &without an account for now"), account);
    m_create->setChecked(true);
    m_accountStatus = new QLabel(account);
    m_accountStatus->setWordWrap(true);
    av->addWidget(m_create);
    av->addWidget(m_useKey);
    av->addWidget(m_key);
    av->addWidget(m_noAccount);
    av->addSpacing(8);
    av->addWidget(m_accountStatus);
    av->addStretch(1);
    connect(m_useKey, &QRadioButton::toggled, m_key, &QLineEdit::setEnabled);
    setPage(AccountPage, account);
    connect(&m_api, &ApiClient::accountCreated, this,
            [account](const QString&, const QString& key) { account->finishCreate(key, QString()); });
    connect(&m_api, &ApiClient::accountFailed, this, [this, account](const ApiError& e) {
        if (e.kind == ApiError::Kind::NotOffered) {
            // Honest fallback: the node still contributes; an account can be added later in the settings.
            m_noAccount->setChecked(true);
            account->finishCreate(QString(), tr("This server does not offer self-registration yet. You can "
                                                "contribute without an account now and add a key later in "
                                                "Account & settings."));
        } else {
            account->finishCreate(QString(), tr("The account could not be created: %1").arg(e.message));
        }
    });

    // 3. Devices
    auto* devices = new QWizardPage(this);
    devices->setTitle(tr("Step 3 of 4 — What may DeCLAI use?"));
    devices->setSubTitle(tr("Tick the devices to contribute. A quick benchmark tells the server what this "
                            "computer can do (optional, about ten seconds)."));
    auto* dv = new QVBoxLayout(devices);
    m_devices = new QListWidget(devices);
    m_devices->setAccessibleName(tr("Devices"));
    dv->addWidget(m_devices);
    auto* benchRow = new QHBoxLayout;
    m_bench = new QPushButton(tr("Run a &quick benchmark"), devices);
    m_benchProgress = new QProgressBar(devices);
    m_benchProgress->setRange(0, 100);
    m_benchProgress->setVisible(false);
    m_benchResult = new QLabel(devices);
    benchRow->addWidget(m_bench);
    benchRow->addWidget(m_benchProgress, 1);
    benchRow->addWidget(m_benchResult, 1);
    dv->addLayout(benchRow);
    setPage(DevicesPage, devices);
    connect(&m_engine, &EngineController::devicesChanged, this, &FirstRunWizard::fillDevices);
    connect(m_bench, &QPushButton::clicked, this, [this] {
        m_bench->setEnabled(false);
        m_benchProgress->setValue(0);
        m_benchProgress->setVisible(true);
        m_benchResult->clear();
        m_engine.runBenchmark(QStringLiteral("cpu"));
    });
    connect(&m_engine, &EngineController::benchmarkProgress, this,
            [this](const QString&, int percent) { m_benchProgress->setValue(percent); });
    connect(&m_engine, &EngineController::benchmarkFinished, this, [this](const BenchmarkResult& r) {
        m_bench->setEnabled(true);
        m_benchProgress->setVisible(false);
        m_benchResult->setText(r.ok ? tr("CPU: %1 GFLOP/s, %2 GB/s")
                                          .arg(QLocale().toString(r.f16Gflops, 'f', 1),
                                               QLocale().toString(r.memoryBandwidthGbps, 'f', 1))
                                    : tr("Benchmark: %1").arg(r.error));
    });
    fillDevices(m_engine.devices());

    // 4. Schedule
    auto* schedule = new QWizardPage(this);
    schedule->setTitle(tr("Step 4 of 4 — When may DeCLAI compute?"));
    schedule->setSubTitle(tr("You can draw an exact weekly schedule later on the Schedule page."));
    auto* sv = new QVBoxLayout(schedule);
    m_schedule = new QButtonGroup(schedule);
    const std::pair<SchedulePreset, QString> presets[] = {
        {Always,
         tr("&Whenever the computer is on (recommended) — pauses on battery and during full-screen apps")},
        {WhenIdle, tr("Only when I am &away (idle for 5 minutes)")},
        {NightsAndWeekends, tr("&Nights (19:00–08:00) and weekends")},
    };
    for (const auto& [id, text] : presets) {
        auto* button = new QRadioButton(text, schedule);
        m_schedule->addButton(button, id);
        sv->addWidget(button);
    }
    m_schedule->button(Always)->setChecked(true);
    auto* later =
        new QLabel(tr("Contributing starts when you press Finish. The tray icon shows what DeCLAI is "
                      "doing; right-click it to snooze or pause."),
                   schedule);
    later->setWordWrap(true);
    sv->addSpacing(12);
    sv->addWidget(later);
    sv->addStretch(1);
    setPage(SchedulePage, schedule);
}

void FirstRunWizard::fillDevices(const QList<DeviceInfo>& devices) {
    m_devices->clear();
    for (const DeviceInfo& d : devices) {
        auto* item = new QListWidgetItem(m_devices);
        if (d.available) {
            item->setText(d.memoryTotalBytes
                              ? tr("%1 (%2, %3)")
                                    .arg(d.name.isEmpty() ? d.id : d.name, d.backend.toUpper(),
                                         QLocale().formattedDataSize(qint64(d.memoryTotalBytes)))
                              : tr("%1 (%2)").arg(d.name.isEmpty() ? d.id : d.name, d.backend.toUpper()));
            item->setFlags(Qt::ItemIsUserCheckable | Qt::ItemIsEnabled | Qt::ItemIsSelectable);
            item->setCheckState(m_defaults.budgets.enabledDevices.contains(settingsDeviceId(d)) ? Qt::Checked
                                                                                 : Qt::Unchecked);
        } else {
            item->setText(tr("%1 — not usable here: %2").arg(d.backend.toUpper(), d.unavailableReason));
            item->setFlags(Qt::NoItemFlags);
        }
        item->setData(Qt::UserRole, settingsDeviceId(d));
    }
    if (devices.isEmpty())
        new QListWidgetItem(tr("Looking for devices (CPU, OpenCL, Vulkan, CUDA, HIP)… The CPU is used "
                               "unless you untick it."),
                            m_devices);
}

WizardResult FirstRunWizard::result() const {
    WizardResult r;
    r.serverUrl = QUrl(m_server->text().trimmed(), QUrl::StrictMode);
    r.tls = m_defaults.tls;
    r.tls.caFile = m_ca->text().trimmed();
    r.tls.pinnedFingerprint = m_pin->text().trimmed();
    if (m_create->isChecked())
        r.accountKey = m_createdKey;
    else if (m_useKey->isChecked())
        r.accountKey = m_key->text().trimmed();
    bool listed = false; // the placeholder "Looking for devices…" has no device id
    for (int i = 0; i < m_devices->count(); ++i) {
        const QListWidgetItem* item = m_devices->item(i);
        listed = listed || !item->data(Qt::UserRole).toString().isEmpty();
        if ((item->flags() & Qt::ItemIsUserCheckable) && item->checkState() == Qt::Checked)
            r.enabledDevices << item->data(Qt::UserRole).toString();
    }
    if (!listed)
        r.enabledDevices = m_defaults.budgets.enabledDevices; // devices not listed yet: keep the default
    r.rules = m_defaults.rules;
    switch (SchedulePreset(m_schedule->checkedId())) {
    case Always:
        r.rules.grid = WeeklyGrid::allOn();
        r.rules.idleMinutesRequired = 0;
        break;
    case WhenIdle:
        r.rules.grid = WeeklyGrid::allOn();
        r.rules.idleMinutesRequired = 5;
        break;
    case NightsAndWeekends:
        r.rules.grid = WeeklyGrid::allOff();
        for (int day = 1; day <= 7; ++day)
            for (int hour = 0; hour < 24; ++hour)
                r.rules.grid.set(day, hour, day >= 6 || hour < 8 || hour >= 19);
        r.rules.idleMinutesRequired = 0;
        break;
    }
    return r;
}

} // namespace declai::desktop
