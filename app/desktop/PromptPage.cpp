#include "PromptPage.h"

#include "CreditFormat.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTextBrowser>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace declai::desktop {

PromptPage::PromptPage(ApiClient& api, PromptHistory& history, QWidget* parent)
    : QWidget(parent), m_api(api), m_historyStore(history) {
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(tr("<h2>Prompt</h2>"), this));

    auto* top = new QHBoxLayout;
    auto* modelLabel = new QLabel(tr("&Model:"), this);
    m_model = new QComboBox(this);
    m_model->setMinimumContentsLength(18);
    m_model->setPlaceholderText(tr("no models"));
    modelLabel->setBuddy(m_model);
    m_refresh = new QPushButton(tr("&Refresh"), this);
    m_chat = new QCheckBox(tr("C&hat (keep the conversation)"), this);
    m_chat->setChecked(true);
    top->addWidget(modelLabel);
    top->addWidget(m_model);
    top->addWidget(m_refresh);
    top->addSpacing(16);
    top->addWidget(m_chat);
    top->addStretch(1);
    layout->addLayout(top);

    auto* splitter = new QSplitter(Qt::Horizontal, this);
    auto* left = new QWidget(splitter);
    auto* lv = new QVBoxLayout(left);
    lv->setContentsMargins(0, 0, 0, 0);
    m_transcript = new QTextBrowser(left);
    m_transcript->setAccessibleName(tr("Answer"));
    m_transcript->setPlaceholderText(tr("The answer streams here, token by token."));
    lv->addWidget(m_transcript, 3);
    m_input = new QPlainTextEdit(left);
    m_input->setAccessibleName(tr("Prompt"));
    m_input->setPlaceholderText(tr("Write a prompt, e.g. “Once upon a time” — Ctrl+Enter sends, Esc stops."));
    m_input->setTabChangesFocus(true);
    m_input->setMaximumHeight(110);
    lv->addWidget(m_input, 1);

    auto* params = new QHBoxLayout;
    m_maxTokens = new QSpinBox(left);
    m_maxTokens->setRange(1, 4096);
    m_maxTokens->setValue(128);
    m_maxTokens->setAccessibleName(tr("Maximum tokens"));
    m_temperature = new QDoubleSpinBox(left);
    m_temperature->setRange(0, 2);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(0.8);
    m_temperature->setAccessibleName(tr("Temperature"));
    m_topP = new QDoubleSpinBox(left);
    m_topP->setRange(0.05, 1);
    m_topP->setSingleStep(0.05);
    m_topP->setValue(0.95);
    m_topP->setAccessibleName(tr("Top-p"));
    auto addParam = [&](const QString& text, QWidget* w) {
        auto* l = new QLabel(text, left);
        l->setBuddy(w);
        params->addWidget(l);
        params->addWidget(w);
        params->addSpacing(8);
    };
    addParam(tr("Max &tokens:"), m_maxTokens);
    addParam(tr("T&emperature:"), m_temperature);
    addParam(tr("Top-&p:"), m_topP);
    params->addStretch(1);
    lv->addLayout(params);

    auto* actions = new QHBoxLayout;
    m_quote = new QLabel(left);
    m_quote->setWordWrap(true);
    m_quote->setTextFormat(Qt::RichText);
    m_quote->setAccessibleName(tr("Cost quote"));
    m_send = new QPushButton(tr("&Send"), left);
    m_send->setDefault(true);
    m_stop = new QPushButton(tr("S&top"), left);
    m_stop->setEnabled(false);
    m_newChat = new QPushButton(tr("&New chat"), left);
    actions->addWidget(m_quote, 1);
    actions->addWidget(m_newChat);
    actions->addWidget(m_stop);
    actions->addWidget(m_send);
    lv->addLayout(actions);
    m_status = new QLabel(left);
    m_status->setWordWrap(true);
    lv->addWidget(m_status);

    auto* right = new QWidget(splitter);
    auto* rv = new QVBoxLayout(right);
    rv->setContentsMargins(0, 0, 0, 0);
    rv->addWidget(new QLabel(tr("<b>History</b>"), right));
    m_history = new QTreeWidget(right);
    m_history->setHeaderLabels({tr("When"), tr("Model"), tr("Tokens"), tr("Time"), tr("Cost")});
    m_history->setRootIsDecorated(false);
    m_history->setAccessibleName(tr("Prompt history"));
    m_history->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    rv->addWidget(m_history);
    splitter->addWidget(left);
    splitter->addWidget(right);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    splitter->setSizes({620, 400});
    layout->addWidget(splitter, 1);

    m_quoteDebounce.setSingleShot(true);
    m_quoteDebounce.setInterval(400);
    connect(&m_quoteDebounce, &QTimer::timeout, this, &PromptPage::requestQuote);
    connect(m_model, &QComboBox::currentIndexChanged, this, [this] { m_quoteDebounce.start(); });
    connect(m_maxTokens, &QSpinBox::valueChanged, this, [this] { m_quoteDebounce.start(); });
    connect(m_input, &QPlainTextEdit::textChanged, this, [this] { m_quoteDebounce.start(); });
    connect(m_chat, &QCheckBox::toggled, this, [this] { m_quoteDebounce.start(); });
    connect(m_refresh, &QPushButton::clicked, this, &PromptPage::refreshModels);
    connect(m_send, &QPushButton::clicked, this, &PromptPage::send);
    connect(m_stop, &QPushButton::clicked, this, [this] {
        if (m_stream)
            m_stream->stop();
    });
    connect(m_newChat, &QPushButton::clicked, this, [this] {
        m_conversation.clear();
        m_transcript->clear();
        setStatus(QString());
    });
    auto* sendKey = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    connect(sendKey, &QShortcut::activated, this, &PromptPage::send);
    auto* stopKey = new QShortcut(QKeySequence(Qt::Key_Escape), this);
    connect(stopKey, &QShortcut::activated, m_stop, &QPushButton::click);
    connect(m_history, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
        m_input->setPlainText(item->data(0, Qt::UserRole).toString());
        m_transcript->setPlainText(item->data(1, Qt::UserRole).toString());
    });

    connect(&m_api, &ApiClient::modelsReady, this, [this](const QStringList& models) {
        const QString current = m_model->currentText();
        m_model->clear();
        m_model->addItems(models);
        if (models.contains(current))
            m_model->setCurrentText(current);
        else if (!models.isEmpty())
            m_model->setCurrentIndex(0); // with a placeholder text Qt leaves the index at -1

        setStatus(models.isEmpty() ? tr("The server offers no models right now.") : QString());
    });
    connect(&m_api, &ApiClient::modelsFailed, this,
            [this](const ApiError& e) { setStatus(tr("Models could not be listed: %1").arg(e.message)); });
    connect(&m_api, &ApiClient::quoteReady, this, &PromptPage::showQuote);
    connect(&m_api, &ApiClient::creditsReady, this, &PromptPage::findCostInLedger);
    connect(&m_api, &ApiClient::jobReady, this, &PromptPage::onJob);
    connect(&m_api, &ApiClient::jobFailed, this, [this] {
        if (m_costPending && !m_stream)
            retryCostLookup();
    });
    connect(&m_api, &ApiClient::quoteFailed, this, [this](const ApiError& e) {
        // Without a quote the server still refuses what the account cannot pay, so Send stays usable.
        m_insufficient = false;
        switch (e.kind) {
        case ApiError::Kind::NotOffered:
            m_quote->setText(tr("This server gives no cost quote; you pay per token generated."));
            break;
        case ApiError::Kind::Unauthorized:
            m_quote->setText(tr("Sign in to an account (Account & settings) to see what a prompt costs."));
            break;
        default:
            if (e.httpStatus == 400) {
                // The server would refuse the request itself (e.g. prompt + max tokens over the context).
                m_insufficient = true;
                m_quote->setText(tr("<b>Cannot be sent:</b> %1").arg(e.message.toHtmlEscaped()));
            } else {
                m_quote->setText(tr("No cost quote right now: %1").arg(e.message.toHtmlEscaped()));
            }
            break;
        }
        m_quote->setToolTip(QString());
        updateSendButton();
    });
    fillHistory();
}

