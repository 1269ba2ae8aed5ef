// A node's list of gateways: parsing (settings file, command line) and the order it tries them in.
#include "GatewayRotation.h"
#include "NodeConfig.h"
#include "NodeSettings.h"

#include <QTemporaryDir>
#include <QTest>

using namespace declai::node;

namespace {

QUrl u(const char* text) {
    return QUrl(QString::fromLatin1(text));
}

} // namespace

class TestGatewayRotation : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void lowestRoundTripFirstUnreachableLast() {
        GatewayRotation r({u("wss://a:1"), u("wss://b:1"), u("wss://c:1"), u("wss://d:1")});
        r.startRound({40, -1, 12, 90});
        QCOMPARE(r.current(), u("wss://c:1"));
        QCOMPARE(r.currentRttMs(), 12);
        QVERIFY(r.advance());
        QCOMPARE(r.current(), u("wss://a:1"));
        QVERIFY(r.advance());
        QCOMPARE(r.current(), u("wss://d:1"));
        QVERIFY(r.advance());
        QCOMPARE(r.current(), u("wss://b:1"));
        QCOMPARE(r.currentRttMs(), -1);
        QVERIFY(!r.advance()); // the round is over
        QCOMPARE(r.current(), u("wss://b:1"));
    }

    void noiseKeepsTheConfiguredOrder() {
        GatewayRotation r({u("wss://a:1"), u("wss://b:1")});
        r.startRound({1, 0}); // loopback noise: within one 5 ms step
        QCOMPARE(r.current(), u("wss://a:1"));
        r.startRound({9, 1}); // clearly faster
        QCOMPARE(r.current(), u("wss://b:1"));
        r.startRound({}); // nothing measured: the configured order
        QCOMPARE(r.current(), u("wss://a:1"));
        QCOMPARE(r.currentRttMs(), -1);
    }

    void oneGatewayAndNone() {
        GatewayRotation one({u("wss://a:1")});
        QCOMPARE(one.current(), u("wss://a:1"));
        QVERIFY(!one.advance());
        GatewayRotation none;
        QVERIFY(none.current().isEmpty());
        QVERIFY(!none.advance());
    }

    void gatewayListParsing() {
        auto two = parseGatewayList(QStringLiteral(" wss://a:7420 ,wss://b:7420,"));
        QVERIFY2(two, two ? "" : two.error().message.c_str());
        QCOMPARE(*two, (QList<QUrl>{u("wss://a:7420"), u("wss://b:7420")}));
        QVERIFY(!parseGatewayList(QString()));
        QVERIFY(!parseGatewayList(QStringLiteral("wss://a:1,wss://a:1")));
        QVERIFY(!parseGatewayList(QStringLiteral("wss://a:1,ht tp://%zz")));
    }

    void commandLineTakesAListAndRepeats() {
        QTemporaryDir dir;
        auto parsed =
            parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--server"),
                                  QStringLiteral("wss://a:7420,wss://b:7420"), QStringLiteral("--gateway"),
                                  QStringLiteral("wss://c:7420"), QStringLiteral("--data-dir"), dir.path()});
        QVERIFY2(parsed, parsed ? "" : parsed.error().message.c_str());
        QCOMPARE(parsed->settings.gateways(),
                 (QList<QUrl>{u("wss://a:7420"), u("wss://b:7420"), u("wss://c:7420")}));
        auto plaintext = parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--server"),
                                               QStringLiteral("wss://a:7420,ws://b:7420"),
                                               QStringLiteral("--data-dir"), dir.path()});
        QVERIFY(!plaintext);
        QVERIFY2(QString::fromStdString(plaintext.error().message).contains(QStringLiteral("ws://")),
                 plaintext.error().message.c_str());
    }

    void settingsFileKeepsTheList() {
        QTemporaryDir dir;
        const QString file = dir.filePath(QStringLiteral("node.ini"));
        NodeSettings s;
        s.serverUrl = u("wss://a:7420");
        s.otherGateways = {u("wss://b:7420"), u("wss://c:7420")};
        s.dataDir = dir.path();
        QVERIFY(s.save(file));
        auto loaded = NodeSettings::load(file);
        QVERIFY2(loaded, loaded ? "" : loaded.error().message.c_str());
        QCOMPARE(loaded->gateways(), s.gateways());
        QVERIFY(loaded->validate());

        QFile bad(dir.filePath(QStringLiteral("bad.ini")));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("[server]\nurl=wss://a:7420, wss://a:7420\n");
        bad.close();
        auto refused = NodeSettings::load(bad.fileName());
        QVERIFY(!refused);
        QVERIFY2(QString::fromStdString(refused.error().message).contains(QStringLiteral("server/url")),
                 refused.error().message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestGatewayRotation)
#include "tst_gateway_rotation.moc"
