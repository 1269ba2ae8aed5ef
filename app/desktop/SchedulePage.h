// Schedule: the weekly grid and the rules (idle N minutes, battery, full screen, CPU throttle). Edits a
// ContributionRules value; every edit is emitted at once (the engine applies it on its thread).
#pragma once

#include "EngineStats.h"
#include "declai/core/ContributionSchedule.h"

#include <QWidget>

class QCheckBox;
class QLabel;
class QSlider;
class QSpinBox;

namespace declai::desktop {

class WeeklyGridWidget;

class SchedulePage : public QWidget {
    Q_OBJECT
public:
    explicit SchedulePage(QWidget* parent = nullptr);

    ContributionRules rules() const;
    void setRules(const ContributionRules& rules);  // does not emit rulesEdited
    void showStats(const node::EngineStats& stats); // the rule that pauses now, rules that cannot be checked
    WeeklyGridWidget* gridWidget() const { return m_grid; }

Q_SIGNALS:
    void rulesEdited(const declai::ContributionRules& rules);

private:
    void emitEdited();
    void updateSummary();

    WeeklyGridWidget* m_grid = nullptr;
    QLabel* m_summary = nullptr;
    QCheckBox* m_idle = nullptr;
    QSpinBox* m_idleMinutes = nullptr;
    QCheckBox* m_battery = nullptr;
    QCheckBox* m_fullScreen = nullptr;
    QSlider* m_throttle = nullptr;
    QLabel* m_throttleValue = nullptr;
    QLabel* m_now = nullptr;
    QLabel* m_notes = nullptr;
    bool m_loading = false;
};

} // namespace declai::desktop
