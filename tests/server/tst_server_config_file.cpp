// Issue 16 §3, declai-server's side: the [gateway] section of the shared INI file, DECLAI_* variables and
// flags, in that order of precedence; secrets from private files; --check-config reporting every problem
// with its file and line.
#include "declai/server/ServerConfig.h"
#include "declai/server/ServerConfigFile.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace declai;
using namespace declai::server;

namespace {

QString write(const QTemporaryDir& dir, const QString& name, const QByteArray& text,
              QFile::Permissions mode = QFile::ReadOwner | QFile::WriteOwner) {
    const QString path = dir.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return {};
    f.write(text);
    f.close();
    f.setPermissions(mode);
    return path;
}

QStringList texts(const std::vector<ConfigProblem>& problems) {
    QStringList out;
    for (const ConfigProblem& p : problems)
        out.append(p.text());
    return out;
}

} // namespace

class TestServerConfigFile : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void keysAreTheFlagsOfTheHelp() {
        bool listen = false, insecure = false, sessions = false, encoding = false;
        for (const ServerKey& k : serverKeys()) {
            listen |= k.flag == QStringLiteral("listen") && k.takesValue;
            insecure |= k.flag == QStringLiteral("insecure-dev") && !k.takesValue;
            sessions |= k.flag == QStringLiteral("max-sessions") && k.takesValue;
            encoding |= k.flag == QStringLiteral("wire-encoding") && k.takesValue;
            QVERIFY2(k.flag != QStringLiteral("config") && k.flag != QStringLiteral("help"),
                     qPrintable(k.flag));
        }
        QVERIFY(listen && insecure && sessions && encoding);
        // Every key is a flag the parser takes: a value that is valid for its kind passes.
        for (const ServerKey& k : serverKeys()) {
            auto parsed = ServerConfig::fromArguments(
                QStringList{QStringLiteral("declai-server"), QStringLiteral("--") + k.flag} +
                (k.takesValue ? QStringList{QStringLiteral("1")} : QStringList{}));
            if (!parsed)
                QVERIFY2(!QString::fromStdString(parsed.error().message)
                              .contains(QStringLiteral("Unknown option")),
                         parsed.error().message.c_str());
        }
    }

    void fileThenEnvironmentThenFlags() {
        QTemporaryDir dir;
        const QString file = write(dir, QStringLiteral("declai.ini"),
                                   "# a shared file: the node's sections are not the gateway's\n"
                                   "[server]\nurl = wss://gw:7420\n"
                                   "[gateway]\n"
                                   "listen = 127.0.0.1:7001\n"
                                   "model_dir = " +
                                       dir.path().toUtf8() +
                                       "\n"
                                       "data_dir = data\n"
                                       "max_sessions = 3\n"
                                       "stage_timeout_ms = 5000\n"
                                       "chain_wait_ms = 100\n"
                                       "insecure_dev = true\n"
                                       "no_credits = false\n");
        QProcessEnvironment env;
        env.insert(QStringLiteral("DECLAI_MAX_SESSIONS"), QStringLiteral("5"));
        env.insert(QStringLiteral("DECLAI_STAGE_TIMEOUT_MS"), QStringLiteral("6000"));
        env.insert(QStringLiteral("DECLAI_THREADS"), QString()); // empty: unset
        auto sources =
            resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("--config"), file,
                                  QStringLiteral("--stage-timeout-ms"), QStringLiteral("7000")},
                                 env);
        QVERIFY2(sources, sources ? "" : sources.error().message.c_str());
        QVERIFY2(sources->problems.empty(), qPrintable(texts(sources->problems).join(u'\n')));
        auto config = ServerConfig::fromArguments(sources->arguments);
        QVERIFY2(config, config ? "" : config.error().message.c_str());
        QCOMPARE(config->listenPort, quint16(7001));       // file
        QCOMPARE(config->chainWaitMs, 100);                // file
        QCOMPARE(config->maxSessions, 5);                  // environment over file
        QCOMPARE(config->stageTimeoutMs, 7000);            // flag over both
        QCOMPARE(config->threads, ServerConfig{}.threads); // default
        QVERIFY(config->insecureDev);
        QVERIFY(config->credits.enabled); // a switch set to false is its default
        QCOMPARE(config->dataDir, dir.filePath(QStringLiteral("data"))); // relative to the file's folder
        QVERIFY(checkServerSources(*sources).empty());
    }

    void secretsComeFromPrivateFiles() {
        QTemporaryDir dir;
        const QString dsn =
            write(dir, QStringLiteral("pg.dsn"), "host=db port=5432 user=declai dbname=declai\n");
        const QString loose = write(dir, QStringLiteral("loose.dsn"), "host=db dbname=x\n",
                                    QFile::ReadOwner | QFile::WriteOwner | QFile::ReadOther);
        const QString file = write(dir, QStringLiteral("declai.ini"),
                                   "[gateway]\nlisten = 127.0.0.1:7001\nmodel_dir = /\ndata_dir = /tmp\n"
                                   "ledger = postgres\nledger_postgres_file = pg.dsn\n");
        auto sources =
            resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("--config"), file}, {});
        QVERIFY(sources);
        QVERIFY2(sources->problems.empty(), qPrintable(texts(sources->problems).join(u'\n')));
        auto config = ServerConfig::fromArguments(sources->arguments);
        QVERIFY2(config, config ? "" : config.error().message.c_str());
        QCOMPARE(config->credits.postgres, QStringLiteral("host=db port=5432 user=declai dbname=declai"));
        // From the environment too; a file others can read is refused (and the problem names the variable).
        QProcessEnvironment env;
        env.insert(QStringLiteral("DECLAI_LEDGER_POSTGRES_FILE"), loose);
        auto refused =
            resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("--config"), file}, env);
        QVERIFY(refused);
        QCOMPARE(int(refused->problems.size()), 1);
        QVERIFY2(refused->problems[0].text().startsWith(QStringLiteral("DECLAI_LEDGER_POSTGRES_FILE: ")),
                 qPrintable(refused->problems[0].text()));
        env.insert(QStringLiteral("DECLAI_LEDGER_POSTGRES_FILE"), dsn);
        auto fromEnv = resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("--listen"),
                                             QStringLiteral("127.0.0.1:1"), QStringLiteral("--model-dir"),
                                             QStringLiteral("/"), QStringLiteral("--data-dir"), dir.path(),
                                             QStringLiteral("--ledger"), QStringLiteral("postgres")},
                                            env);
        QVERIFY(fromEnv && fromEnv->problems.empty());
        auto config2 = ServerConfig::fromArguments(fromEnv->arguments);
        QVERIFY2(config2, config2 ? "" : config2.error().message.c_str());
        QCOMPARE(config2->credits.postgres, QStringLiteral("host=db port=5432 user=declai dbname=declai"));
    }

    void checkConfigReportsEveryProblemWithItsLine() {
        QTemporaryDir dir;
        const QString file = write(dir, QStringLiteral("bad.ini"),
                                   "[gateway]\n"                        // 1
                                   "listen = 127.0.0.1:7001\n"          // 2
                                   "max_sessions = many\n"              // 3
                                   "no_such_key = 1\n"                  // 4
                                   "insecure_dev = perhaps\n"           // 5
                                   "this line has no equals sign\n"     // 6
                                   "wire_encoding = f8\n"               // 7
                                   "model_dir = /does/not/exist\n"      // 8
                                   "max_sessions = 4\n"                 // 9: twice
                                   "ledger_postgres_file = missing\n"); // 10
        QProcessEnvironment env;
        env.insert(QStringLiteral("DECLAI_CHAIN_WAIT_MS"), QStringLiteral("-5"));
        auto sources = resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("--config"),
                                             file, QStringLiteral("--check-config")},
                                            env);
        QVERIFY(sources);
        QVERIFY(sources->checkOnly);
        const QStringList problems = texts(checkServerSources(*sources));
        const QString all = problems.join(u'\n');
        for (const int line : {4, 5, 6, 7, 8, 9, 10})
            QVERIFY2(all.contains(QStringLiteral("%1:%2: ").arg(file).arg(line)), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("unknown key 'no_such_key'")), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("DECLAI_CHAIN_WAIT_MS: ")), qPrintable(all));
        // Line 3's bad value is reported although line 9 gives the key again (reported as given twice).
        QVERIFY2(all.contains(QStringLiteral("%1:3: max_sessions: --max-sessions").arg(file)),
                 qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("%1:8: model_dir: --model-dir").arg(file)), qPrintable(all));
        // data_dir is missing: the whole is refused too.
        QVERIFY2(all.contains(QStringLiteral("are required")), qPrintable(all));

        const QString good = write(dir, QStringLiteral("good.ini"),
                                   "[gateway]\nlisten = 127.0.0.1:7001\nmodel_dir = /\ndata_dir = /tmp\n");
        auto ok =
            resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("--config"), good}, {});
        QVERIFY(ok);
        QVERIFY2(checkServerSources(*ok).empty(), qPrintable(texts(checkServerSources(*ok)).join(u'\n')));
    }

    void exampleFilesUseOnlyKnownKeys() {
        for (const char* mode : {"development", "regional", "global"}) {
            const QString file =
                QStringLiteral(DECLAI_SOURCE_DIR "/docs/examples/%1.ini").arg(QLatin1StringView(mode));
            auto sources =
                resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("--config"), file}, {});
            QVERIFY2(sources, sources ? "" : sources.error().message.c_str());
            for (const ConfigProblem& p : sources->problems) // only the secret file, absent on this machine
                QVERIFY2(p.message.startsWith(QStringLiteral("ledger_postgres_file: ")),
                         qPrintable(p.text()));
            for (const SourcedFlag& s : sources->sourced) {
                if (s.flag == QStringLiteral("model-dir") || s.flag == QStringLiteral("data-dir"))
                    continue; // folders of the target machine
                auto alone = ServerConfig::fromArguments(
                    QStringList{QStringLiteral("declai-server"), QStringLiteral("--listen"),
                                QStringLiteral("127.0.0.1:1"), QStringLiteral("--model-dir"),
                                QStringLiteral("/"), QStringLiteral("--data-dir"), QStringLiteral("/tmp"),
                                QStringLiteral("--ledger-postgres"), QStringLiteral("dbname=x")} +
                    s.args);
                if (!alone)
                    QFAIL(qPrintable(QStringLiteral("%1:%2: %3")
                                         .arg(file)
                                         .arg(s.line)
                                         .arg(QString::fromStdString(alone.error().message))));
            }
        }
    }

    // Numeric flags are read as every program reads them (declai/core/CommandLineOptions.h): a non-finite
    // rate or price is refused like any other bad number, with the message naming the flag.
    void badNumbersAreRefusedNamingTheFlag_data() {
        QTest::addColumn<QString>("flag");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("message");
        QTest::newRow("nan rate") << QStringLiteral("verify-initial-rate") << QStringLiteral("nan")
                                  << QStringLiteral(
                                         "--verify-initial-rate must be a finite number, got 'nan'");
        QTest::newRow("rate above 1") << QStringLiteral("verify-floor-rate") << QStringLiteral("2")
                                      << QStringLiteral("--verify-floor-rate must be in [0, 1], got '2'");
        QTest::newRow("inf price") << QStringLiteral("high-priority-price") << QStringLiteral("inf")
                                   << QStringLiteral(
                                          "--high-priority-price must be a finite number, got 'inf'");
        QTest::newRow("negative grant") << QStringLiteral("grant-credits") << QStringLiteral("-1")
                                        << QStringLiteral("--grant-credits must be in [0, 1e+12], got '-1'");
        QTest::newRow("no sessions") << QStringLiteral("max-sessions") << QStringLiteral("0")
                                     << QStringLiteral(
                                            "--max-sessions must be an integer in [1, 100000], got '0'");
        QTest::newRow("fractional backoff")
            << QStringLiteral("node-backoff-ms") << QStringLiteral("2.5")
            << QStringLiteral("--node-backoff-ms must be an integer in [0, 86400000], "
                              "got '2.5'");
        QTest::newRow("body too big")
            << QStringLiteral("api-max-body-kib") << QStringLiteral("65537")
            << QStringLiteral("--api-max-body-kib must be an integer in [1, 65536], got "
                              "'65537'");
    }
    void badNumbersAreRefusedNamingTheFlag() {
        QFETCH(QString, flag);
        QFETCH(QString, value);
        QFETCH(QString, message);
        QTemporaryDir dir;
        auto config = ServerConfig::fromArguments(
            {QStringLiteral("declai-server"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:1"),
             QStringLiteral("--model-dir"), dir.path(), QStringLiteral("--data-dir"), dir.path(),
             QStringLiteral("--") + flag, value});
        QVERIFY(!config);
        QCOMPARE(config.error().code, ErrorCode::InvalidArgument);
        QCOMPARE(QString::fromStdString(config.error().message), message);
    }

    void operatorCommandsTakeOnlyTheLedgerKeys() {
        QTemporaryDir dir;
        const QString file = write(dir, QStringLiteral("declai.ini"),
                                   "[gateway]\nlisten = 127.0.0.1:7001\nmax_sessions = 3\ndata_dir = /srv/d\n"
                                   "ledger = sqlite\n");
        auto sources = resolveServerSources({QStringLiteral("declai-server"), QStringLiteral("ledger"),
                                             QStringLiteral("verify"), QStringLiteral("--config"), file},
                                            {});
        QVERIFY(sources);
        QCOMPARE(sources->arguments,
                 (QStringList{QStringLiteral("declai-server"), QStringLiteral("--data-dir"),
                              QStringLiteral("/srv/d"), QStringLiteral("--ledger"), QStringLiteral("sqlite"),
                              QStringLiteral("ledger"), QStringLiteral("verify")}));
    }
};

QTEST_GUILESS_MAIN(TestServerConfigFile)
#include "tst_server_config_file.moc"
