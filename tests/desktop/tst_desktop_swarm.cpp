// The whole app against a real local gateway (declai-server as a process, tests/server/SwarmHarness.h):
// the first-run wizard from a clean data folder creates an account, binds this computer's node to it and
// starts contributing; a researcher's prompts make the node earn into that account; the Prompt page then
// streams an answer paid from the same account; the Overview shows the balance and the work; Quit stops the
// engine cleanly.
#include "../server/SwarmHarness.h"
#include "ContributePage.h"
#include "CreditFormat.h"
#include "DesktopApp.h"
#include "FirstRunWizard.h"
#include "MainWindow.h"
#include "OverviewPage.h"
#include "PromptPage.h"
#include "TrayController.h"

#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTreeWidget>

using namespace declai;
using namespace declai::desktop;
using declai::testdata::Swarm;

class DesktopSwarmTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void wizardToEarningAndSpending() {
        DECLAI_REQUIRE_MODEL("stories260K.gguf");
        QLocale::setDefault(QLocale::c()); // figures compared as text
        QString researcherKey;
        Swarm swarm({QStringLiteral("--min-nodes"), QStringLiteral("1"),
                     QStringLiteral("--verification-window-s"), QStringLiteral("1"),
                     QStringLiteral("--allow-registration"), QStringLiteral("--registration-grant-credits"),
                     QStringLiteral("5"), QStringLiteral("--registrations-per-ip"), QStringLiteral("10")},
                    [&](Swarm& s) {
                        researcherKey = s.admin({QStringLiteral("user"), QStringLiteral("add"),
                                                 QStringLiteral("researcher")})
                                            .trimmed();
                    });
        QVERIFY(swarm.waitForServer());
        QVERIFY(!researcherKey.isEmpty());

        // A clean data folder: every path of the app inside a temporary folder, XDG variables too.
        QTemporaryDir home;
        qputenv("XDG_CONFIG_HOME", home.filePath(QStringLiteral("config")).toUtf8());
        qputenv("XDG_DATA_HOME", home.filePath(QStringLiteral("data")).toUtf8());
        DesktopPaths paths;
        paths.genericConfigDir = home.filePath(QStringLiteral("config"));
        paths.nodeSettingsFile = home.filePath(QStringLiteral("config/declai/node.ini"));
        paths.appSettingsFile = home.filePath(QStringLiteral("config/declai/declai-app.ini"));
        paths.defaultDataDir = home.filePath(QStringLiteral("data/declai/node"));
        DesktopOptions options;
        options.useTray = false;
        options.defaultServer = swarm.url();
        LogBuffer log;
        DesktopApp app(paths, options, log);
        QVERIFY(app.isFirstRun());
        app.start();
        FirstRunWizard* wizard = app.wizard();
        QVERIFY(wizard);
        QTRY_VERIFY(wizard->isVisible());

        // Server page: the proposed address is the swarm's; the volunteer adds its certificate.
        QCOMPARE(wizard->serverEdit()->text(), swarm.url());
        wizard->caEdit()->setText(swarm.caFile());
        wizard->next();
        QCOMPARE(wizard->currentId(), int(FirstRunWizard::AccountPage));
        QVERIFY(wizard->createAccountButton()->isChecked()); // the default
        wizard->next();                                      // creates the account, then moves on by itself
        QTRY_COMPARE_WITH_TIMEOUT(wizard->currentId(), int(FirstRunWizard::DevicesPage), 20000);
        QVERIFY2(!wizard->result().accountKey.isEmpty(), qPrintable(wizard->accountStatus()->text()));
        wizard->next();
        QCOMPARE(wizard->currentId(), int(FirstRunWizard::SchedulePage));
        wizard->accept();

        // The node is bound to the new account and serves a shard.
        // (a failed binding is retried after a minute: allow one retry on a busy machine)
        QTRY_VERIFY2_WITH_TIMEOUT(!app.boundAccount().isEmpty(), qPrintable(app.window().bannerText()),
                                  90000);
        QVERIFY2(
            swarm.waitForShards(1, 60000),
            qPrintable(TrayPresenter::present(app.engine().stats(), QDateTime::currentDateTime()).status));
        QTRY_VERIFY_WITH_TIMEOUT(!app.engine().stats().shards.isEmpty(), 30000);
        QVERIFY(QFile::exists(paths.nodeSettingsFile));
        const QString tray = app.tray().presentation().iconPath;
        QVERIFY2(tray.endsWith(QStringLiteral("idle.svg")) || tray.endsWith(QStringLiteral("computing.svg")),
                 qPrintable(tray));

