// Prompt (researchers): pick a model the server offers, write a prompt or a chat, set parameters, see the
// cost quote before sending, watch tokens stream, Stop, and a history of past prompts with tokens, time and
// cost. Talks only to ApiClient (the server's OpenAI-compatible HTTP API); nothing here blocks.
#pragma once

#include "ApiClient.h"
#include "PromptHistory.h"

#include <QElapsedTimer>
#include <QPointer>
#include <QTimer>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;
class QTreeWidget;

namespace declai::desktop {

class PromptPage : public QWidget {
    Q_OBJECT
public:
    PromptPage(ApiClient& api, PromptHistory& history, QWidget* parent = nullptr);

    void refreshModels();
    // Cost of a request from the account's postings: minus the sum of the postings of the oldest hold placed
    // at or after `since` (hold -W, then settle +(W - cost) or release +W); nullopt while it is not settled.
    static std::optional<qint64> settledCost(const CreditSummary& credits, const QDateTime& since);
    // The job id (GET /v1/jobs/{id}) of that hold; empty when there is none yet. A request that used its
    // whole hold leaves no posting on the account when it settles, so its cost is read from the job instead.
    static QString holdJobId(const CreditSummary& credits, const QDateTime& since);
    // For tests.
    QComboBox* modelBox() const { return m_model; }
    QPlainTextEdit* input() const { return m_input; }
    QPushButton* sendButton() const { return m_send; }
    QPushButton* stopButton() const { return m_stop; }
    QSpinBox* maxTokensBox() const { return m_maxTokens; }
    QString transcriptText() const;
    QString statusText() const;
    QString quoteText() const;
    QTreeWidget* historyView() const { return m_history; }
    bool isStreaming() const { return m_stream != nullptr; }

Q_SIGNALS:
    void completionEnded(); // finished, stopped or failed (the Overview refreshes the balance)

private:
    void send();
    void onDelta(const QString& text);
    void onFinished(const CompletionUsage& usage);
    void onFailed(const ApiError& error);
    void endStream(const QString& outcome, qint64 tokens, double cost);
    void requestQuote();
    void showQuote(const CostQuote& quote);
    void findCostInLedger(const CreditSummary& credits);
    void onJob(const JobStatus& job);
    void recordCost(qint64 costMicrocredits);
    void retryCostLookup();
    void updateSendButton();
    void fillHistory();
    CompletionRequest currentRequest(const QString& newUserText) const;
    void setStatus(const QString& text);

    ApiClient& m_api;
    PromptHistory& m_historyStore;
    QComboBox* m_model = nullptr;
    QPushButton* m_refresh = nullptr;
    QCheckBox* m_chat = nullptr;
    QTextBrowser* m_transcript = nullptr;
    QPlainTextEdit* m_input = nullptr;
    QSpinBox* m_maxTokens = nullptr;
    QDoubleSpinBox* m_temperature = nullptr;
    QDoubleSpinBox* m_topP = nullptr;
    QLabel* m_quote = nullptr;
    QLabel* m_status = nullptr;
    QPushButton* m_send = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_newChat = nullptr;
    QTreeWidget* m_history = nullptr;
    QTimer m_quoteDebounce;      // a quote 400 ms after the last edit, not one per keystroke
    bool m_insufficient = false; // the latest quote: the account cannot pay, or the server would refuse

    QPointer<CompletionStream> m_stream;
    QList<ChatMessage> m_conversation;
    QString m_currentPrompt;
    QString m_currentAnswer;
    qint64 m_deltaCount = 0;
    QElapsedTimer m_clock;
    // The last prompt's cost, read from the account's postings: its hold (placed after m_sentAt) plus its
    // settlement or release: looked for in every balance answer until found (or the next prompt is sent),
    // with a few extra reads 1.5 s apart right after the answer.
    QDateTime m_sentAt;
    bool m_costPending = false;
    int m_costReadsLeft = 0;
    QString m_costJobId; // the job asked for at GET /v1/jobs/{id}, while the cost is pending
};

} // namespace declai::desktop
