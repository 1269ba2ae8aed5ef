#include "MainWindow.h"

#include <QCloseEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QShortcut>
#include <QStackedWidget>
#include <QVBoxLayout>

namespace declai::desktop {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("DeCLAI"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/declai.svg")));
    auto* central = new QWidget(this);
    auto* outer = new QVBoxLayout(central);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->setSpacing(0);
    m_banner = new QLabel(central);
    m_banner->setWordWrap(true);
    m_banner->setMargin(8);
    m_banner->setAutoFillBackground(true);
    QPalette bannerPalette = m_banner->palette();
    bannerPalette.setColor(QPalette::Window, bannerPalette.color(QPalette::ToolTipBase));
    bannerPalette.setColor(QPalette::WindowText, bannerPalette.color(QPalette::ToolTipText));
    m_banner->setPalette(bannerPalette);
    m_banner->setVisible(false);
    outer->addWidget(m_banner);
    // Notices stay until dismissed (the banner above is replaced by whatever happens next).
    m_notice = new QLabel(central);
    m_notice->setWordWrap(true);
    m_notice->setMargin(8);
    m_notice->setAutoFillBackground(true);
    m_notice->setPalette(bannerPalette);
    m_notice->setTextFormat(Qt::RichText);
    m_notice->setVisible(false);
    connect(m_notice, &QLabel::linkActivated, this, [this] { setNotice(QString()); });
    outer->addWidget(m_notice);
    auto* row = new QHBoxLayout;
    row->setContentsMargins(8, 8, 8, 8);
    m_nav = new QListWidget(central);
    m_nav->setAccessibleName(tr("Pages"));
    m_nav->setFixedWidth(190);
    m_nav->setSpacing(2);
    QFont navFont = m_nav->font();
    navFont.setPointSizeF(navFont.pointSizeF() * 1.1);
    m_nav->setFont(navFont);
    m_stack = new QStackedWidget(central);
    row->addWidget(m_nav);
    row->addWidget(m_stack, 1);
    outer->addLayout(row, 1);
    setCentralWidget(central);
    connect(m_nav, &QListWidget::currentRowChanged, m_stack, &QStackedWidget::setCurrentIndex);
    for (int i = 1; i <= 9; ++i) {
        auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_0 + i)), this);
        connect(shortcut, &QShortcut::activated, this, [this, i] {
            if (i <= m_nav->count())
                m_nav->setCurrentRow(i - 1);
        });
    }
    resize(1040, 720);
}

void MainWindow::addPage(const QString& id, const QString& title, QWidget* page) {
    m_ids << id;
    auto* item = new QListWidgetItem(title, m_nav);
    item->setSizeHint(QSize(0, 34));
    item->setToolTip(tr("%1 (Ctrl+%2)").arg(title).arg(m_ids.size()));
    m_stack->addWidget(page);
    if (m_nav->currentRow() < 0)
        m_nav->setCurrentRow(0);
}

bool MainWindow::showPage(const QString& id) {
    const int index = int(m_ids.indexOf(id));
    if (index < 0)
        return false;
    m_nav->setCurrentRow(index);
    return true;
}

QWidget* MainWindow::page(const QString& id) const {
    const int index = int(m_ids.indexOf(id));
    return index < 0 ? nullptr : m_stack->widget(index);
}

QString MainWindow::currentPageId() const {
    const int index = m_stack->currentIndex();
    return index >= 0 && index < m_ids.size() ? m_ids[index] : QString();
}

void MainWindow::setBanner(const QString& text) {
    m_banner->setText(text);
    m_banner->setVisible(!text.isEmpty());
}

void MainWindow::setNotice(const QString& text) {
    m_noticeText = text;
    m_notice->setText(text.toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral("<br>")) +
                      QStringLiteral(" &nbsp;<a href=\"dismiss\">%1</a>").arg(tr("Dismiss")));
    m_notice->setVisible(!text.isEmpty());
}

QString MainWindow::noticeText() const {
    return m_notice->isVisible() ? m_noticeText : QString();
}

QString MainWindow::bannerText() const {
    return m_banner->isVisible() ? m_banner->text() : QString();
}

void MainWindow::raiseAndShow() {
    show();
    setWindowState((windowState() & ~Qt::WindowMinimized) | Qt::WindowActive);
    raise();
    activateWindow();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_hidesToTray) {
        hide(); // keeps contributing in the tray
        event->ignore();
        return;
    }
    event->accept();
    Q_EMIT closeRequested();
}

} // namespace declai::desktop
