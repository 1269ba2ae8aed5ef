#include "declai/gpu/ThreadPool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace declai {

namespace {

// How long a worker waiting for the next job, or the caller waiting for the workers, polls before it
// sleeps on a condition variable. Between two parallel steps of one token the caller runs short serial
// parts (norms, sampling, a KV-cache write); a sleeping worker then needs a futex wake-up, and on a
// virtual machine waking an idle vCPU can take 100+ microseconds - more than the step. Measured on a
// 2-vCPU EPYC VM without AVX-512 (TinyLlama-shaped Q4_0, 2 threads): decode 13 tokens/s and prefill 25
// with a ~40 us poll, 19 and 37 with 2 ms; llama.cpp 23 and 71 (its threads spin through a whole graph).
// Past the budget a thread sleeps, so an idle pool costs no CPU.
constexpr std::chrono::microseconds kSpinBudget{2000};
// Polls between clock reads (and yields): a clock read costs ~20-50 ns, a pause ~10-50 ns.
constexpr int kPollsPerClockRead = 64;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// Polls `ready` for up to kSpinBudget; true as soon as it holds, false when the budget ran out.
template <typename Ready>
bool spinFor(Ready ready) {
    const auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
    for (;;) {
        for (int i = 0; i < kPollsPerClockRead; ++i) {
            if (ready())
                return true;
            cpuRelax();
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return ready();
        // Lets another runnable thread of this CPU go first (a pool's caller may share CPUs with other
        // pools or processes); returns at once when there is none.
        std::this_thread::yield();
    }
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
        uint64_t generation = seenGeneration;
        spinFor([&] {
            generation = m_generation.load(std::memory_order_acquire);
            return generation != seenGeneration || m_stopping.load(std::memory_order_relaxed);
        });
        if (generation == seenGeneration && !m_stopping.load()) {
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
    if (!spinFor([&] { return m_pending.load(std::memory_order_acquire) == 0; })) {
        std::unique_lock lock(m_mutex);
        m_done.wait(lock, [&] { return m_pending.load(std::memory_order_acquire) == 0; });
    }
    m_body = nullptr;
}

} // namespace declai
