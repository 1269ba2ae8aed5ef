// Helpers for swarm tests that mix real processes (SwarmHarness.h) with misbehaving nodes in the test process
// (FakeNode.h): the reference outputs, the model as a fake node claims it, a node's /v1/status entry, and a
// declai-cli run timed while the test's event loop keeps running (the fake nodes live on it).
#pragma once

#include "FakeNode.h"
#include "SwarmHarness.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>

namespace declai::testdata {

// A parity reference file from DECLAI_REFERENCE_DIR/parity (empty when missing).
inline QJsonObject reference(const QString& name) {
    QFile f(referencePath(QStringLiteral("parity/") + name));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

// The served model as a node that holds every layer nodes may serve would announce it (with the bytes to
// prove it).
inline FakeNode::Claim wholeModel(Swarm& swarm) {
    const QJsonObject m = swarm.status().value(QStringLiteral("models")).toArray().first().toObject();
    return FakeNode::Claim{m.value(QStringLiteral("name")).toString().toStdString(),
                           m.value(QStringLiteral("digest")).toString().toStdString(),
                           uint32_t(m.value(QStringLiteral("layers")).toInt()),
                           uint32_t(m.value(QStringLiteral("gateway_layers")).toInt()),
                           modelPath(QStringLiteral("stories260K.gguf"))};
}

inline QJsonObject nodeStatus(Swarm& swarm, const std::string& id) {
    for (const QJsonValue& n : swarm.status().value(QStringLiteral("nodes")).toArray())
        if (n.toObject().value(QStringLiteral("id")).toString().toStdString() == id)
            return n.toObject();
    return {};
}

// Waits for a client process while the event loop keeps running.
inline bool finishes(QProcess& p, int timeoutMs) {
    return FakeNode::waitUntil([&p] { return p.state() == QProcess::NotRunning; }, timeoutMs);
}

struct Run {
    int exitCode = -1;
    QString out;
    QString err;
    qint64 ms = 0;
};

inline Run submitAndWait(Swarm& swarm, const QString& prompt, int tokens, const QStringList& extra = {}) {
    QElapsedTimer clock;
    clock.start();
    auto client = swarm.submit(prompt, tokens, extra);
    Run run;
    if (!finishes(*client, 120000))
        return run;
    run.ms = clock.elapsed();
    run.exitCode = client->exitCode();
    run.out = QString::fromUtf8(client->readAllStandardOutput());
    run.err = QString::fromUtf8(client->readAllStandardError());
    return run;
}

} // namespace declai::testdata
