// Overview: balance (available, held, pending verification), earned today / this week, layer-tokens served,
// shards held, current load; a line of credits over time (24 h / 7 d / 30 d) and bars of work per hour,
// each with an honest empty state.
#pragma once

#include "ApiClient.h"
#include "EngineStats.h"
#include "WorkHistory.h"

#include <QWidget>

class QChart;
class QChartView;
class QComboBox;
class QGridLayout;
class QLabel;
class QStackedWidget;

namespace declai::desktop {

class OverviewPage : public QWidget {
    Q_OBJECT
public:
    explicit OverviewPage(QWidget* parent = nullptr);

    void showStats(const node::EngineStats& stats, const QDateTime& now);
    void showCredits(const CreditSummary& credits, const QDateTime& now);
    void showCreditsUnavailable(const ApiError& error);
    void showWork(const WorkHistory& history, const QDateTime& now);

    // For tests: how many points the credits line / bars show now (0 = the empty state is shown).
    int creditPointCount() const { return m_creditPoints; }
    int workBarCount() const { return m_workBars; }
    QString balanceText() const;
    QString earnedTodayText() const;
    QString earnedWeekText() const;

    // Verified earnings (earn_release postings) since local midnight and since Monday 00:00 before `now`.
    struct Earned {
        qint64 todayMicrocredits = 0;
        qint64 weekMicrocredits = 0;
    };
    static Earned earnedSince(const CreditSummary& credits, const QDateTime& now);

    // Cumulative balance over time from postings (newest first) and the balance now: oldest point first.
    static QList<QPointF> balanceSeries(const CreditSummary& credits, const QDateTime& from,
                                        const QDateTime& now);

private:
    void redrawCredits();
    QLabel* addFigure(QGridLayout* grid, int row, int column, const QString& caption);

    QLabel* m_available = nullptr;
    QLabel* m_held = nullptr;
    QLabel* m_pending = nullptr;
    QLabel* m_today = nullptr;
    QLabel* m_week = nullptr;
    QLabel* m_layerTokens = nullptr;
    QLabel* m_shards = nullptr;
    QLabel* m_load = nullptr;
    QLabel* m_state = nullptr;
    QLabel* m_creditsNote = nullptr;
    QComboBox* m_range = nullptr;
    QStackedWidget* m_creditsStack = nullptr;
    QLabel* m_creditsEmpty = nullptr;
    QChartView* m_creditsView = nullptr;
    QStackedWidget* m_workStack = nullptr;
    QLabel* m_workEmpty = nullptr;
    QChartView* m_workView = nullptr;
    std::optional<CreditSummary> m_credits;
    QDateTime m_creditsAt;
    int m_creditPoints = 0;
    int m_workBars = 0;
    node::EngineState m_engineState = node::EngineState::Stopped;
};

} // namespace declai::desktop