        // A researcher's prompts: this computer computes them and earns.
        for (int i = 0; i < 2; ++i) {
            auto request = swarm.submit(QStringLiteral("Once upon a time"), 40,
                                        {QStringLiteral("--api-key"), researcherKey});
            QVERIFY(request->waitForFinished(120000));
            QCOMPARE(request->exitCode(), 0);
        }
        QTRY_VERIFY_WITH_TIMEOUT(app.engine().stats().layerTokensServed > 0, 20000);

        // The Overview shows earned credits once they are verified (welcome grant + earnings released).
        QSignalSpy credits(&app.api(), &ApiClient::creditsReady);
        double earned = 0;
        QElapsedTimer clock;
        clock.start();
        while (earned <= 0 && clock.elapsed() < 90000) {
            app.refreshCredits();
            if (credits.wait(5000))
                earned = credits.last().first().value<CreditSummary>().available;
            else
                QTest::qWait(500);
            if (earned <= 0)
                QTest::qWait(1500);
        }
        QVERIFY2(earned > 0, "no credits reached the account the app's node is bound to");
        QVERIFY(app.overview().balanceText() != QStringLiteral("—"));
        // The Overview's figures are the ledger's: the balance as `declai-server ledger balance` reads it
        // from the database, and the earnings of today are not rounded away (stories260K earns
        // microcredits).
        QTest::qWait(2500); // earnings of the last prompt are released after the 1 s verification window
        bool matches = false;
        QString ledgerLine;
        for (int attempt = 0; attempt < 10 && !matches; ++attempt) {
            credits.clear();
            app.refreshCredits();
            QVERIFY(credits.wait(10000));
            ledgerLine =
                swarm.admin({QStringLiteral("ledger"), QStringLiteral("balance"), app.boundAccount()});
            const QRegularExpressionMatch m =
                QRegularExpression(QStringLiteral("available ([0-9.]+)")).match(ledgerLine);
            QVERIFY2(m.hasMatch(), qPrintable(ledgerLine));
            matches = app.overview().balanceText() == formatCredits(toMicrocredits(m.captured(1).toDouble()));
            if (!matches)
                QTest::qWait(1000);
        }
        QVERIFY2(matches, qPrintable(ledgerLine + QStringLiteral(" vs ") + app.overview().balanceText()));
        qint64 earnedTodayMicro = 0;
        for (const Posting& p : credits.last().first().value<CreditSummary>().postings)
            if (isEarning(p) && p.at.toLocalTime().date() == QDate::currentDate())
                earnedTodayMicro += p.amountMicrocredits;
        QVERIFY(earnedTodayMicro > 0);
        QCOMPARE(app.overview().earnedTodayText(), formatCredits(earnedTodayMicro));
        QVERIFY(app.overview().earnedTodayText() != QStringLiteral("0.00"));
        QVERIFY(app.overview().creditPointCount() > 0);
        QTRY_COMPARE_WITH_TIMEOUT(app.overview().workBarCount(), 24, 15000);

