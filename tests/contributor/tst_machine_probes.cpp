// The real machine probes where they can be pointed at test data (the power source reads a sysfs-shaped
// folder), and the honest "unknown" of the ones that cannot tell.
#include "MachineProbes.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using declai::MachineState;

namespace {

void supply(const QTemporaryDir& dir, const QString& name, const QMap<QString, QByteArray>& files) {
    const QString base = dir.filePath(name);
    QVERIFY(QDir().mkpath(base));
    for (auto it = files.begin(); it != files.end(); ++it) {
        QFile f(base + QLatin1Char('/') + it.key());
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(it.value() + '\n');
    }
}

MachineState::PowerSource power(const QTemporaryDir& dir) {
    return declai::node::makeSystemPowerSource(dir.path())->powerSource();
}

} // namespace

class TestMachineProbes : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void desktopWithoutBatteryIsOnMains() {
        QTemporaryDir dir;
        QCOMPARE(power(dir), MachineState::Mains);
    }

    void laptopOnAcAndOnBattery() {
        QTemporaryDir dir;
        supply(dir, QStringLiteral("AC"),
               {{QStringLiteral("type"), "Mains"}, {QStringLiteral("online"), "1"}});
        supply(dir, QStringLiteral("BAT0"),
               {{QStringLiteral("type"), "Battery"}, {QStringLiteral("status"), "Charging"}});
        QCOMPARE(power(dir), MachineState::Mains);
        supply(dir, QStringLiteral("AC"), {{QStringLiteral("online"), "0"}});
        supply(dir, QStringLiteral("BAT0"), {{QStringLiteral("status"), "Discharging"}});
        QCOMPARE(power(dir), MachineState::Battery);
        // A battery that is full with no supply reported: it cannot tell.
        supply(dir, QStringLiteral("BAT0"), {{QStringLiteral("status"), "Full"}});
        QCOMPARE(power(dir), MachineState::Unknown);
    }

    void aMouseBatteryIsNotThisMachines() {
        QTemporaryDir dir;
        supply(dir, QStringLiteral("hidpp_battery_0"),
               {{QStringLiteral("type"), "Battery"},
                {QStringLiteral("scope"), "Device"},
                {QStringLiteral("status"), "Discharging"}});
        QCOMPARE(power(dir), MachineState::Mains);
    }

    void unreadableFolderIsUnknown() {
        auto source = declai::node::makeSystemPowerSource(QStringLiteral("/nonexistent-declai/power_supply"));
        QCOMPARE(source->powerSource(), MachineState::Unknown);
        QVERIFY(source->description().startsWith(QStringLiteral("unknown")));
    }

    // Whatever this machine has: an answer or "unknown" with the reason, never a hang (bounded D-Bus call).
    void idleAndFullScreenSayWhatTheyKnow() {
        auto idle = declai::node::makeSystemIdleSource();
        QElapsedTimer clock;
        clock.start();
        const std::optional<int> seconds = idle->userIdleSeconds();
        QVERIFY(clock.elapsed() < 5000);
        QVERIFY(!idle->description().isEmpty());
        if (seconds)
            QVERIFY(*seconds >= 0);
        else
            QVERIFY2(idle->description().startsWith(QStringLiteral("unknown")),
                     qPrintable(idle->description()));
        auto fullScreen = declai::node::makeSystemFullScreenSource();
        QVERIFY(!fullScreen->fullScreenAppRunning().has_value());
        QVERIFY(fullScreen->description().startsWith(QStringLiteral("unknown")));
    }
};

QTEST_GUILESS_MAIN(TestMachineProbes)
#include "tst_machine_probes.moc"