void PromptPage::setStatus(const QString& text) {
    m_status->setText(text);
}
QString PromptPage::statusText() const {
    return m_status->text();
}
QString PromptPage::transcriptText() const {
    return m_transcript->toPlainText();
}

void PromptPage::refreshModels() {
    if (!m_api.isConfigured()) {
        setStatus(tr("No server is set (Account & settings)."));
        return;
    }
    m_api.fetchModels();
}

CompletionRequest PromptPage::currentRequest(const QString& newUserText) const {
    CompletionRequest r;
    r.model = m_model->currentText();
    if (m_chat->isChecked())
        r.messages = m_conversation;
    r.messages.append(ChatMessage{QStringLiteral("user"), newUserText});
    r.maxTokens = m_maxTokens->value();
    r.temperature = m_temperature->value();
    r.topP = m_topP->value();
    return r;
}

void PromptPage::requestQuote() {
    if (!m_api.isConfigured() || m_model->currentText().isEmpty())
        return;
    if (m_input->toPlainText().trimmed().isEmpty()) {
        m_insufficient = false;
        m_quote->setText(tr("Write a prompt to see what it costs."));
        m_quote->setToolTip(QString());
        updateSendButton();
        return;
    }
    m_api.requestQuote(currentRequest(m_input->toPlainText()));
}

