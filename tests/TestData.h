// Where tests find their data: DECLAI_MODEL_PATH (colon-separated) for models, DECLAI_REFERENCE_DIR for
// llama.cpp's reference outputs. Nothing else outside the repository is read.
#pragma once

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <QTest>

namespace declai::testdata {

inline QString modelPath(const QString& fileName) {
    const QStringList dirs =
        qEnvironmentVariable("DECLAI_MODEL_PATH").split(QLatin1Char(':'), Qt::SkipEmptyParts);
    for (const QString& dir : dirs) {
        const QString candidate = QDir(dir).filePath(fileName);
        if (QFileInfo::exists(candidate))
            return candidate;
    }
    return {};
}

inline QString referenceDir() {
    return qEnvironmentVariable("DECLAI_REFERENCE_DIR");
}

inline QString referencePath(const QString& relative) {
    const QString dir = referenceDir();
    if (dir.isEmpty())
        return {};
    const QString candidate = QDir(dir).filePath(relative);
    return QFileInfo::exists(candidate) ? candidate : QString();
}

// A llama.cpp parity reference (DECLAI_REFERENCE_DIR/parity/NAME, e.g. "stories260K-p1.json"); empty when
// absent.
inline QJsonObject parityReference(const QString& name) {
    QFile f(referencePath(QStringLiteral("parity/") + name));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

// Token ids as `declai-cli generate --tokens` prints them: "12 7 300"; at most `count` (all when negative).
inline QString idsToString(const QJsonArray& ids, qsizetype count = -1) {
    QStringList parts;
    for (qsizetype i = 0; i < ids.size() && (count < 0 || i < count); ++i)
        parts << QString::number(ids[i].toInt());
    return parts.join(QLatin1Char(' '));
}

// Whether a missing dependency must fail the test instead of skipping it: DECLAI_REQUIRED_DEPS is a
// comma-separated list of dependency names, or "all" (scripts/test sets it under CI=true, where everything
// the README says runs in CI is installed). Names: models, reference, opencl, vulkan, postgres, hip,
// qemu-aarch64, npm (node, npm and the npm registry: tests/api/NpmTools.h).
inline bool dependencyRequired(const QString& dependency) {
    const QStringList required =
        qEnvironmentVariable("DECLAI_REQUIRED_DEPS").split(QLatin1Char(','), Qt::SkipEmptyParts);
    return required.contains(QStringLiteral("all")) || required.contains(dependency);
}

inline QString dependencyName(const char* name) {
    return QString::fromLatin1(name);
}
inline QString dependencyName(const QString& name) {
    return name;
}

} // namespace declai::testdata

// Skips the current test function because `dependency` is missing (the reason says what to install or set),
// or fails it where the dependency is required. Use this, never an early return, for anything the machine
// may lack.
#define DECLAI_SKIP_MISSING(dependency, reason)                                                              \
    do {                                                                                                     \
        const QString declaiMissingReason_ = (reason);                                                       \
        const QString declaiDependency_ = ::declai::testdata::dependencyName(dependency);                    \
        if (::declai::testdata::dependencyRequired(declaiDependency_))                                       \
            QFAIL(qPrintable(QStringLiteral("required dependency '%1' is missing: %2")                       \
                                 .arg(declaiDependency_, declaiMissingReason_)));                            \
        QSKIP(qPrintable(declaiMissingReason_));                                                             \
    } while (false)

// The test data every data-driven suite needs: fails or skips (see above) when DECLAI_MODEL_PATH does not
// hold `fileName`.
#define DECLAI_REQUIRE_MODEL(fileName)                                                                       \
    do {                                                                                                     \
        if (::declai::testdata::modelPath(QStringLiteral(fileName)).isEmpty())                               \
            DECLAI_SKIP_MISSING("models", QStringLiteral(fileName " not found in DECLAI_MODEL_PATH (set "    \
                                                                  "it to ../shared/models)"));               \
    } while (false)
