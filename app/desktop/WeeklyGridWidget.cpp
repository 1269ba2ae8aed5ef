#include "WeeklyGridWidget.h"

#include <QKeyEvent>
#include <QLocale>
#include <QMouseEvent>
#include <QPainter>

namespace declai::desktop {

namespace {
constexpr int kDays = 7;
constexpr int kHours = 24;
constexpr int kMinCell = 14;
} // namespace

WeeklyGridWidget::WeeklyGridWidget(QWidget* parent) : QWidget(parent) {
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(false);
    setAccessibleName(tr("Weekly schedule"));
    setAccessibleDescription(tr("Hours when DeCLAI may compute. Drag to switch hours on or off; arrows and "
                                "Space from the keyboard."));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
}

void WeeklyGridWidget::setGrid(const WeeklyGrid& grid) {
    m_grid = grid;
    update();
}

QSize WeeklyGridWidget::sizeHint() const {
    return {m_left + kHours * 26 + 2, m_top + kDays * 26 + 2};
}
QSize WeeklyGridWidget::minimumSizeHint() const {
    return {m_left + kHours * kMinCell + 2, m_top + kDays * kMinCell + 2};
}

void WeeklyGridWidget::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    layoutCells();
}

void WeeklyGridWidget::layoutCells() {
    const QFontMetrics fm(font());
    m_left = fm.horizontalAdvance(QStringLiteral("Wed")) + 14;
    m_top = fm.height() + 6;
    m_cellW = std::max(double(kMinCell), double(width() - m_left - 2) / kHours);
    m_cellH = std::max(double(kMinCell), std::min(30.0, double(height() - m_top - 2) / kDays));
}

QRect WeeklyGridWidget::cellRect(int dayOfWeek, int hour) const {
    const int x0 = m_left + int(hour * m_cellW);
    const int x1 = m_left + int((hour + 1) * m_cellW);
    const int y0 = m_top + int((dayOfWeek - 1) * m_cellH);
    const int y1 = m_top + int(dayOfWeek * m_cellH);
    return QRect(QPoint(x0, y0), QPoint(x1 - 1, y1 - 1));
}

QPoint WeeklyGridWidget::cellCenter(int dayOfWeek, int hour) const {
    return cellRect(dayOfWeek, hour).center();
}

std::optional<WeeklyGridWidget::Cell> WeeklyGridWidget::cellAt(const QPoint& p) const {
    if (p.x() < m_left || p.y() < m_top)
        return std::nullopt;
    const int hour = int((p.x() - m_left) / m_cellW);
    const int day = int((p.y() - m_top) / m_cellH) + 1;
    if (hour < 0 || hour >= kHours || day < 1 || day > kDays)
        return std::nullopt;
    return Cell{day, hour};
}

bool WeeklyGridWidget::inSelection(int dayOfWeek, int hour) const {
    if (!m_dragStart)
        return false;
    const auto [d0, d1] = std::minmax(m_dragStart->dayOfWeek, m_dragEnd.dayOfWeek);
    const auto [h0, h1] = std::minmax(m_dragStart->hour, m_dragEnd.hour);
    return dayOfWeek >= d0 && dayOfWeek <= d1 && hour >= h0 && hour <= h1;
}

void WeeklyGridWidget::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    const QPalette& pal = palette();
    const QColor on = pal.color(QPalette::Highlight);
    const QColor off = pal.color(QPalette::Base);
    const QColor line = pal.color(QPalette::Mid);
    const QColor text = pal.color(QPalette::WindowText);
    painter.setPen(text);
    const QLocale locale;
    for (int day = 1; day <= kDays; ++day) {
        const QRect r(0, m_top + int((day - 1) * m_cellH), m_left - 6, int(m_cellH));
        painter.drawText(r, Qt::AlignVCenter | Qt::AlignRight, locale.dayName(day, QLocale::ShortFormat));
    }
    for (int hour = 0; hour < kHours; hour += 3) {
        const QRect r(m_left + int(hour * m_cellW), 0, int(3 * m_cellW), m_top - 2);
        painter.drawText(r, Qt::AlignLeft | Qt::AlignBottom,
                         QStringLiteral("%1").arg(hour, 2, 10, QLatin1Char('0')));
    }
    for (int day = 1; day <= kDays; ++day) {
        for (int hour = 0; hour < kHours; ++hour) {
            bool isOn = m_grid.isOn(day, hour);
            if (inSelection(day, hour))
                isOn = m_paintOn;
            const QRect r = cellRect(day, hour);
            painter.fillRect(r, isOn ? on : off);
            painter.setPen(line);
            painter.drawRect(r.adjusted(0, 0, 0, 0));
        }
    }
    if (hasFocus()) {
        QPen pen(pal.color(QPalette::Text));
        pen.setWidth(2);
        painter.setPen(pen);
        painter.drawRect(cellRect(m_cursor.dayOfWeek, m_cursor.hour).adjusted(1, 1, -1, -1));
    }
}

void WeeklyGridWidget::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton)
        return QWidget::mousePressEvent(event);
    const auto cell = cellAt(event->position().toPoint());
    if (!cell)
        return;
    m_dragStart = *cell;
    m_dragEnd = *cell;
    m_cursor = *cell;
    m_paintOn = !m_grid.isOn(cell->dayOfWeek, cell->hour);
    update();
}

void WeeklyGridWidget::mouseMoveEvent(QMouseEvent* event) {
    if (!m_dragStart)
        return;
    // Clamp to the grid so a drag that leaves the widget still selects up to its edge.
    QPoint p = event->position().toPoint();
    p.setX(std::clamp(p.x(), m_left, m_left + int(kHours * m_cellW) - 1));
    p.setY(std::clamp(p.y(), m_top, m_top + int(kDays * m_cellH) - 1));
    if (const auto cell = cellAt(p); cell && !(*cell == m_dragEnd)) {
        m_dragEnd = *cell;
        update();
    }
}

void WeeklyGridWidget::mouseReleaseEvent(QMouseEvent* event) {
    if (!m_dragStart || event->button() != Qt::LeftButton)
        return;
    for (int day = 1; day <= kDays; ++day)
        for (int hour = 0; hour < kHours; ++hour)
            if (inSelection(day, hour))
                m_grid.set(day, hour, m_paintOn);
    m_dragStart.reset();
    update();
    Q_EMIT gridEdited(m_grid);
}

void WeeklyGridWidget::keyPressEvent(QKeyEvent* event) {
    switch (event->key()) {
    case Qt::Key_Left:
        m_cursor.hour = std::max(0, m_cursor.hour - 1);
        break;
    case Qt::Key_Right:
        m_cursor.hour = std::min(kHours - 1, m_cursor.hour + 1);
        break;
    case Qt::Key_Up:
        m_cursor.dayOfWeek = std::max(1, m_cursor.dayOfWeek - 1);
        break;
    case Qt::Key_Down:
        m_cursor.dayOfWeek = std::min(kDays, m_cursor.dayOfWeek + 1);
        break;
    case Qt::Key_Space:
        m_grid.set(m_cursor.dayOfWeek, m_cursor.hour, !m_grid.isOn(m_cursor.dayOfWeek, m_cursor.hour));
        Q_EMIT gridEdited(m_grid);
        break;
    default:
        return QWidget::keyPressEvent(event);
    }
    update();
}

} // namespace declai::desktop
