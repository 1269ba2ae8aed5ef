// Prompts are tokenized off the gateway's event loop: a prompt near the 1 MiB limit takes the better part of
// a second to tokenize, which would hold every other session's tokens that long. One thread, jobs in the
// order they were given. Threading: create, call and destroy on the main thread; `done` runs there too
// (queued), never inside tokenize(), and never after cancel() of its ticket or after this is destroyed.
#pragma once

#include <QObject>
#include <QThread>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

namespace declai::server {

class PromptTokenizer : public QObject {
    Q_OBJECT

public:
    using Work = std::function<std::vector<int32_t>()>; // runs on the tokenizer thread
    using Done = std::function<void(std::vector<int32_t> tokens)>;

    explicit PromptTokenizer(QObject* parent = nullptr);
    ~PromptTokenizer() override; // waits for the job running now; drops the rest

    // Runs `work` on the tokenizer thread (it may only read what no one changes meanwhile) and hands its
    // tokens to `done`. Returns the ticket for cancel().
    uint64_t tokenize(Work work, Done done);
    void cancel(uint64_t ticket);
    size_t pendingJobs() const { return m_pending.size(); }

private:
    void deliver(uint64_t ticket, std::vector<int32_t> tokens);

    QThread m_thread;
    QObject* m_worker = nullptr; // lives on m_thread, deleted when it finishes
    std::map<uint64_t, Done> m_pending;
    uint64_t m_nextTicket = 1;
};

} // namespace declai::server
