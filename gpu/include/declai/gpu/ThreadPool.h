// A persistent pool of worker threads for data-parallel kernels: threads are created once and reused by
// every parallelFor, so no op pays for thread creation. The calling thread takes part in the work.
// Between jobs the workers and the caller poll for up to 2 ms before sleeping on a condition variable:
// decode runs a hundred short parallel steps per token, and a futex wake-up per step costs more than the
// step (ThreadPool.cpp says what was measured).
// On Linux, when the pool has no more threads than the CPUs it may use, a job's workers are kept off the
// CPU its caller runs on: a worker woken onto the caller's CPU took it over while the other CPU stood idle
// (ThreadPool.cpp).
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
    // `minChunk` items (the last may be shorter), one per thread; each thread takes the next chunk not
    // yet taken, so the caller goes on with the chunk of a worker that has not started. The split
    // depends on count, minChunk and threadCount() only. threadIndex (0 for the caller) is unique among
    // the threads running at once, for per-thread scratch. Blocks until every chunk is done. Not
    // re-entrant: call it from one thread at a time (the engine's compute thread).
    void parallelFor(int64_t count, int64_t minChunk,
                     const std::function<void(int64_t begin, int64_t end, int threadIndex)>& body);
    // The caller has no job for a while (a gateway or node pass is done and its queue is empty): workers
    // polling for the next job sleep now instead of polling out their budget on CPUs that the network
    // threads, or the next stage's node on the same machine, are about to need. Call from the caller's
    // thread, between jobs.
    void sleepWorkers();

private:
    void workerLoop(int threadIndex);
    void runChunks(int threadIndex);
    // Before a job is posted, on the caller's thread: when the caller's CPU changed since last time, allows
    // the workers every CPU of m_allowedCpus but that one. No-op off Linux and when the pool has as many
    // threads as m_allowedCpus has CPUs or more.
    void keepWorkersOffCallerCpu();

    // m_state packs the job's generation (upper 32 bits), its chunk count and the next chunk to claim
    // (16 bits each), so one compare-and-swap claims a chunk of the job that is current.
    static constexpr int kGenerationShift = 32;
    static constexpr int kCountShift = 16;
    static constexpr uint64_t kFieldMask = 0xffff;

    std::vector<std::thread> m_workers;
    std::vector<int> m_allowedCpus; // the constructing thread's CPUs
    int m_workersOffCpu = -1;       // the CPU the workers are kept off now (-1: none)
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::condition_variable m_done;
    // The current job, written by the caller before it is posted in m_state.
    const std::function<void(int64_t, int64_t, int)>* m_body = nullptr;
    int64_t m_count = 0;
    int64_t m_chunkSize = 0;
    int m_chunkCount = 0;
    // Each on its own cache line: threads poll them while others claim chunks and count them done.
    alignas(64) std::atomic<uint64_t> m_state{0};
    alignas(64) std::atomic<int> m_chunksDone{0};
    std::atomic<bool> m_stopping{false};
    std::atomic<uint32_t> m_sleepRequests{0}; // bumped by sleepWorkers()
};

} // namespace declai
