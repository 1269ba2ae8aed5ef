// Runs a program to its end for a test (bounded), or keeps long-running helper processes that are killed
// when the owner goes out of scope.
#pragma once

#include <QByteArray>
#include <QProcess>
#include <QProcessEnvironment>
#include <QStringList>
#include <memory>
#include <vector>

namespace declai::testdata {

struct ProcessResult {
    int exitCode = -1; // -1: did not finish in time (killed); -2: crashed
    QByteArray out;
    QByteArray err;
};

inline ProcessResult
runProcess(const QString& program, const QStringList& args, int timeoutMs = 120000,
           const QProcessEnvironment& environment = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(environment);
    p.start(program, args);
    ProcessResult r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished(5000);
    } else {
        r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    }
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

// Long-running processes (extra nodes) owned by a test; output merged into `logFile`.
class Processes {
public:
    Processes() = default;
    Processes(const Processes&) = delete;
    Processes& operator=(const Processes&) = delete;
    ~Processes() {
        for (auto& p : m_processes) {
            if (p->state() != QProcess::NotRunning) {
                p->kill();
                p->waitForFinished(5000);
            }
        }
    }
    QProcess& start(const QString& program, const QStringList& args, const QString& logFile) {
        auto p = std::make_unique<QProcess>();
        p->setProcessChannelMode(QProcess::MergedChannels);
        p->setStandardOutputFile(logFile);
        p->start(program, args);
        p->waitForStarted(10000);
        m_processes.push_back(std::move(p));
        return *m_processes.back();
    }

private:
    std::vector<std::unique_ptr<QProcess>> m_processes;
};

} // namespace declai::testdata
