// The first-run wizard: server, account, devices (with a quick benchmark), schedule. Every page has a
// default a volunteer can accept blindly, so Next, Next, Next, Finish is under a minute. The wizard only
// collects answers (result()); the composition root applies them and starts the engine.
#pragma once

#include "ApiClient.h"
#include "EngineController.h"

#include <QWizard>

class QButtonGroup;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QRadioButton;

namespace declai::desktop {

struct WizardResult {
    QUrl serverUrl;
    net::ClientTlsOptions tls;
    QString accountKey; // empty = contribute without an account for now
    QStringList enabledDevices;
    ContributionRules rules;
};

class FirstRunWizard : public QWizard {
    Q_OBJECT
public:
    enum PageId { ServerPage, AccountPage, DevicesPage, SchedulePage };
    enum SchedulePreset { Always, WhenIdle, NightsAndWeekends };

    FirstRunWizard(EngineController& engine, ApiClient& api, const node::NodeSettings& defaults,
                   QWidget* parent = nullptr);

    WizardResult result() const;

    // For tests and the screenshots: the widgets a volunteer fills in.
    QLineEdit* serverEdit() const { return m_server; }
    QLineEdit* caEdit() const { return m_ca; }
    QLineEdit* keyEdit() const { return m_key; }
    QRadioButton* createAccountButton() const { return m_create; }
    QRadioButton* noAccountButton() const { return m_noAccount; }
    QRadioButton* useKeyButton() const { return m_useKey; }
    QPushButton* quickBenchmarkButton() const { return m_bench; }
    QLabel* accountStatus() const { return m_accountStatus; }

private:
    friend class AccountWizardPage;
    void fillDevices(const QList<DeviceInfo>& devices);

    EngineController& m_engine;
    ApiClient& m_api;
    node::NodeSettings m_defaults;
    QLineEdit* m_server = nullptr;
    QLineEdit* m_ca = nullptr;
    QLineEdit* m_pin = nullptr;
    QRadioButton* m_create = nullptr;
    QRadioButton* m_useKey = nullptr;
    QRadioButton* m_noAccount = nullptr;
    QLineEdit* m_key = nullptr;
    QLabel* m_accountStatus = nullptr;
    QString m_createdKey;
    QListWidget* m_devices = nullptr;
    QPushButton* m_bench = nullptr;
    QProgressBar* m_benchProgress = nullptr;
    QLabel* m_benchResult = nullptr;
    QButtonGroup* m_schedule = nullptr;
};

} // namespace declai::desktop
