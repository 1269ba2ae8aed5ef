// Runs a real declai-server and declai-node processes on loopback for integration tests, and talks to the
// server's HTTP API over TLS. Every wait is bounded; everything is killed in the destructor.
#pragma once

#include "TestData.h"

#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <functional>
#include <memory>
#include <vector>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DECLAI_TEST_TSAN 1
#include <cerrno>
#include <cstddef>
#include <iterator>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#endif
#endif

namespace declai::testdata {

#ifdef DECLAI_TEST_TSAN
// TSan builds only (scripts/test-tsan). Qt 6.4 starts a child with clone(CLONE_VM | CLONE_VFORK |
// CLONE_PIDFD) when the kernel has pidfds; TSan's clone interceptor (clang 14 and 15) runs its after-fork
// bookkeeping in the child on the parent's memory and then fails its own CHECK in the parent (tsan_rtl.cpp,
// "!thr->slot"). Qt probes for pidfds once, with waitid(P_PIDFD, ...), and without them starts children with
// a plain fork(), which TSan supports. So this thread (the one that starts the processes, before its first
// start) gets a seccomp filter that answers that one probe EINVAL; every other system call, waitid on pids
// included, is untouched.
inline void forcePlainForkForQProcessUnderTsan() {
    static const bool installed = [] {
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_waitid, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, P_PIDFD, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EINVAL & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
               prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) == 0;
    }();
    if (!installed)
        qWarning("TSan: the seccomp filter for Qt's pidfd probe was refused; QProcess::start may trip TSan's "
                 "CHECK");
}
#endif