QString PromptPage::quoteText() const {
    return m_quote->text();
}

void PromptPage::showQuote(const CostQuote& q) {
    m_insufficient = !q.sufficient;
    const QString cost = formatCredits(q.costMicrocredits);
    if (m_insufficient) {
        m_quote->setText(
            tr("<b>Not enough credits:</b> this prompt can cost up to %1 credits and your account has %2. "
               "Lower Max tokens, or let this computer contribute to earn more.")
                .arg(cost, formatCredits(qMax<qint64>(0, q.availableMicrocredits))));
    } else {
        QString text =
            tr("Costs at most <b>%1</b> credits (%n prompt token(s)", nullptr, int(q.promptTokens)).arg(cost);
        text += tr(" + up to %n new)", nullptr, int(q.maxTokens));
        if (q.availableMicrocredits >= 0)
            text += tr(" · you have %1").arg(formatCredits(q.availableMicrocredits));
        m_quote->setText(text);
    }
    m_quote->setToolTip(tr("The most this request can cost: %1 microcredits. You pay for the tokens "
                           "actually generated; the rest is released when the answer ends.")
                            .arg(QLocale().toString(q.costMicrocredits)));
    updateSendButton();
}

std::optional<qint64> PromptPage::settledCost(const CreditSummary& credits, const QDateTime& since) {
    const Posting* hold = nullptr;
    for (const Posting& p : credits.postings) // newest first: the last match is the oldest
        if (p.kind == QLatin1String("hold") && p.at >= since)
            hold = &p;
    if (!hold)
        return std::nullopt;
    qint64 sum = 0;
    bool closed = false;
    for (const Posting& p : credits.postings) {
        if (p.memo != hold->memo)
            continue;
        sum += p.amountMicrocredits;
        closed = closed || p.kind != QLatin1String("hold");
    }
    if (!closed)
        return std::nullopt;
    return -sum;
}

QString PromptPage::holdJobId(const CreditSummary& credits, const QDateTime& since) {
    const Posting* hold = nullptr;
    for (const Posting& p : credits.postings) // newest first: the last match is the oldest
        if (p.kind == QLatin1String("hold") && p.at >= since)
            hold = &p;
    return hold ? hold->jobId : QString();
}

