#include "declai/core/ModelLocator.h"

#include <QDir>
#include <QFileInfo>
#include <QString>

namespace declai {

std::vector<std::string> modelSearchPath() {
    std::vector<std::string> dirs;
    const QStringList parts =
        qEnvironmentVariable("DECLAI_MODEL_PATH").split(QLatin1Char(':'), Qt::SkipEmptyParts);
    for (const QString& part : parts)
        dirs.push_back(part.toStdString());
    return dirs;
}

Expected<std::string> locateModel(const std::string& nameOrPath, const std::vector<std::string>& searchPath) {
    if (nameOrPath.empty())
        return makeError(ErrorCode::InvalidArgument, "no model given (use -m MODEL)");
    const QString name = QString::fromStdString(nameOrPath);
    if (QFileInfo(name).isFile())
        return nameOrPath;
    // Relative names are searched in the model path; absolute paths that do not exist are simply missing.
    if (!QDir::isAbsolutePath(name)) {
        for (const std::string& dir : searchPath) {
            const QString candidate = QDir(QString::fromStdString(dir)).filePath(name);
            if (QFileInfo(candidate).isFile())
                return candidate.toStdString();
        }
    }
    std::string searched;
    for (const std::string& dir : searchPath)
        searched.append(searched.empty() ? "" : ":").append(dir);
    return makeError(ErrorCode::NotFound,
                     "model '" + nameOrPath + "' not found" +
                         (searched.empty() ? std::string(" (DECLAI_MODEL_PATH is not set)")
                                           : " in DECLAI_MODEL_PATH=" + searched));
}

} // namespace declai
