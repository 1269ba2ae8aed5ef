#include "declai/gpu/ThreadPool.h"

#include <algorithm>

namespace declai {

ThreadPool::ThreadPool(int threadCount) {
    if (threadCount <= 0)
        threadCount = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < threadCount; ++i)
        m_workers.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    for (std::thread& t : m_workers)
        t.join();
}

void ThreadPool::runChunk(int threadIndex) {
    if (threadIndex >= m_activeThreads)
        return;
    const int64_t perThread = (m_count + m_activeThreads - 1) / m_activeThreads;
    const int64_t begin = std::min<int64_t>(m_count, perThread * threadIndex);
    const int64_t end = std::min<int64_t>(m_count, begin + perThread);
    if (begin < end)
        (*m_body)(begin, end, threadIndex);
}

void ThreadPool::workerLoop(int threadIndex) {
    uint64_t seenGeneration = 0;
    for (;;) {
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [&] { return m_stopping || m_generation != seenGeneration; });
            if (m_stopping)
                return;
            seenGeneration = m_generation;
        }
        runChunk(threadIndex);
        {
            std::lock_guard lock(m_mutex);
            if (--m_pending == 0)
                m_done.notify_one();
        }
    }
}

void ThreadPool::parallelFor(int64_t count, int64_t minChunk,
                             const std::function<void(int64_t, int64_t, int)>& body) {
    if (count <= 0)
        return;
    minChunk = std::max<int64_t>(1, minChunk);
    const int64_t useful = (count + minChunk - 1) / minChunk;
    const int active = static_cast<int>(std::min<int64_t>(threadCount(), useful));
    if (active <= 1 || m_workers.empty()) {
        body(0, count, 0);
        return;
    }
    {
        std::lock_guard lock(m_mutex);
        m_body = &body;
        m_count = count;
        m_activeThreads = active;
        m_pending = static_cast<int>(m_workers.size());
        ++m_generation;
    }
    m_wake.notify_all();
    runChunk(0);
    std::unique_lock lock(m_mutex);
    m_done.wait(lock, [&] { return m_pending == 0; });
    m_body = nullptr;
}

} // namespace declai