void PromptPage::findCostInLedger(const CreditSummary& credits) {
    if (!m_costPending || m_stream)
        return;
    if (const auto cost = settledCost(credits, m_sentAt)) {
        recordCost(*cost);
        return;
    }
    // Settled for the whole hold (no posting back to the account), or not settled yet: the job says which.
    m_costJobId = holdJobId(credits, m_sentAt);
    if (!m_costJobId.isEmpty()) {
        m_api.fetchJob(m_costJobId);
        return;
    }
    retryCostLookup();
}

// GUI thread (ApiClient's reply).
void PromptPage::onJob(const JobStatus& job) {
    if (!m_costPending || m_stream || job.id != m_costJobId)
        return;
    if (job.status == QLatin1String("completed")) {
        recordCost(job.costMicrocredits);
        return;
    }
    if (job.status == QLatin1String("refunded")) {
        recordCost(0);
        return;
    }
    retryCostLookup();
}

void PromptPage::recordCost(qint64 costMicrocredits) {
    m_costPending = false;
    m_costReadsLeft = 0;
    m_costJobId.clear();
    m_historyStore.setNewestCost(double(costMicrocredits) / 1e6);
    fillHistory();
}

void PromptPage::retryCostLookup() {
    // Not settled yet: a few quick reads, then the dashboard's regular balance refresh finds it.
    if (m_costReadsLeft > 0) {
        --m_costReadsLeft;
        QTimer::singleShot(1500, this, [this] {
            if (m_costPending && !m_stream)
                m_api.fetchCredits();
        });
    }
}

void PromptPage::updateSendButton() {
    m_send->setEnabled(!m_stream && !m_insufficient);
    m_send->setToolTip(m_insufficient ? tr("This prompt cannot be sent as it is (see the text on the left).")
                                      : tr("Send (Ctrl+Enter)"));
}

void PromptPage::send() {
    const QString text = m_input->toPlainText().trimmed();
    if (m_stream || text.isEmpty())
        return;
    if (m_insufficient) {
        setStatus(tr("Not sent: see the text next to Send."));
        return;
    }
    if (m_model->currentText().isEmpty()) {
        setStatus(tr("Pick a model first (Refresh lists what the server offers)."));
        return;
    }
    const CompletionRequest request = currentRequest(text);
    if (!m_chat->isChecked()) {
        m_transcript->clear();
        m_conversation.clear();
    }
    m_conversation.append(ChatMessage{QStringLiteral("user"), text});
    m_currentPrompt = text;
    m_currentAnswer.clear();
    m_deltaCount = 0;
    QTextCursor cursor(m_transcript->document());
    cursor.movePosition(QTextCursor::End);
    if (!m_transcript->document()->isEmpty())
        cursor.insertBlock();
    QTextCharFormat bold;
    bold.setFontWeight(QFont::Bold);
    cursor.insertText(tr("You: ") + text, bold);
    cursor.insertBlock();
    cursor.insertText(QString(), QTextCharFormat());
    m_input->clear();
    m_clock.start();
    m_sentAt = QDateTime::currentDateTime().addSecs(-2); // the server's clock may differ a little
    m_costPending = false; // an earlier prompt's cost is not looked for any more (it would go to this one)
    m_costReadsLeft = 0;
    m_stream = m_api.startCompletion(request);
    connect(m_stream, &CompletionStream::delta, this, &PromptPage::onDelta);
    connect(m_stream, &CompletionStream::finished, this, &PromptPage::onFinished);
    connect(m_stream, &CompletionStream::failed, this, &PromptPage::onFailed);
    m_send->setEnabled(false);
    m_stop->setEnabled(true);
    setStatus(tr("Waiting for the first token…"));
}

