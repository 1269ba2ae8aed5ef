#include "declai/server/PromptTokenizer.h"

#include <QMetaObject>
#include <memory>

namespace declai::server {

PromptTokenizer::PromptTokenizer(QObject* parent) : QObject(parent), m_worker(new QObject) {
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.setObjectName(QStringLiteral("declai-tokenizer"));
    m_thread.start();
}

PromptTokenizer::~PromptTokenizer() {
    m_pending.clear();
    // Jobs not yet started are dropped with the thread's event queue; results posted to this object are
    // discarded by Qt when it is destroyed.
    m_thread.requestInterruption();
    m_thread.quit();
    m_thread.wait();
}

uint64_t PromptTokenizer::tokenize(Work work, Done done) {
    const uint64_t ticket = m_nextTicket++;
    m_pending[ticket] = std::move(done);
    QMetaObject::invokeMethod(
        m_worker,
        [this, ticket, work = std::move(work)] {
            // runs on: the tokenizer thread
            if (QThread::currentThread()->isInterruptionRequested())
                return;
            std::vector<int32_t> tokens = work();
            QMetaObject::invokeMethod(
                this,
                [this, ticket, tokens = std::move(tokens)]() mutable { deliver(ticket, std::move(tokens)); },
                Qt::QueuedConnection);
        },
        Qt::QueuedConnection);
    return ticket;
}

void PromptTokenizer::cancel(uint64_t ticket) {
    m_pending.erase(ticket); // its work still runs (it cannot be stopped halfway); its result is dropped
}

// runs on: the main thread
void PromptTokenizer::deliver(uint64_t ticket, std::vector<int32_t> tokens) {
    auto it = m_pending.find(ticket);
    if (it == m_pending.end())
        return;
    Done done = std::move(it->second);
    m_pending.erase(it);
    done(std::move(tokens));
}

} // namespace declai::server
