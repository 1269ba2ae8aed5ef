// The dashboard window: a page list on the left, the pages on the right, and a banner for what the
// volunteer must know (e.g. "this desktop has no tray"). Owns no logic: pages are built by the
// composition root and handed in. Ctrl+1..Ctrl+9 switch pages.
#pragma once

#include <QMainWindow>

class QLabel;
class QListWidget;
class QStackedWidget;

namespace declai::desktop {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    void addPage(const QString& id, const QString& title, QWidget* page);
    bool showPage(const QString& id);
    QWidget* page(const QString& id) const;
    QString currentPageId() const;
    void setBanner(const QString& text); // empty hides it
    QString bannerText() const;
    // A notice that stays until the volunteer dismisses it (unreadable history files); empty hides it.
    void setNotice(const QString& text);
    QString noticeText() const;
    // true: closing hides to the tray; false: closing quits (no tray to come back from).
    void setHidesToTray(bool hides) { m_hidesToTray = hides; }
    void raiseAndShow();

Q_SIGNALS:
    void closeRequested(); // closed while there is no tray: the app quits

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    QListWidget* m_nav = nullptr;
    QStackedWidget* m_stack = nullptr;
    QLabel* m_banner = nullptr;
    QLabel* m_notice = nullptr;
    QString m_noticeText;
    QStringList m_ids;
    bool m_hidesToTray = true;
};

} // namespace declai::desktop
