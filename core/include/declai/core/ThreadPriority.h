// Background threads (the gateway's verifier) yield the CPU to the work users wait for. Qt's QThread
// priorities do nothing under Linux's default scheduler, so this lowers the calling thread's nice value;
// threads it creates afterwards (e.g. its thread pool) inherit it. Unlike SCHED_IDLE, a niced thread still
// gets a small share of a busy CPU, so background work is delayed, never starved.
#pragma once

namespace declai {

// Adds `increment` (1-19) to the calling thread's nice value. Returns false where the platform has no
// per-thread nice value or the call was refused (the thread then keeps its priority; nothing else changes).
bool lowerCurrentThreadPriority(int increment);

} // namespace declai
