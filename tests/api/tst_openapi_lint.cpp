// docs/api/openapi.yaml, the one source of the HTTP API's OpenAPI document (the gateway serves it at
// /openapi.json, tst_http_api checks it against live answers): it parses as JSON, and `npx @redocly/cli
// lint` (recommended rules) finds no error. npx fetches the linter into the build folder's npm cache; with no
// npm or no registry the test skips with the reason (fails where DECLAI_REQUIRED_DEPS names npm).
#include "NpmTools.h"
#include "TestData.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>
#include <algorithm>

class TestOpenApiLint : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void documentIsJson() {
        QFile f(QStringLiteral(DECLAI_SOURCE_DIR "/docs/api/openapi.yaml"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QJsonParseError error{};
        const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &error);
        QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
        QVERIFY(doc.object().value(QStringLiteral("openapi")).toString().startsWith(QStringLiteral("3.")));
    }

    void redoclyLintPasses() {
        const QString npx = QStandardPaths::findExecutable(QStringLiteral("npx"));
        if (npx.isEmpty())
            DECLAI_SKIP_MISSING("npm", QStringLiteral("npx is not installed (apt install npm)"));
        const declai::testdata::ProcessResult r = declai::testdata::runProcess(
            npx,
            {QStringLiteral("--yes"), QStringLiteral("--cache"),
             QDir(declai::testdata::npmDir()).filePath(QStringLiteral("cache")),
             QStringLiteral("@redocly/cli@2"), QStringLiteral("lint"), QStringLiteral("--format=stylish"),
             QStringLiteral(DECLAI_SOURCE_DIR "/docs/api/openapi.yaml")},
            300000);
        const QString output = QString::fromUtf8(r.out + r.err);
        static const QStringList offline{QStringLiteral("ENOTFOUND"),    QStringLiteral("EAI_AGAIN"),
                                         QStringLiteral("ECONNREFUSED"), QStringLiteral("ETIMEDOUT"),
                                         QStringLiteral("ENETUNREACH"),  QStringLiteral("network request")};
        if (r.exitCode != 0 &&
            std::any_of(offline.begin(), offline.end(), [&](const QString& s) { return output.contains(s); }))
            DECLAI_SKIP_MISSING("npm", QStringLiteral("npx cannot fetch @redocly/cli (no registry): ") +
                                           output.right(300));
        QVERIFY2(r.exitCode == 0, qPrintable(output.right(4000)));
        QVERIFY2(output.contains(QStringLiteral("valid")), qPrintable(output.right(2000)));
    }
};

QTEST_GUILESS_MAIN(TestOpenApiLint)
#include "tst_openapi_lint.moc"
