// Issue 16 §3, declai-node's side: the settings file, DECLAI_<SECTION>_<KEY> variables over it, flags over
// both; the account key from a private file; --check-config reporting every problem with its line.
#include "NodeConfig.h"
#include "NodeSettings.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace declai;
using namespace declai::node;

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

QString joined(const std::vector<ConfigProblem>& problems) {
    QStringList out;
    for (const ConfigProblem& p : problems)
        out.append(p.text());
    return out.join(u'\n');
}

} // namespace

class TestNodeConfigFile : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Numeric flags are read as every program reads them (declai/core/CommandLineOptions.h), refused with
    // the same message as declai-cli's and declai-server's.
    void badNumbersAreRefusedNamingTheFlag() {
        QTemporaryDir dir;
        const QStringList base{QStringLiteral("declai-node"), QStringLiteral("--server"),
                               QStringLiteral("wss://a:7420"), QStringLiteral("--data-dir"), dir.path()};
        const std::pair<QStringList, QString> cases[] = {
            {{QStringLiteral("--threads"), QStringLiteral("2000")},
             QStringLiteral("--threads must be an integer in [0, 1024], got '2000'")},
            {{QStringLiteral("--drain-grace-s"), QStringLiteral("1.5")},
             QStringLiteral("--drain-grace-s must be an integer in [0, 86400], got '1.5'")},
            {{QStringLiteral("--max-sessions"), QStringLiteral("0")},
             QStringLiteral("--max-sessions must be an integer in [1, 100000], got '0'")},
        };
        for (const auto& [flags, message] : cases) {
            auto parsed = parseNodeCommandLine(base + flags, QProcessEnvironment());
            QVERIFY2(!parsed, qPrintable(flags.join(u' ')));
            QCOMPARE(parsed.error().code, ErrorCode::InvalidArgument);
            QCOMPARE(QString::fromStdString(parsed.error().message), message);
        }
    }

    void fileThenEnvironmentThenFlags() {
        QTemporaryDir dir;
        write(dir, QStringLiteral("account.key"), "dk_secret\n");
        const QString file = write(dir, QStringLiteral("declai.ini"),
                                   "[gateway]\nmax_sessions = 3\n" // declai-server's part: not the node's
                                   "[server]\nurl = wss://a:7420, wss://b:7420\n"
                                   "[node]\ndata_dir = state\naccount_key_file = account.key\n"
                                   "[budgets]\nthreads = 2\nmax_sessions = 4\ndisk_mb = 1000\n");
        QProcessEnvironment env;
        env.insert(QStringLiteral("DECLAI_BUDGETS_THREADS"), QStringLiteral("3"));
        env.insert(QStringLiteral("DECLAI_BUDGETS_MAX_SESSIONS"), QStringLiteral("5"));
        env.insert(QStringLiteral("DECLAI_SERVER_PIN"), QString()); // empty: unset
        auto parsed = parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--config"), file,
                                            QStringLiteral("--max-sessions"), QStringLiteral("6")},
                                           env);
        QVERIFY2(parsed, parsed ? "" : parsed.error().message.c_str());
        const NodeSettings& s = parsed->settings;
        QCOMPARE(s.gateways(),
                 (QList<QUrl>{QUrl(QStringLiteral("wss://a:7420")), QUrl(QStringLiteral("wss://b:7420"))}));
        QCOMPARE(s.dataDir, dir.filePath(QStringLiteral("state"))); // relative to the file
        QCOMPARE(s.budgets.diskBytes, uint64_t(1000) << 20);        // file
        QCOMPARE(s.budgets.threads, 3);                             // environment over file
        QCOMPARE(s.budgets.maxSessions, 6);                         // flag over both
        QCOMPARE(parsed->accountKey, QStringLiteral("dk_secret"));  // from the private file
        // The environment alone, without a file.
        QProcessEnvironment only;
        only.insert(QStringLiteral("DECLAI_SERVER_URL"), QStringLiteral("wss://c:7420"));
        only.insert(QStringLiteral("DECLAI_NODE_DATA_DIR"), dir.path());
        auto bare = parseNodeCommandLine({QStringLiteral("declai-node")}, only);
        QVERIFY2(bare, bare ? "" : bare.error().message.c_str());
        QCOMPARE(bare->settings.serverUrl, QUrl(QStringLiteral("wss://c:7420")));
    }

    void exampleFilesAreValid() {
        for (const char* mode : {"development", "regional", "global"}) {
            const QString file =
                QStringLiteral(DECLAI_SOURCE_DIR "/docs/examples/%1.ini").arg(QLatin1StringView(mode));
            const auto problems = NodeSettings::check(file, {});
            QVERIFY2(problems.empty(), qPrintable(joined(problems)));
            auto loaded = NodeSettings::load(file);
            QVERIFY2(loaded, loaded ? "" : loaded.error().message.c_str());
            QVERIFY2(loaded->validate(), qPrintable(file));
        }
    }

    void accountKeyFileMustBePrivate() {
        QTemporaryDir dir;
        write(dir, QStringLiteral("account.key"), "dk_secret\n",
              QFile::ReadOwner | QFile::WriteOwner | QFile::ReadGroup);
        const QString file =
            write(dir, QStringLiteral("node.ini"),
                  "[server]\nurl = wss://a:7420\n[node]\ndata_dir = .\naccount_key_file = account.key\n");
        auto parsed = parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--config"), file});
        QVERIFY(!parsed);
        QVERIFY2(
            QString::fromStdString(parsed.error().message).contains(QStringLiteral("node/account_key_file")),
            parsed.error().message.c_str());
    }

    void checkConfigReportsEveryProblemWithItsLine() {
        QTemporaryDir dir;
        const QString file = write(dir, QStringLiteral("bad.ini"),
                                   "[server]\n"                         // 1
                                   "url = wss://a:7420, wss://a:7420\n" // 2: listed twice
                                   "colour = blue\n"                    // 3: unknown
                                   "[budgets]\n"                        // 4
                                   "threads = lots\n"                   // 5
                                   "max_sessions = 0\n"                 // 6
                                   "just words\n"                       // 7
                                   "[node]\n"                           // 8
                                   "prefault = maybe\n");               // 9
        QProcessEnvironment env;
        env.insert(QStringLiteral("DECLAI_BUDGETS_DISK_MB"), QStringLiteral("-1"));
        auto parsed = parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--config"), file,
                                            QStringLiteral("--check-config")},
                                           env);
        QVERIFY2(parsed, parsed ? "" : parsed.error().message.c_str());
        QVERIFY(parsed->checkOnly);
        QStringList texts;
        for (const ConfigProblem& p : parsed->problems)
            texts.append(p.text());
        const QString all = texts.join(u'\n');
        for (const int line : {2, 3, 5, 6, 7, 9})
            QVERIFY2(all.contains(QStringLiteral("%1:%2: ").arg(file).arg(line)), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("DECLAI_BUDGETS_DISK_MB: ")), qPrintable(all));

        const QString good =
            write(dir, QStringLiteral("good.ini"), "[server]\nurl = wss://a:7420\n[node]\ndata_dir = .\n");
        auto ok = parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--config"), good,
                                        QStringLiteral("--check-config")});
        QVERIFY(ok);
        QVERIFY2(ok->problems.empty(), qPrintable(joined(ok->problems)));
        // A file without the gateway: the whole is refused (the flags could have given it).
        const QString partial = write(dir, QStringLiteral("partial.ini"), "[node]\ndata_dir = .\n");
        auto missing = parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--config"),
                                             partial, QStringLiteral("--check-config")});
        QVERIFY(missing);
        QCOMPARE(int(missing->problems.size()), 1);
        QVERIFY2(missing->problems[0].text().contains(QStringLiteral("--server")),
                 qPrintable(missing->problems[0].text()));
    }
};

QTEST_GUILESS_MAIN(TestNodeConfigFile)
#include "tst_node_config_file.moc"
