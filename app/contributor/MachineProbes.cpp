#include "MachineProbes.h"

#include <QDBusConnection>
#include <QDBusInterface>
#include <QDBusReply>
#include <QDir>
#include <QFile>
#include <QVariant>

namespace declai::node {
namespace {

class SystemClock final : public Clock {
public:
    QDateTime now() const override { return QDateTime::currentDateTime(); }
};

// systemd-logind's idle hint of our session. Desktops (GNOME, KDE) set IdleHint after their own idle delay,
// so "not idle" means "touched within the desktop's idle delay" and is read as 0 seconds idle; a session
// whose hint never changed (IdleSinceHint 0: the desktop does not report idleness) is unknown.
class LogindIdleSource final : public IdleSource {
public:
    std::optional<int> userIdleSeconds() override {
        QDBusConnection bus = QDBusConnection::systemBus();
        if (!bus.isConnected()) {
            m_description = QStringLiteral("unknown: no system D-Bus (logind) here");
            return std::nullopt;
        }
        // "auto": the caller's session, or the user's display session for a process outside one.
        QDBusInterface session(QStringLiteral("org.freedesktop.login1"),
                               QStringLiteral("/org/freedesktop/login1/session/auto"),
                               QStringLiteral("org.freedesktop.DBus.Properties"), bus);
        session.setTimeout(500); // this runs on the engine thread: never hang it
        QDBusReply<QVariant> hint =
            session.call(QStringLiteral("Get"), QStringLiteral("org.freedesktop.login1.Session"),
                         QStringLiteral("IdleHint"));
        QDBusReply<QVariant> since =
            session.call(QStringLiteral("Get"), QStringLiteral("org.freedesktop.login1.Session"),
                         QStringLiteral("IdleSinceHint"));
        if (!hint.isValid() || !since.isValid()) {
            m_description = QStringLiteral("unknown: logind has no session for this user (%1)")
                                .arg(hint.isValid() ? since.error().message() : hint.error().message());
            return std::nullopt;
        }
        const qulonglong sinceUs = since.value().toULongLong();
        if (sinceUs == 0) {
            m_description = QStringLiteral("unknown: this desktop does not report idleness to logind");
            return std::nullopt;
        }
        m_description = QStringLiteral("logind IdleHint of this session");
        if (!hint.value().toBool())
            return 0;
        const qint64 idleMs = QDateTime::currentMSecsSinceEpoch() - qint64(sinceUs / 1000);
        return int(std::clamp<qint64>(idleMs / 1000, 0, 1 << 30));
    }
    QString description() const override { return m_description; }

private:
    QString m_description = QStringLiteral("logind IdleHint (not read yet)");
};

QString readLine(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(f.readLine(256)).trimmed();
}

class SysfsPowerSource final : public PowerSource {
public:
    explicit SysfsPowerSource(QString dir) : m_dir(std::move(dir)) {}

    MachineState::PowerSource powerSource() override {
        QDir dir(m_dir);
        if (!dir.exists() || !dir.isReadable()) {
            m_description = QStringLiteral("unknown: %1 cannot be read").arg(m_dir);
            return MachineState::Unknown;
        }
        bool externalOnline = false;
        bool batteryDischarging = false;
        bool anyBattery = false;
        for (const QString& name : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot | QDir::System)) {
            const QString base = dir.filePath(name) + QLatin1Char('/');
            const QString type = readLine(base + QStringLiteral("type"));
            // Batteries of a mouse or a keyboard ("scope" Device) say nothing about this machine's power.
            if (readLine(base + QStringLiteral("scope")) == QStringLiteral("Device"))
                continue;
            if (type == QStringLiteral("Battery")) {
                anyBattery = true;
                batteryDischarging = batteryDischarging || readLine(base + QStringLiteral("status")) ==
                                                               QStringLiteral("Discharging");
            } else if (readLine(base + QStringLiteral("online")) == QStringLiteral("1")) {
                externalOnline = true; // Mains, USB, USB-C...
            }
        }
        if (externalOnline || !anyBattery) {
            m_description = anyBattery ? QStringLiteral("on mains (%1)").arg(m_dir)
                                       : QStringLiteral("no battery: on mains (%1)").arg(m_dir);
            return MachineState::Mains;
        }
        if (batteryDischarging) {
            m_description = QStringLiteral("on battery (%1)").arg(m_dir);
            return MachineState::Battery;
        }
        m_description =
            QStringLiteral("unknown: a battery that is not discharging and no supply online (%1)").arg(m_dir);
        return MachineState::Unknown;
    }
    QString description() const override { return m_description; }

private:
    QString m_dir;
    QString m_description;
};

class UnknownFullScreenSource final : public FullScreenSource {
public:
    std::optional<bool> fullScreenAppRunning() override { return std::nullopt; }
    QString description() const override {
        return QStringLiteral(
            "unknown: this platform offers no portable way to tell without a display connection");
    }
};

} // namespace

std::unique_ptr<Clock> makeSystemClock() {
    return std::make_unique<SystemClock>();
}

std::unique_ptr<IdleSource> makeSystemIdleSource() {
    return std::make_unique<LogindIdleSource>();
}

std::unique_ptr<PowerSource> makeSystemPowerSource(const QString& powerSupplyDir) {
    return std::make_unique<SysfsPowerSource>(powerSupplyDir);
}

std::unique_ptr<FullScreenSource> makeSystemFullScreenSource() {
    return std::make_unique<UnknownFullScreenSource>();
}

std::unique_ptr<MachineProbes> MachineProbes::system() {
    auto probes = std::make_unique<MachineProbes>();
    probes->clock = makeSystemClock();
    probes->idle = makeSystemIdleSource();
    probes->power = makeSystemPowerSource();
    probes->fullScreen = makeSystemFullScreenSource();
    return probes;
}

MachineState MachineProbes::sample(const ContributionRules* rules) const {
    MachineState state;
    state.now = clock ? clock->now() : QDateTime::currentDateTime();
    if (idle && (!rules || rules->idleMinutesRequired > 0))
        state.userIdleSeconds = idle->userIdleSeconds();
    if (power && (!rules || rules->pauseOnBattery))
        state.power = power->powerSource();
    if (fullScreen && (!rules || rules->pauseWhileFullScreen))
        state.fullScreenAppRunning = fullScreen->fullScreenAppRunning();
    return state;
}

} // namespace declai::node