void PromptPage::onDelta(const QString& text) {
    ++m_deltaCount;
    m_currentAnswer += text;
    QTextCursor cursor(m_transcript->document());
    cursor.movePosition(QTextCursor::End);
    cursor.insertText(text, QTextCharFormat());
    m_transcript->ensureCursorVisible();
    setStatus(tr("Streaming… %n token(s)", nullptr, int(m_deltaCount)));
}

void PromptPage::onFinished(const CompletionUsage& usage) {
    const qint64 tokens = usage.completionTokens > 0 ? usage.completionTokens : m_deltaCount;
    endStream(usage.finishReason == QStringLiteral("stopped") ? tr("stopped") : tr("done"), tokens,
              usage.costCredits);
}

void PromptPage::onFailed(const ApiError& error) {
    QString outcome;
    switch (error.kind) {
    case ApiError::Kind::NotOffered:
        outcome = tr("this server does not offer chat completions yet (/v1/chat/completions)");
        break;
    case ApiError::Kind::Unauthorized:
        outcome = tr("not signed in or not enough credits: %1").arg(error.message);
        break;
    default:
        outcome = error.message;
        break;
    }
    endStream(tr("failed: %1").arg(outcome), m_deltaCount, -1);
}

void PromptPage::endStream(const QString& outcome, qint64 tokens, double cost) {
    const double seconds = double(m_clock.elapsed()) / 1000.0;
    if (!m_currentAnswer.isEmpty())
        m_conversation.append(ChatMessage{QStringLiteral("assistant"), m_currentAnswer});
    else if (!m_conversation.isEmpty())
        m_conversation.removeLast(); // nothing answered: do not send the question twice next time
    PromptRecord record;
    record.at = QDateTime::currentDateTimeUtc();
    record.model = m_model->currentText();
    record.prompt = m_currentPrompt;
    record.answer = m_currentAnswer;
    record.tokens = tokens;
    record.seconds = seconds;
    record.costCredits = cost;
    record.outcome = outcome;
    m_historyStore.add(record);
    fillHistory();
    QString status = tr("%1 — %n token(s) in %2 s", nullptr, int(tokens))
                         .arg(outcome, QLocale().toString(seconds, 'f', 1));
    if (cost >= 0)
        status += tr(", %1 credits").arg(formatCredits(toMicrocredits(cost)));
    else if (m_api.isConfigured() && !m_api.endpoint().apiKey.isEmpty()) {
        m_costPending = true;
        m_costReadsLeft =
            5; // the balance refresh after completionEnded brings the settlement, or a later one
    }
    setStatus(status);
    if (m_stream)
        m_stream->deleteLater();
    m_stream = nullptr;
    updateSendButton();
    m_stop->setEnabled(false);
    m_quoteDebounce.start(); // the balance changed
    Q_EMIT completionEnded();
}

void PromptPage::fillHistory() {
    m_history->clear();
    for (const PromptRecord& r : m_historyStore.load()) {
        auto* item = new QTreeWidgetItem(m_history);
        const QDateTime local = r.at.toLocalTime();
        // Today's prompts by time only; older ones with the date (keeps the column narrow).
        item->setText(0, local.date() == QDate::currentDate()
                             ? local.toString(QStringLiteral("HH:mm"))
                             : QLocale().toString(local, QLocale::ShortFormat));
        item->setText(1, r.model);
        item->setText(2, QLocale().toString(r.tokens));
        item->setText(3, tr("%1 s").arg(QLocale().toString(r.seconds, 'f', 1)));
        item->setText(4, r.costCredits >= 0 ? formatCredits(toMicrocredits(r.costCredits)) : tr("—"));
        item->setToolTip(0, r.prompt.left(200) + QLatin1Char('\n') + r.outcome);
        item->setData(0, Qt::UserRole, r.prompt);
        item->setData(1, Qt::UserRole, r.answer);
    }
}

} // namespace declai::desktop
