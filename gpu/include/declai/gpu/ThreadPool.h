// A persistent pool of worker threads for data-parallel kernels: threads are created once and reused by
// every parallelFor, so no op pays for thread creation. The calling thread takes part in the work.
// Between jobs the workers and the caller poll for up to 2 ms before sleeping on a condition variable:
// decode runs a hundred short parallel steps per token, and a futex wake-up per step costs more than the
// step (ThreadPool.cpp says what was measured).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace declai {

class ThreadPool {
public:
    // threadCount <= 0 picks the number of hardware threads.
    explicit ThreadPool(int threadCount);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int threadCount() const { return static_cast<int>(m_workers.size()) + 1; }

    // Calls body(begin, end, threadIndex) over [0, count) split into contiguous chunks of at least
    // `minChunk` items, one chunk per thread. Blocks until every chunk is done. Not re-entrant: call it
    // from one thread at a time (the engine's compute thread).
    void parallelFor(int64_t count, int64_t minChunk,
                     const std::function<void(int64_t begin, int64_t end, int threadIndex)>& body);

private:
    void workerLoop(int threadIndex);
    void runChunk(int threadIndex);

    std::vector<std::thread> m_workers;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::condition_variable m_done;
    const std::function<void(int64_t, int64_t, int)>* m_body = nullptr;
    int64_t m_count = 0;
    int m_activeThreads = 0;
    std::atomic<int> m_pending{0};
    std::atomic<uint64_t> m_generation{0};
    std::atomic<bool> m_stopping{false};
};

} // namespace declai
