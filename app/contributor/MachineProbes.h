// What the machine is doing, for the contribution rules (declai/core/ContributionSchedule.h): a clock, the
// user's idle time, the power source and whether a full-screen application runs. Each is an injected
// interface so that tests drive the rule engine with fakes (tests/contributor/FakeProbes.h) and the shipped
// engine uses the real ones. Threading: the engine calls every probe on its own thread (never the GUI
// thread), at most every few seconds; a probe may block briefly (a D-Bus call, a sysfs read) but must not
// hang: real ones use short timeouts. Implementations used from tests must be thread-safe.
#pragma once

#include "declai/core/ContributionSchedule.h"

#include <QDateTime>
#include <QString>
#include <memory>
#include <optional>

namespace declai::node {

class Clock {
public:
    virtual ~Clock() = default;
    virtual QDateTime now() const = 0; // local time
};

class IdleSource {
public:
    virtual ~IdleSource() = default;
    // Seconds since the user last touched keyboard or mouse; nullopt when this system cannot tell.
    virtual std::optional<int> userIdleSeconds() = 0;
    // How it knows (or why it cannot), in English, for the Schedule page ("logind IdleHint", "unknown: ...").
    virtual QString description() const = 0;
};

class PowerSource {
public:
    virtual ~PowerSource() = default;
    virtual MachineState::PowerSource powerSource() = 0;
    virtual QString description() const = 0;
};

class FullScreenSource {
public:
    virtual ~FullScreenSource() = default;
    // nullopt when the platform cannot tell (headless Linux, Wayland without a protocol for it).
    virtual std::optional<bool> fullScreenAppRunning() = 0;
    virtual QString description() const = 0;
};

// The real probes on this platform:
// - Clock: QDateTime::currentDateTime().
// - Idle (Linux): systemd-logind's IdleHint / IdleSinceHint of this process's session over the system D-Bus
//   (what GNOME and KDE report); unknown without a session, a system bus or a desktop that sets the hint.
//   (The X11 screensaver extension needs libXss, which the build does not use.)
// - Power (Linux): /sys/class/power_supply: Battery when a battery is "Discharging" and no AC/USB supply is
//   online, Mains when an AC supply is online or no battery exists, Unknown when the folder is unreadable.
// - Full screen: unknown on Linux (no portable way without a display connection); the tray app may inject
//   its own source that asks the window system.
std::unique_ptr<Clock> makeSystemClock();
std::unique_ptr<IdleSource> makeSystemIdleSource();
std::unique_ptr<PowerSource>
makeSystemPowerSource(const QString& powerSupplyDir = QStringLiteral("/sys/class/power_supply"));
std::unique_ptr<FullScreenSource> makeSystemFullScreenSource();

struct MachineProbes {
    std::unique_ptr<Clock> clock;
    std::unique_ptr<IdleSource> idle;
    std::unique_ptr<PowerSource> power;
    std::unique_ptr<FullScreenSource> fullScreen;

    // The real ones (above).
    static std::unique_ptr<MachineProbes> system();
    // Samples the probes once (the engine's thread). With `rules`, only what they need: the idle probe is
    // asked only when an idle time is required, the full-screen one only when that rule is on.
    MachineState sample(const ContributionRules* rules = nullptr) const;
};

} // namespace declai::node
