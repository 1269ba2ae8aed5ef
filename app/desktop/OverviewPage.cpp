#include "OverviewPage.h"

#include "CreditFormat.h"
#include "TrayPresenter.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDateTimeAxis>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QLocale>
#include <QStackedWidget>
#include <QVBoxLayout>
#include <QValueAxis>

namespace declai::desktop {

namespace {

bool isDark(const QPalette& palette) {
    return palette.color(QPalette::Window).lightness() < 128;
}

QChartView* makeChartView(QWidget* parent) {
    auto* chart = new QChart;
    chart->legend()->hide();
    chart->setMargins(QMargins(4, 4, 4, 4));
    chart->setBackgroundRoundness(4);
    chart->setTheme(isDark(parent->palette()) ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    auto* view = new QChartView(chart, parent);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumHeight(170);
    return view;
}

QLabel* emptyLabel(const QString& text, QWidget* parent) {
    auto* label = new QLabel(text, parent);
    label->setAlignment(Qt::AlignCenter);
    label->setWordWrap(true);
    label->setFrameShape(QFrame::StyledPanel);
    label->setMinimumHeight(170);
    label->setForegroundRole(QPalette::PlaceholderText);
    return label;
}

} // namespace

QLabel* OverviewPage::addFigure(QGridLayout* grid, int row, int column, const QString& caption) {
    auto* box = new QFrame(this);
    box->setFrameShape(QFrame::StyledPanel);
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(10, 6, 10, 6);
    auto* captionLabel = new QLabel(caption, box);
    captionLabel->setForegroundRole(QPalette::PlaceholderText);
    auto* value = new QLabel(QStringLiteral("—"), box);
    QFont f = value->font();
    f.setPointSizeF(f.pointSizeF() * 1.45);
    f.setBold(true);
    value->setFont(f);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    value->setAccessibleName(caption);
    v->addWidget(captionLabel);
    v->addWidget(value);
    grid->addWidget(box, row, column);
    return value;
}

OverviewPage::OverviewPage(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* header = new QHBoxLayout;
    header->addWidget(new QLabel(tr("<h2>Overview</h2>"), this));
    header->addStretch(1);
    m_state = new QLabel(this);
    header->addWidget(m_state);
    layout->addLayout(header);

    auto* figures = new QGridLayout;
    figures->setHorizontalSpacing(8);
    figures->setVerticalSpacing(8);
    m_available = addFigure(figures, 0, 0, tr("Available credits"));
    m_held = addFigure(figures, 0, 1, tr("Held for running prompts"));
    m_pending = addFigure(figures, 0, 2, tr("Pending verification"));
    m_today = addFigure(figures, 0, 3, tr("Earned today"));
    m_week = addFigure(figures, 1, 0, tr("Earned this week"));
    m_layerTokens = addFigure(figures, 1, 1, tr("Layer-tokens served"));
    m_shards = addFigure(figures, 1, 2, tr("Shards held"));
    m_load = addFigure(figures, 1, 3, tr("Load now"));
    layout->addLayout(figures);
    m_creditsNote = new QLabel(this);
    m_creditsNote->setWordWrap(true);
    m_creditsNote->setVisible(false);
    layout->addWidget(m_creditsNote);

    auto* creditsHeader = new QHBoxLayout;
    auto* creditsTitle = new QLabel(tr("<b>Credits over time</b>"), this);
    creditsHeader->addWidget(creditsTitle);
    creditsHeader->addStretch(1);
    m_range = new QComboBox(this);
    m_range->addItem(tr("Last 24 hours"), 1);
    m_range->addItem(tr("Last 7 days"), 7);
    m_range->addItem(tr("Last 30 days"), 30);
    m_range->setAccessibleName(tr("Chart range"));
    creditsHeader->addWidget(m_range);
    layout->addLayout(creditsHeader);
    m_creditsStack = new QStackedWidget(this);
    m_creditsEmpty = emptyLabel(tr("No credits yet. Credits appear here once work this computer did has been "
                                   "verified by the server."),
                                this);
    m_creditsView = makeChartView(this);
    m_creditsStack->addWidget(m_creditsEmpty);
    m_creditsStack->addWidget(m_creditsView);
    layout->addWidget(m_creditsStack, 1);
    connect(m_range, &QComboBox::currentIndexChanged, this, &OverviewPage::redrawCredits);

    layout->addWidget(new QLabel(tr("<b>Work per hour</b> (layer-tokens, last 24 hours)"), this));
    m_workStack = new QStackedWidget(this);
    m_workEmpty = emptyLabel(tr("No work yet — your node is waiting for the server to place a shard."), this);
    m_workView = makeChartView(this);
    m_workStack->addWidget(m_workEmpty);
    m_workStack->addWidget(m_workView);
    layout->addWidget(m_workStack, 1);
}

QString OverviewPage::balanceText() const {
    return m_available->text();
}
QString OverviewPage::earnedTodayText() const {
    return m_today->text();
}
QString OverviewPage::earnedWeekText() const {
    return m_week->text();
}

void OverviewPage::showStats(const node::EngineStats& stats, const QDateTime& now) {
    m_engineState = stats.state;
    m_state->setText(TrayPresenter::present(stats, now).status);
    m_layerTokens->setText(QLocale().toString(stats.layerTokensServed));
    qint64 shardBytes = 0;
    for (const auto& shard : stats.shards)
        shardBytes += shard.bytes;
    m_shards->setText(
        stats.shards.isEmpty()
            ? tr("none")
            : tr("%1 (%2)").arg(stats.shards.size()).arg(QLocale().formattedDataSize(shardBytes)));
    m_load->setText(stats.state == node::EngineState::Computing
                        ? tr("%1 tok/s · %n session(s)", nullptr, stats.sessionsActive)
                              .arg(QLocale().toString(stats.tokensPerSecond, 'f', 1))
                        : tr("idle"));
    if (stats.state == node::EngineState::Idle && stats.shards.isEmpty())
        m_workEmpty->setText(tr("No work yet — your node is waiting for the server to place a shard."));
    else if (stats.state == node::EngineState::Paused || stats.state == node::EngineState::Stopped)
        m_workEmpty->setText(tr("No work in the last 24 hours — contributing is paused or stopped."));
    else
        m_workEmpty->setText(tr("No work yet — your node holds its shard and waits for prompts to compute."));
}

QList<QPointF> OverviewPage::balanceSeries(const CreditSummary& c, const QDateTime& from,
                                           const QDateTime& now) {
    // Walk back from the balance now through the postings (newest first) to rebuild the balance at each one.
    QList<QPointF> points;
    double balance = c.available;
    points.prepend(QPointF(double(now.toMSecsSinceEpoch()), balance));
    QList<Posting> sorted = c.postings;
    std::sort(sorted.begin(), sorted.end(), [](const Posting& a, const Posting& b) { return a.at > b.at; });
    for (const Posting& p : sorted) {
        if (p.at < from)
            break;
        points.prepend(QPointF(double(p.at.toMSecsSinceEpoch()), balance));
        balance -= p.amount;
        points.prepend(QPointF(double(p.at.toMSecsSinceEpoch()) - 1, balance));
    }
    points.prepend(QPointF(double(from.toMSecsSinceEpoch()), balance));
    return points;
}

OverviewPage::Earned OverviewPage::earnedSince(const CreditSummary& c, const QDateTime& now) {
    const QDateTime local = now.toLocalTime();
    const QDateTime dayStart(local.date(), QTime(0, 0));
    const QDateTime weekStart = dayStart.addDays(-(local.date().dayOfWeek() - 1)); // Monday
    Earned e;
    for (const Posting& p : c.postings) {
        if (!isEarning(p))
            continue;
        // Sums in microcredits: hundreds of tiny earnings add up exactly.
        if (p.at >= dayStart)
            e.todayMicrocredits += p.amountMicrocredits;
        if (p.at >= weekStart)
            e.weekMicrocredits += p.amountMicrocredits;
    }
    return e;
}

void OverviewPage::showCredits(const CreditSummary& c, const QDateTime& now) {
    m_credits = c;
    m_creditsAt = now;
    m_creditsNote->setVisible(false);
    auto show = [](QLabel* label, qint64 micro) {
        label->setText(formatCredits(micro));
        label->setToolTip(tr("%1 microcredits (1 credit = 1,000,000)").arg(QLocale().toString(micro)));
    };
    show(m_available, c.availableMicrocredits);
    show(m_held, c.heldMicrocredits);
    show(m_pending, c.pendingMicrocredits);
    const Earned earned = earnedSince(c, now);
    show(m_today, earned.todayMicrocredits);
    show(m_week, earned.weekMicrocredits);
    redrawCredits();
}

void OverviewPage::showCreditsUnavailable(const ApiError& error) {
    for (QLabel* l : {m_available, m_held, m_pending, m_today, m_week})
        l->setText(QStringLiteral("—"));
    switch (error.kind) {
    case ApiError::Kind::NotOffered:
        m_creditsNote->setText(
            tr("This server does not offer an account balance yet (/v1/credits), so credits "
               "cannot be shown. Your node still works and earns."));
        break;
    case ApiError::Kind::Unauthorized:
        m_creditsNote->setText(tr("Sign in to an account (Account & settings) to see your credits."));
        break;
    default:
        m_creditsNote->setText(tr("Credits could not be read: %1").arg(error.message));
        break;
    }
    m_creditsNote->setVisible(true);
    m_creditPoints = 0;
    m_creditsStack->setCurrentWidget(m_creditsEmpty);
}

void OverviewPage::redrawCredits() {
    if (!m_credits)
        return;
    const int days = m_range->currentData().toInt();
    const QDateTime from = m_creditsAt.addDays(-days);
    bool any = false;
    for (const Posting& p : m_credits->postings)
        any = any || p.at >= from;
    if (!any && m_credits->available == 0) {
        m_creditPoints = 0;
        m_creditsStack->setCurrentWidget(m_creditsEmpty);
        return;
    }
    QChart* chart = m_creditsView->chart();
    chart->removeAllSeries();
    for (QAbstractAxis* axis : chart->axes())
        chart->removeAxis(axis);
    auto* series = new QLineSeries;
    const QList<QPointF> points = balanceSeries(*m_credits, from, m_creditsAt);
    series->append(points);
    chart->addSeries(series);
    auto* x = new QDateTimeAxis;
    x->setFormat(days == 1 ? QStringLiteral("HH:mm") : QStringLiteral("MMM d"));
    x->setRange(from.toLocalTime(), m_creditsAt.toLocalTime());
    x->setTickCount(days == 1 ? 7 : 8);
    auto* y = new QValueAxis;
    double maxY = 1;
    for (const QPointF& p : points)
        maxY = std::max(maxY, p.y());
    y->setRange(0, maxY * 1.1);
    y->applyNiceNumbers(); // 0, 1, 2, ... rather than 1.4, 2.8, 4.1
    y->setLabelFormat(QStringLiteral("%g"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
    m_creditPoints = int(points.size());
    m_creditsStack->setCurrentWidget(m_creditsView);
}

void OverviewPage::showWork(const WorkHistory& history, const QDateTime& now) {
    const auto hours = history.lastDay(now);
    qint64 total = 0, maxValue = 0;
    for (const auto& h : hours) {
        total += h.second;
        maxValue = std::max(maxValue, h.second);
    }
    if (total == 0) {
        m_workBars = 0;
        m_workStack->setCurrentWidget(m_workEmpty);
        return;
    }
    QChart* chart = m_workView->chart();
    chart->removeAllSeries();
    for (QAbstractAxis* axis : chart->axes())
        chart->removeAxis(axis);
    auto* set = new QBarSet(tr("Layer-tokens"));
    QStringList categories;
    for (const auto& h : hours) {
        *set << double(h.second);
        const int hour = h.first.toLocalTime().time().hour();
        categories << (hour % 3 == 0 ? QStringLiteral("%1").arg(hour, 2, 10, QLatin1Char('0'))
                                     : QString(hour, QLatin1Char(' '))); // unique, blank labels
    }
    auto* series = new QBarSeries;
    series->append(set);
    series->setBarWidth(0.8);
    chart->addSeries(series);
    auto* x = new QBarCategoryAxis;
    x->append(categories);
    auto* y = new QValueAxis;
    y->setRange(0, double(maxValue) * 1.15);
    y->applyNiceNumbers(); // 0, 500, 1000, ... rather than 388, 775, 1163
    y->setLabelFormat(QStringLiteral("%.0f"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
    m_workBars = 24;
    m_workStack->setCurrentWidget(m_workView);
}

} // namespace declai::desktop
