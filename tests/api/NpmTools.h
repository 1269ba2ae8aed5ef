// npm packages for tests that drive the gateway with real JavaScript clients (the official `openai`
// package, a Prometheus text parser, the OpenAPI linter). They are installed at test time into the build
// folder (DECLAI_NPM_DIR), never into the source tree; when npm or its registry is unreachable the caller
// skips with the reason (DECLAI_SKIP_MISSING("npm", ...)), or fails where DECLAI_REQUIRED_DEPS names npm.
#pragma once

#include "ProcessRun.h"

#include <QDir>
#include <QFile>
#include <QProcessEnvironment>
#include <QStandardPaths>

namespace declai::testdata {

struct NpmInstall {
    QString nodeModules; // NODE_PATH for scripts; empty on failure
    QString error;       // why it failed
};

inline QString npmDir() {
    return QStringLiteral(DECLAI_NPM_DIR);
}

// `packages` as npm specs ("openai", "parse-prometheus-text-format"); `probe` a folder under node_modules
// that shows they are installed already (a second run needs no network).
inline NpmInstall npmInstall(const QStringList& packages, const QString& probe) {
    const QString node = QStandardPaths::findExecutable(QStringLiteral("node"));
    const QString npm = QStandardPaths::findExecutable(QStringLiteral("npm"));
    if (node.isEmpty() || npm.isEmpty())
        return {QString(), QStringLiteral("node and npm are not installed (apt install nodejs npm)")};
    const QString prefix = QDir(npmDir()).filePath(QStringLiteral("packages"));
    const QString modules = QDir(prefix).filePath(QStringLiteral("node_modules"));
    if (QFile::exists(QDir(modules).filePath(probe)))
        return {modules, QString()};
    QDir().mkpath(prefix);
    const ProcessResult r = runProcess(
        npm,
        QStringList{QStringLiteral("install"), QStringLiteral("--prefix"), prefix, QStringLiteral("--cache"),
                    QDir(npmDir()).filePath(QStringLiteral("cache")), QStringLiteral("--no-audit"),
                    QStringLiteral("--no-fund"), QStringLiteral("--fetch-timeout=60000")} +
            packages,
        300000);
    if (r.exitCode != 0 || !QFile::exists(QDir(modules).filePath(probe)))
        return {QString(), QStringLiteral("npm install %1 failed (no network to the npm registry?): %2")
                               .arg(packages.join(QLatin1Char(' ')), QString::fromUtf8(r.err.right(600)))};
    return {modules, QString()};
}

inline QProcessEnvironment nodeEnvironment(const QString& nodeModules, const QString& caFile) {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("NODE_PATH"), nodeModules);
    env.insert(QStringLiteral("NODE_EXTRA_CA_CERTS"), caFile);
    return env;
}

} // namespace declai::testdata
