// Where tests find their data: DECLAI_MODEL_PATH (colon-separated) for models, DECLAI_REFERENCE_DIR for
// llama.cpp's reference outputs. Nothing else outside the repository is read.
#pragma once

#include <QDir>
#include <QFileInfo>
#include <QString>
#include <QStringList>

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

} // namespace declai::testdata
