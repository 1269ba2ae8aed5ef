#include "declai/gpu/ThreadPool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace declai {

namespace {

// About 30-60 microseconds of polling before a thread goes to sleep (pause is ~40-140 cycles).
constexpr int kSpinIterations = 1500;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

} // namespace

ThreadPool::ThreadPool(int threadCount) {
    if (threadCount <= 0)
        threadCount = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < threadCount; ++i)
        m_workers.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping.store(true);
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

// Runs on each worker thread.
void ThreadPool::workerLoop(int threadIndex) {
    uint64_t seenGeneration = 0;
    for (;;) {
        uint64_t generation = m_generation.load(std::memory_order_acquire);
        for (int i = 0; generation == seenGeneration && i < kSpinIterations; ++i) {
            cpuRelax();
            generation = m_generation.load(std::memory_order_acquire);
        }
        if (generation == seenGeneration) {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [&] {
                return m_stopping.load() || m_generation.load(std::memory_order_acquire) != seenGeneration;
            });
            generation = m_generation.load(std::memory_order_acquire);
        }
        if (m_stopping.load())
            return;
        seenGeneration = generation;
        runChunk(threadIndex);
        if (m_pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard lock(m_mutex);
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
    m_body = &body;
    m_count = count;
    m_activeThreads = active;
    m_pending.store(static_cast<int>(m_workers.size()), std::memory_order_relaxed);
    {
        // Under the mutex, so a worker about to sleep either sees the new generation or gets the notify.
        std::lock_guard lock(m_mutex);
        m_generation.fetch_add(1, std::memory_order_release);
    }
    m_wake.notify_all();
    runChunk(0);
    for (int i = 0; m_pending.load(std::memory_order_acquire) != 0 && i < kSpinIterations; ++i)
        cpuRelax();
    if (m_pending.load(std::memory_order_acquire) != 0) {
        std::unique_lock lock(m_mutex);
        m_done.wait(lock, [&] { return m_pending.load(std::memory_order_acquire) == 0; });
    }
    m_body = nullptr;
}

} // namespace declai