inline quint16 freePort() {
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

class Swarm {
public:
    // `prepare` runs before the server starts (e.g. to create users in its data folder).
    // `model` names the served file in DECLAI_MODEL_PATH, without ".gguf".
    explicit Swarm(QStringList serverArgs = {}, const std::function<void(Swarm&)>& prepare = {},
                   const QString& model = QStringLiteral("stories260K"))
        : m_port(freePort()), m_model(model) {
        QDir(m_dir.path()).mkpath(QStringLiteral("models"));
        if (prepare)
            prepare(*this);
        const QString file = m_model + QStringLiteral(".gguf");
        // A model `prepare` wrote (a derived one) is already in place and in no DECLAI_MODEL_PATH folder.
        if (const QString source = modelPath(file); !source.isEmpty())
            QFile::link(source, QDir(m_dir.path()).filePath(QStringLiteral("models/") + file));
        m_server = start(QStringLiteral(DECLAI_SERVER_PATH), serverCommandLine(serverArgs),
                         QStringLiteral("server"));
    }

    // Starts the server again on the same port and data folder after it was killed, with serverArgs in
    // place of the first start's; its output goes to logName.log.
    void restartServer(const QStringList& serverArgs, const QString& logName) {
        kill(*m_server);
        m_server = start(QStringLiteral(DECLAI_SERVER_PATH), serverCommandLine(serverArgs), logName);
    }

    ~Swarm() {
        for (auto& p : m_nodes)
            kill(*p);
        kill(*m_server);
    }

    QString path(const QString& relative) const { return QDir(m_dir.path()).filePath(relative); }
    QString url() const { return QStringLiteral("wss://127.0.0.1:%1").arg(m_port); }
    QString caFile() const { return path(QStringLiteral("server/tls/server.crt")); }
    quint16 port() const { return m_port; }

    bool waitForServer(int timeoutMs = 20000) {
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < timeoutMs) {
            if (QFile::exists(caFile()) && status().contains(QStringLiteral("nodes")))
                return true;
            if (m_server->state() == QProcess::NotRunning)
                return false;
            QTest::qWait(100);
        }
        return false;
    }

    QProcess& addNode(QStringList extra = {}) { return addNodeOf(QStringLiteral(DECLAI_NODE_PATH), extra); }
    QProcess& addNodeOf(const QString& program, QStringList extra) {
        const int index = static_cast<int>(m_nodes.size());
        // `--server` is repeatable (a gateway list): one in `extra` replaces this swarm's own, so that a node
        // reached through a proxy is not also given the direct address (which it would prefer, being faster).
        QStringList args{QStringLiteral("--data-dir"), path(QStringLiteral("node%1").arg(index)),
                         QStringLiteral("--ca"),       caFile(),
                         QStringLiteral("--threads"),  QStringLiteral("1")};
        if (!extra.contains(QStringLiteral("--server")))
            args = QStringList{QStringLiteral("--server"), url()} + args;
        m_nodes.push_back(start(program, args + extra, QStringLiteral("node%1").arg(index)));
        return *m_nodes.back();
    }
    std::vector<std::unique_ptr<QProcess>>& nodes() { return m_nodes; }
    QProcess& server() { return *m_server; }
#ifdef DECLAI_TEST_NODE_PATH
    // A node built only for tests (tests/support/declai-test-node): declai-node plus --stage-delay-ms N
    // (a slow node) and --test-cheat MODE (a dishonest one).
    QProcess& addTestNode(QStringList extra) {
        return addNodeOf(QStringLiteral(DECLAI_TEST_NODE_PATH), extra);
    }
#endif

    // Waits until `count` nodes serve shards that together cover every layer.
    bool waitForShards(int count, int timeoutMs = 30000) {
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < timeoutMs) {
            const QJsonObject s = status();
            int ready = 0;
            for (const QJsonValue& n : s.value(QStringLiteral("nodes")).toArray())
                if (!n.toObject().value(QStringLiteral("shards")).toArray().isEmpty())
                    ++ready;
            if (ready >= count)
                return true;
            QTest::qWait(100);
        }
        return false;
    }

    // GET https://127.0.0.1:port/path with the gateway's CA: the body, empty after timeoutMs without an
    // answer.
    QByteArray get(const QString& path, int timeoutMs = 3000) const {
        QNetworkAccessManager network;
        QNetworkRequest request(QUrl(QStringLiteral("https://127.0.0.1:%1%2").arg(m_port).arg(path)));
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(caFile()));
        request.setSslConfiguration(tls);
        request.setTransferTimeout(timeoutMs);
        QNetworkReply* reply = network.get(request);
        QEventLoop loop;
        QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
        QTimer::singleShot(timeoutMs + 1000, &loop, &QEventLoop::quit);
        loop.exec();
        const QByteArray body = reply->readAll();
        reply->deleteLater();
        return body;
    }

    QJsonObject status() const {
        return QJsonDocument::fromJson(get(QStringLiteral("/v1/status"))).object();
    }

    // declai-cli submit, started asynchronously.
    std::unique_ptr<QProcess> submit(const QString& prompt, int tokens, QStringList extra = {}) {
        return start(QStringLiteral(DECLAI_CLI_PATH),
                     QStringList{QStringLiteral("submit"), QStringLiteral("--server"), url(),
                                 QStringLiteral("--ca"), caFile(), QStringLiteral("-m"), m_model,
                                 QStringLiteral("-p"), prompt, QStringLiteral("-n"), QString::number(tokens),
                                 QStringLiteral("--timeout-s"), QStringLiteral("120")} +
                         extra,
                     QString());
    }

    // Runs declai-server's operator command (e.g. {"user", "add", "alice"}) on the server's data folder.
    QString admin(const QStringList& args, int* exitCode = nullptr) const {
        QProcess p;
        p.start(QStringLiteral(DECLAI_SERVER_PATH),
                args + QStringList{QStringLiteral("--data-dir"), path(QStringLiteral("server"))});
        p.waitForFinished(60000);
        if (exitCode)
            *exitCode = p.exitCode();
        return QString::fromUtf8(p.readAllStandardOutput());
    }

    QString log(const QString& name) const {
        QFile f(path(name + QStringLiteral(".log")));
        return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
    }

private:
    QStringList serverCommandLine(const QStringList& serverArgs) const {
        return QStringList{QStringLiteral("--listen"),    QStringLiteral("127.0.0.1:%1").arg(m_port),
                           QStringLiteral("--model-dir"), path(QStringLiteral("models")),
                           QStringLiteral("--data-dir"),  path(QStringLiteral("server"))} +
               serverArgs;
    }
    std::unique_ptr<QProcess> start(const QString& program, const QStringList& args, const QString& logName) {
        auto p = std::make_unique<QProcess>();
        if (!logName.isEmpty()) {
            p->setProcessChannelMode(QProcess::MergedChannels);
            p->setStandardOutputFile(path(logName + QStringLiteral(".log")));
        }
#ifdef DECLAI_TEST_TSAN
        forcePlainForkForQProcessUnderTsan();
#endif
        p->start(program, args);
        p->waitForStarted(10000);
        return p;
    }
    static void kill(QProcess& p) {
        if (p.state() != QProcess::NotRunning) {
            p.kill();
            p.waitForFinished(5000);
        }
    }

    QTemporaryDir m_dir;
    quint16 m_port;
    QString m_model;
    std::unique_ptr<QProcess> m_server;
    std::vector<std::unique_ptr<QProcess>> m_nodes;
};

} // namespace declai::testdata
