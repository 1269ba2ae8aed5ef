// Fake machine probes for the engine tests: the test sets the time, idle seconds, power source and
// full-screen state; the engine reads them on its own thread (hence the mutex).
#pragma once

#include "MachineProbes.h"

#include <QMutex>
#include <QMutexLocker>
#include <memory>

namespace declai::testsupport {

// Shared state the fakes read; the test keeps a shared_ptr and changes it.
struct FakeMachine {
    mutable QMutex mutex;
    QDateTime now = QDateTime(QDate(2026, 12, 7), QTime(10, 0)); // a Monday, local time
    std::optional<int> idleSeconds;
    MachineState::PowerSource power = MachineState::Mains;
    std::optional<bool> fullScreen;

    void setNow(const QDateTime& t) {
        QMutexLocker lock(&mutex);
        now = t;
    }
    void setIdleSeconds(std::optional<int> s) {
        QMutexLocker lock(&mutex);
        idleSeconds = s;
    }
    void setPower(MachineState::PowerSource p) {
        QMutexLocker lock(&mutex);
        power = p;
    }
};

class FakeClock final : public node::Clock {
public:
    explicit FakeClock(std::shared_ptr<FakeMachine> m) : m_m(std::move(m)) {}
    QDateTime now() const override {
        QMutexLocker lock(&m_m->mutex);
        return m_m->now;
    }

private:
    std::shared_ptr<FakeMachine> m_m;
};

class FakeIdle final : public node::IdleSource {
public:
    explicit FakeIdle(std::shared_ptr<FakeMachine> m) : m_m(std::move(m)) {}
    std::optional<int> userIdleSeconds() override {
        QMutexLocker lock(&m_m->mutex);
        return m_m->idleSeconds;
    }
    QString description() const override { return QStringLiteral("fake"); }

private:
    std::shared_ptr<FakeMachine> m_m;
};

class FakePower final : public node::PowerSource {
public:
    explicit FakePower(std::shared_ptr<FakeMachine> m) : m_m(std::move(m)) {}
    MachineState::PowerSource powerSource() override {
        QMutexLocker lock(&m_m->mutex);
        return m_m->power;
    }
    QString description() const override { return QStringLiteral("fake"); }

private:
    std::shared_ptr<FakeMachine> m_m;
};

class FakeFullScreen final : public node::FullScreenSource {
public:
    explicit FakeFullScreen(std::shared_ptr<FakeMachine> m) : m_m(std::move(m)) {}
    std::optional<bool> fullScreenAppRunning() override {
        QMutexLocker lock(&m_m->mutex);
        return m_m->fullScreen;
    }
    QString description() const override { return QStringLiteral("fake"); }

private:
    std::shared_ptr<FakeMachine> m_m;
};

inline std::unique_ptr<node::MachineProbes> fakeProbes(const std::shared_ptr<FakeMachine>& m) {
    auto probes = std::make_unique<node::MachineProbes>();
    probes->clock = std::make_unique<FakeClock>(m);
    probes->idle = std::make_unique<FakeIdle>(m);
    probes->power = std::make_unique<FakePower>(m);
    probes->fullScreen = std::make_unique<FakeFullScreen>(m);
    return probes;
}

} // namespace declai::testsupport