        // The Prompt page streams an answer paid from the same account.
        PromptPage& prompt = app.prompt();
        prompt.refreshModels();
        QTRY_VERIFY_WITH_TIMEOUT(prompt.modelBox()->count() > 0, 15000);
        QCOMPARE(prompt.modelBox()->currentText(), QStringLiteral("stories260K"));
        prompt.input()->setPlainText(QStringLiteral("Once upon a time"));
        prompt.maxTokensBox()->setValue(24);
        credits.clear();
        QTest::mouseClick(prompt.sendButton(), Qt::LeftButton);
        QVERIFY(prompt.isStreaming());
        QVERIFY(prompt.stopButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(!prompt.isStreaming(), 120000);
        QVERIFY2(prompt.statusText().contains(QStringLiteral("done")), qPrintable(prompt.statusText()));
        const QString transcript = prompt.transcriptText();
        QVERIFY2(transcript.size() > QStringLiteral("You: Once upon a time").size() + 10,
                 qPrintable(transcript));
        QCOMPARE(prompt.historyView()->topLevelItemCount(), 1);
        // completionEnded refreshed the balance: the prompt was charged to this account.
        QVERIFY(credits.wait(15000) || !credits.isEmpty());
        const CreditSummary after = credits.last().first().value<CreditSummary>();
        bool charged = false;
        for (const Posting& p : after.postings)
            charged = charged || p.amount < 0;
        QVERIFY2(charged, "no charge posted to the account after the prompt");

        // The cost quote of the real server (POST /v1/quote), next to Send, as the prompt is written.
        prompt.input()->setPlainText(QStringLiteral("The little dog"));
        QTRY_VERIFY_WITH_TIMEOUT(prompt.quoteText().contains(QStringLiteral("Costs at most")), 15000);
        QVERIFY2(prompt.quoteText().contains(QStringLiteral("you have")), qPrintable(prompt.quoteText()));
        QVERIFY(prompt.sendButton()->isEnabled());
        // Prompt + max tokens over the model's context: the server's reason, Send off.
        prompt.maxTokensBox()->setValue(4096);
        QTRY_VERIFY_WITH_TIMEOUT(prompt.quoteText().contains(QStringLiteral("Cannot be sent")), 15000);
        QVERIFY(!prompt.sendButton()->isEnabled());
        prompt.maxTokensBox()->setValue(24);
        QTRY_VERIFY_WITH_TIMEOUT(prompt.sendButton()->isEnabled(), 15000);
        // A new account has nothing to pay with yet (its welcome grant waits for its first verified work):
        // the quote says so and Send is off.
        ApiEndpoint endpoint = app.api().endpoint();
        endpoint.apiKey.clear();
        ApiClient newcomer;
        newcomer.setEndpoint(endpoint);
        QSignalSpy created(&newcomer, &ApiClient::accountCreated);
        newcomer.createAccount(QStringLiteral("newcomer"));
        QVERIFY(created.wait(15000));
        endpoint.apiKey = created.first().at(1).toString();
        newcomer.setEndpoint(endpoint);
        PromptHistory noHistory;
        PromptPage broke(newcomer, noHistory);
        broke.refreshModels();
        QTRY_VERIFY_WITH_TIMEOUT(broke.modelBox()->count() > 0, 15000);
        broke.maxTokensBox()->setValue(24); // stories260K's context is 128 tokens
        broke.input()->setPlainText(QStringLiteral("Once upon a time"));
        QTRY_VERIFY2_WITH_TIMEOUT(broke.quoteText().contains(QStringLiteral("Not enough credits")),
                                  qPrintable(broke.quoteText()), 15000);
        QVERIFY(!broke.sendButton()->isEnabled());

        // Re-binding: the researcher's key in Account & settings. This computer is bound to the wizard's
        // account and the ledger refuses to move it (that would redirect its earnings): the app says so,
        // does not retry, and keeps contributing for the account it is bound to.
        const QString firstAccount = app.boundAccount();
        const QString nodeId = app.engine().stats().nodeId;
        QVERIFY(!nodeId.isEmpty());
        QPushButton* apply = nullptr;
        for (QPushButton* b : app.settingsPage().findChildren<QPushButton*>())
            if (b->text() == QStringLiteral("&Apply"))
                apply = b;
        QVERIFY(apply);
        app.settingsPage().setAccountKey(researcherKey);
        QTest::mouseClick(apply, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(app.bindingRefused(), 30000);
        const QString notice = app.window().noticeText();
        QVERIFY2(notice.contains(QStringLiteral("refuses to move")), qPrintable(notice));
        QVERIFY2(notice.contains(firstAccount), qPrintable(notice));
        QVERIFY2(notice.contains(nodeId), qPrintable(notice)); // what the operator needs to unbind it
        QCOMPARE(app.boundAccount(), firstAccount);
        QVERIFY(app.engine().isRunning());
        // The operator unbinds it; Apply again binds it (a signed binding) to the researcher's account.
        int unbindExit = -1;
        swarm.admin({QStringLiteral("node"), QStringLiteral("unbind"), nodeId}, &unbindExit);
        QCOMPARE(unbindExit, 0);
        QTest::mouseClick(apply, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!app.bindingRefused(), 30000);
        QTRY_VERIFY_WITH_TIMEOUT(!app.boundAccount().isEmpty() && app.boundAccount() != firstAccount, 30000);
        QVERIFY(app.window().noticeText().isEmpty());
        QVERIFY2(app.window().bannerText().contains(app.boundAccount()),
                 qPrintable(app.window().bannerText()));

        // Quit: the engine stops (drained, threads joined) and the app says it is finished.
        QSignalSpy finished(&app, &DesktopApp::finished);
        app.quit();
        QVERIFY(finished.wait(60000));
        QVERIFY(!app.engine().isRunning());
    }
};

QTEST_MAIN(DesktopSwarmTest)
#include "tst_desktop_swarm.moc"
