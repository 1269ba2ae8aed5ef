// The Contribute page's Benchmark button against the real engine (ContributorEngine's CPU benchmark on a
// worker thread): progress shows and grows, the GUI thread keeps running, the result appears with its date
// and is kept; Cancel ends a run early and keeps the previous figures.
#include "BenchmarkStore.h"
#include "ContributePage.h"
#include "EngineController.h"

#include <QElapsedTimer>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

using namespace declai;
using namespace declai::desktop;

class BenchmarkPageTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;

    node::NodeSettings settings() const {
        node::NodeSettings s;
        s.serverUrl = QUrl(QStringLiteral("wss://127.0.0.1:1")); // never started: benchmarks need no server
        s.dataDir = m_dir.filePath(QStringLiteral("data"));
        s.budgets.threads = 1;
        return s;
    }

private Q_SLOTS:
    void benchmarkShowsProgressAndKeepsResult() {
        LocalEngineController engine(settings());
        QSettings appSettings(m_dir.filePath(QStringLiteral("app.ini")), QSettings::IniFormat);
        BenchmarkStore store(appSettings);
        ContributePage page(engine, store);
        page.resize(900, 700);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        // Devices are listed by the engine from a worker thread.
        QTRY_VERIFY_WITH_TIMEOUT(page.deviceTable()->rowCount() > 0, 30000);
        QCOMPARE(page.resultText(QStringLiteral("cpu")), QStringLiteral("not measured"));

        QSignalSpy progress(&engine, &EngineController::benchmarkProgress);
        QSignalSpy finished(&engine, &EngineController::benchmarkFinished);
        page.deviceTable()->selectRow(0);
        QVERIFY(page.benchmarkButton()->isEnabled());
        QTest::mouseClick(page.benchmarkButton(), Qt::LeftButton);
        QVERIFY(!page.benchmarkButton()->isEnabled());
        QVERIFY(page.cancelButton()->isEnabled());
        QVERIFY(page.progressBar()->isVisible());
        // The GUI thread is not blocked: a timer fires while the benchmark runs.
        int ticks = 0;
        QTimer tick;
        connect(&tick, &QTimer::timeout, this, [&ticks] { ++ticks; });
        tick.start(50);
        int maxBar = 0;
        QElapsedTimer clock;
        clock.start();
        while (finished.isEmpty() && clock.elapsed() < 240000) {
            QTest::qWait(50);
            maxBar = std::max(maxBar, page.progressBar()->value());
        }
        QCOMPARE(finished.count(), 1);
        const auto result = finished.first().first().value<BenchmarkResult>();
        QVERIFY2(result.ok, qPrintable(result.error));
        QVERIFY(result.f16Gflops > 0);
        QVERIFY2(progress.count() >= 3, qPrintable(QString::number(progress.count())));
        QVERIFY2(maxBar > 0, "the progress bar never moved");
        QVERIFY2(ticks > 5, "the GUI thread was blocked during the benchmark");
        QVERIFY(page.benchmarkButton()->isEnabled());
        QVERIFY(!page.progressBar()->isVisible());
        QVERIFY2(page.resultText(QStringLiteral("cpu")).contains(QStringLiteral("GFLOP/s")),
                 qPrintable(page.resultText(QStringLiteral("cpu"))));
        const auto kept = store.load(QStringLiteral("cpu"));
        QVERIFY(kept.has_value());
        QCOMPARE(kept->measuredAt.toUTC().date(), QDateTime::currentDateTimeUtc().date());
        QCOMPARE(kept->f16Gflops, result.f16Gflops);
    }

    void cancelEndsEarlyAndKeepsPreviousFigures() {
        LocalEngineController engine(settings());
        QSettings appSettings(m_dir.filePath(QStringLiteral("app.ini")), QSettings::IniFormat);
        BenchmarkStore store(appSettings);
        const auto before = store.load(QStringLiteral("cpu")); // from the test above
        ContributePage page(engine, store);
        page.show();
        QTRY_VERIFY_WITH_TIMEOUT(page.deviceTable()->rowCount() > 0, 30000);
        QSignalSpy finished(&engine, &EngineController::benchmarkFinished);
        QElapsedTimer clock;
        clock.start();
        QTest::mouseClick(page.benchmarkButton(), Qt::LeftButton);
        QTest::mouseClick(page.cancelButton(), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        const auto result = finished.first().first().value<BenchmarkResult>();
        QVERIFY(!result.ok);
        QVERIFY2(result.error.contains(QStringLiteral("cancel")), qPrintable(result.error));
        QVERIFY(page.benchmarkButton()->isEnabled());
        const auto after = store.load(QStringLiteral("cpu"));
        QCOMPARE(after.has_value(), before.has_value());
        if (before)
            QCOMPARE(after->f16Gflops, before->f16Gflops);
    }
};

QTEST_MAIN(BenchmarkPageTest)
#include "tst_benchmark_page.moc"
