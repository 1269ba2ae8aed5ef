// One QtTest suite compiled six ways (SELFCHECK_<kind>), each doing one thing the CTest runner must report
// right: pass, skip only, skip and fail, fail only, crash after a skip, and exit 0 before finishing.
#include <QTest>
#include <csignal>
#include <cstdlib>

class Suite : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void first() {
#if defined(SELFCHECK_skip_only) || defined(SELFCHECK_skip_and_fail) || defined(SELFCHECK_crash_after_skip)
        QSKIP("selfcheck: this function skips");
#endif
        QVERIFY(true);
    }
    void second() {
#if defined(SELFCHECK_skip_and_fail) || defined(SELFCHECK_fail_only)
        QFAIL("selfcheck: this function fails");
#elif defined(SELFCHECK_crash_after_skip)
        std::raise(SIGSEGV);
#elif defined(SELFCHECK_early_exit)
        std::exit(0);
#endif
        QCOMPARE(1 + 1, 2);
    }
};

QTEST_GUILESS_MAIN(Suite)
#include "suite.moc"
