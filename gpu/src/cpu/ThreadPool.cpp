#include "declai/gpu/ThreadPool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
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
#if defined(__linux__)
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(cpu, &allowed))
                m_allowedCpus.push_back(cpu);
        }
    }
#endif
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

// Runs on the caller and on each worker: claims chunks of the current job until none is left. A chunk is
// claimed by advancing `next` in m_state, so each runs exactly once; its boundaries are fixed when the job
// is posted, so which thread runs it never changes a result.
void ThreadPool::runChunks(int threadIndex) {
    uint64_t state = m_state.load(std::memory_order_acquire);
    for (;;) {
        const uint64_t next = state & kFieldMask;
        if (next >= ((state >> kCountShift) & kFieldMask))
            return;
        // A successful claim happens after the job was posted (acquire), and the caller cannot post the
        // next one before this chunk is counted done, so the job's fields stay valid while it runs.
        if (!m_state.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            continue;
        const int64_t begin = static_cast<int64_t>(next) * m_chunkSize;
        const int64_t end = std::min(m_count, begin + m_chunkSize);
        const int chunkCount = m_chunkCount; // read before this chunk counts as done
        (*m_body)(begin, end, threadIndex);
        if (m_chunksDone.fetch_add(1, std::memory_order_acq_rel) + 1 == chunkCount && threadIndex != 0) {
            std::lock_guard lock(m_mutex);
            m_done.notify_one();
        }
        state = m_state.load(std::memory_order_acquire);
    }
}

// A futex wake-up lets the kernel place the worker on the waker's CPU. On a 2-vCPU VM (Linux 6.18,
// Intel) it often did even with the other CPU idle: the worker then preempted its caller mid-chunk, and
// the two ran one after the other for milliseconds until the idle CPU pulled one over. A gateway's decode
// step (layer 0, the head: ~6 ms of work on two threads) took 5.6-6.3 ms instead of 3.3 in 4 of 10
// tokens traced with `perf sched timehist -w`. With the worker's affinity excluding the caller's CPU it
// can only wake elsewhere; the mask changes only when the caller moves, so a job usually costs one
// sched_getcpu() (vDSO, nanoseconds).
void ThreadPool::keepWorkersOffCallerCpu() {
#if defined(__linux__)
    // With as many workers as CPUs or more, the workers would crowd the CPUs left to them: the kernel
    // places them.
    if (m_allowedCpus.size() < 2 || m_workers.size() >= m_allowedCpus.size())
        return;
    const int cpu = ::sched_getcpu();
    if (cpu < 0 || cpu == m_workersOffCpu)
        return;
    cpu_set_t others;
    CPU_ZERO(&others);
    for (int allowed : m_allowedCpus) {
        if (allowed != cpu)
            CPU_SET(allowed, &others);
    }
    // By pthread handle: valid from the thread's creation, whether or not it has started running yet.
    for (std::thread& worker : m_workers)
        ::pthread_setaffinity_np(worker.native_handle(), sizeof others, &others); // refused: left as is
    m_workersOffCpu = cpu;
#endif
}

// Runs on each worker thread.
void ThreadPool::workerLoop(int threadIndex) {
    uint64_t seenGeneration = 0;
    const auto posted = [&] {
        return (m_state.load(std::memory_order_acquire) >> kGenerationShift) != seenGeneration ||
               m_stopping.load(std::memory_order_relaxed);
    };
    // Counted before each job's chunks run: a sleepWorkers() made after the job (when its caller is done)
    // cuts the poll that follows it even when this worker gets back to polling late.
    uint32_t sleepRequests = m_sleepRequests.load(std::memory_order_relaxed);
    for (;;) {
        const auto postedOrSent = [&] {
            return posted() || m_sleepRequests.load(std::memory_order_relaxed) != sleepRequests;
        };
        if (!spinFor(postedOrSent) || !posted()) {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, posted);
        }
        if (m_stopping.load())
            return;
        seenGeneration = m_state.load(std::memory_order_acquire) >> kGenerationShift;
        sleepRequests = m_sleepRequests.load(std::memory_order_relaxed);
        // A worker that wakes late finds every chunk taken and goes back to waiting.
        runChunks(threadIndex);
    }
}

void ThreadPool::sleepWorkers() {
    m_sleepRequests.fetch_add(1, std::memory_order_relaxed);
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
    // One chunk per thread, as many as are useful, but not tied to a thread: a worker that the OS has not
    // scheduled yet (woken onto a CPU that is busy while another stands idle, or a volunteer's browser
    // running) leaves its chunk to the caller instead of making the caller wait for it. (Smaller chunks
    // would also spread a worker stalled mid-chunk, but cost ~4% of two-thread decode: each chunk
    // restarts the kernels' prefetch.)
    const int64_t chunks = std::min<int64_t>(active, static_cast<int64_t>(kFieldMask));
    m_chunkSize = std::max<int64_t>(minChunk, (count + chunks - 1) / chunks);
    m_chunkCount = static_cast<int>((count + m_chunkSize - 1) / m_chunkSize);
    m_count = count;
    m_body = &body;
    m_chunksDone.store(0, std::memory_order_relaxed);
    keepWorkersOffCallerCpu();
    {
        // Under the mutex, so a worker about to sleep either sees the new job or gets the notify.
        std::lock_guard lock(m_mutex);
        const uint64_t generation = (m_state.load(std::memory_order_relaxed) >> kGenerationShift) + 1;
        m_state.store(generation << kGenerationShift | static_cast<uint64_t>(m_chunkCount) << kCountShift,
                      std::memory_order_release);
    }
    m_wake.notify_all();
    runChunks(0);
    const auto finished = [&] { return m_chunksDone.load(std::memory_order_acquire) == m_chunkCount; };
    if (!spinFor(finished)) {
        std::unique_lock lock(m_mutex);
        m_done.wait(lock, finished);
    }
    m_body = nullptr;
}

} // namespace declai
