#include "SchedulePage.h"

#include "TrayPresenter.h"
#include "WeeklyGridWidget.h"

#include <QCheckBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

namespace declai::desktop {

SchedulePage::SchedulePage(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* title = new QLabel(tr("<h2>When to contribute</h2>"), this);
    layout->addWidget(title);
    auto* intro =
        new QLabel(tr("Coloured hours are when DeCLAI may use this computer. Drag across the grid to "
                      "switch hours on or off; the rules below can pause it inside those hours."),
                   this);
    intro->setWordWrap(true);
    layout->addWidget(intro);

    m_grid = new WeeklyGridWidget(this);
    layout->addWidget(m_grid);
    auto* presets = new QHBoxLayout;
    auto* always = new QPushButton(tr("&Every hour"), this);
    auto* nights = new QPushButton(tr("&Nights and weekends"), this);
    auto* none = new QPushButton(tr("C&lear all"), this);
    m_summary = new QLabel(this);
    presets->addWidget(always);
    presets->addWidget(nights);
    presets->addWidget(none);
    presets->addStretch(1);
    presets->addWidget(m_summary);
    layout->addLayout(presets);
    connect(always, &QPushButton::clicked, this, [this] {
        m_grid->setGrid(WeeklyGrid::allOn());
        emitEdited();
    });
    connect(nights, &QPushButton::clicked, this, [this] {
        WeeklyGrid g = WeeklyGrid::allOff();
        for (int day = 1; day <= 7; ++day)
            for (int hour = 0; hour < 24; ++hour)
                g.set(day, hour, day >= 6 || hour < 8 || hour >= 19);
        m_grid->setGrid(g);
        emitEdited();
    });
    connect(none, &QPushButton::clicked, this, [this] {
        m_grid->setGrid(WeeklyGrid::allOff());
        emitEdited();
    });
    connect(m_grid, &WeeklyGridWidget::gridEdited, this, &SchedulePage::emitEdited);

    auto* rulesBox = new QGroupBox(tr("Rules"), this);
    auto* rules = new QVBoxLayout(rulesBox);
    auto* idleRow = new QHBoxLayout;
    m_idle = new QCheckBox(tr("Only when the computer has been &idle for"), rulesBox);
    m_idleMinutes = new QSpinBox(rulesBox);
    m_idleMinutes->setRange(1, ContributionRules::kMaxIdleMinutes);
    m_idleMinutes->setSuffix(tr(" minutes"));
    m_idleMinutes->setAccessibleName(tr("Idle minutes"));
    idleRow->addWidget(m_idle);
    idleRow->addWidget(m_idleMinutes);
    idleRow->addStretch(1);
    rules->addLayout(idleRow);
    m_battery = new QCheckBox(tr("Pause while running on &battery"), rulesBox);
    rules->addWidget(m_battery);
    m_fullScreen = new QCheckBox(
        tr("Pause while a &full-screen application runs (games, videos, presentations)"), rulesBox);
    rules->addWidget(m_fullScreen);
    auto* throttleRow = new QHBoxLayout;
    auto* throttleLabel = new QLabel(tr("&CPU use at most"), rulesBox);
    m_throttle = new QSlider(Qt::Horizontal, rulesBox);
    m_throttle->setRange(ContributionRules::kMinThrottlePercent, 100);
    m_throttle->setSingleStep(10);
    m_throttle->setPageStep(10);
    m_throttle->setAccessibleName(tr("CPU use at most, percent"));
    throttleLabel->setBuddy(m_throttle);
    m_throttleValue = new QLabel(rulesBox);
    m_throttleValue->setMinimumWidth(QFontMetrics(font()).horizontalAdvance(QStringLiteral("100 %  ")));
    throttleRow->addWidget(throttleLabel);
    throttleRow->addWidget(m_throttle, 1);
    throttleRow->addWidget(m_throttleValue);
    rules->addLayout(throttleRow);
    m_notes = new QLabel(rulesBox);
    m_notes->setWordWrap(true);
    m_notes->setVisible(false);
    rules->addWidget(m_notes);
    layout->addWidget(rulesBox);
    m_now = new QLabel(this);
    m_now->setWordWrap(true);
    layout->addWidget(m_now);
    layout->addStretch(1); // spare height below the rules, not between the grid and its buttons

    connect(m_idle, &QCheckBox::toggled, this, [this](bool on) {
        m_idleMinutes->setEnabled(on);
        emitEdited();
    });
    connect(m_idleMinutes, &QSpinBox::valueChanged, this, &SchedulePage::emitEdited);
    connect(m_battery, &QCheckBox::toggled, this, &SchedulePage::emitEdited);
    connect(m_fullScreen, &QCheckBox::toggled, this, &SchedulePage::emitEdited);
    connect(m_throttle, &QSlider::valueChanged, this, [this](int value) {
        m_throttleValue->setText(tr("%1 %").arg(value));
        emitEdited();
    });
    setRules(ContributionRules{});
}

ContributionRules SchedulePage::rules() const {
    ContributionRules r;
    r.grid = m_grid->grid();
    r.idleMinutesRequired = m_idle->isChecked() ? m_idleMinutes->value() : 0;
    r.pauseOnBattery = m_battery->isChecked();
    r.pauseWhileFullScreen = m_fullScreen->isChecked();
    r.cpuThrottlePercent = m_throttle->value();
    return r;
}

void SchedulePage::setRules(const ContributionRules& rules) {
    m_loading = true;
    m_grid->setGrid(rules.grid);
    m_idle->setChecked(rules.idleMinutesRequired > 0);
    m_idleMinutes->setValue(rules.idleMinutesRequired > 0 ? rules.idleMinutesRequired : 5);
    m_idleMinutes->setEnabled(rules.idleMinutesRequired > 0);
    m_battery->setChecked(rules.pauseOnBattery);
    m_fullScreen->setChecked(rules.pauseWhileFullScreen);
    m_throttle->setValue(rules.cpuThrottlePercent);
    m_throttleValue->setText(tr("%1 %").arg(rules.cpuThrottlePercent));
    m_loading = false;
    updateSummary();
}

void SchedulePage::updateSummary() {
    const int hours = m_grid->grid().countOn();
    m_summary->setText(tr("%n hour(s) a week", nullptr, hours));
}

void SchedulePage::emitEdited() {
    updateSummary();
    if (!m_loading)
        Q_EMIT rulesEdited(rules());
}

void SchedulePage::showStats(const node::EngineStats& stats) {
    if (stats.state == node::EngineState::Paused &&
        (stats.pauseKind == node::PauseKind::Rule || stats.pauseKind == node::PauseKind::Schedule)) {
        const QString reason = TrayPresenter::ruleReasonText(stats.ruleReason);
        m_now->setText(tr("Now: paused — %1.").arg(reason.isEmpty() ? stats.pauseText : reason));
    } else if (stats.state == node::EngineState::Computing || stats.state == node::EngineState::Idle) {
        m_now->setText(tr("Now: the rules allow contributing."));
    } else {
        m_now->clear();
    }
    // Say plainly which rules this platform cannot check (e.g. full screen on Linux without a compositor
    // API).
    if (stats.ruleNotes.isEmpty()) {
        m_notes->setVisible(false);
    } else {
        m_notes->setText(tr("Not checked on this computer (it never pauses for this): %1")
                             .arg(stats.ruleNotes.join(QStringLiteral("; "))));
        m_notes->setVisible(true);
    }
}

} // namespace declai::desktop
