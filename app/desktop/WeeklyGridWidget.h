// The Schedule page's weekly grid: 7 days x 24 hours; drag with the mouse to switch a rectangle of hours on
// (starting on an off hour) or off (starting on an on hour); arrows + Space do the same from the keyboard.
// Edits a WeeklyGrid (declai/core/ContributionSchedule.h); follows the palette (light/dark).
#pragma once

#include "declai/core/ContributionSchedule.h"

#include <QWidget>
#include <optional>

namespace declai::desktop {

class WeeklyGridWidget : public QWidget {
    Q_OBJECT
public:
    explicit WeeklyGridWidget(QWidget* parent = nullptr);

    WeeklyGrid grid() const { return m_grid; }
    void setGrid(const WeeklyGrid& grid);

    // Centre of a cell in widget coordinates (dayOfWeek 1 = Monday .. 7, hour 0..23): for tests and tooltips.
    QPoint cellCenter(int dayOfWeek, int hour) const;
    struct Cell {
        int dayOfWeek = 1;
        int hour = 0;
        bool operator==(const Cell&) const = default;
    };
    std::optional<Cell> cellAt(const QPoint& position) const;

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

Q_SIGNALS:
    void gridEdited(const declai::WeeklyGrid& grid); // after a drag or a key press changed it

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    QRect cellRect(int dayOfWeek, int hour) const;
    bool inSelection(int dayOfWeek, int hour) const;
    void layoutCells();

    WeeklyGrid m_grid;
    std::optional<Cell> m_dragStart;
    Cell m_dragEnd;
    bool m_paintOn = true;
    Cell m_cursor; // keyboard focus cell
    // Geometry, recomputed on resize.
    int m_left = 44;
    int m_top = 22;
    double m_cellW = 22;
    double m_cellH = 22;
};

} // namespace declai::desktop
