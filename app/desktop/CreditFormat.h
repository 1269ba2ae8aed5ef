// Credits as a volunteer reads them. The ledger counts microcredits (1 credit = 1,000,000); a tiny model
// earns a few hundred microcredits per prompt, so two decimals would show a real day's earnings as 0.00.
// Amounts of a credit or more: two decimals; smaller ones: as many decimals as they need (at most six,
// trailing zeros dropped, never fewer than two). Pure; the caller passes the locale.
#pragma once

#include <QLocale>
#include <QString>
#include <QtGlobal>

namespace declai::desktop {

inline QString formatCredits(qint64 microcredits, const QLocale& locale = QLocale()) {
    constexpr qint64 kMicroPerCredit = 1000000;
    const double credits = double(microcredits) / double(kMicroPerCredit);
    if (microcredits == 0 || qAbs(microcredits) >= kMicroPerCredit)
        return locale.toString(credits, 'f', 2);
    int decimals = 6;
    qint64 rest = qAbs(microcredits);
    while (decimals > 2 && rest % 10 == 0) { // 0.015300 -> 0.0153
        rest /= 10;
        --decimals;
    }
    return locale.toString(credits, 'f', decimals);
}

inline qint64 toMicrocredits(double credits) {
    return qRound64(credits * 1e6);
}

} // namespace declai::desktop
