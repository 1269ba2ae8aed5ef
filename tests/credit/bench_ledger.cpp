// Ledger throughput: transfers (2 postings each) through the full Ledger API, with 1 caller (every commit
// waits for its own fsync) and with many concurrent callers (group commit shares fsyncs). items_per_second
// is postings/s. SQLite always; PostgreSQL too when DECLAI_TEST_PG is set.
//   build-credit/tests/bench_ledger --benchmark_min_time=2
#include "declai/credit/Ledger.h"
#include "declai/credit/PostgresLedgerStore.h"
#include "declai/credit/SqliteLedgerStore.h"

#include <QCoreApplication>
#include <QTemporaryDir>
#include <atomic>
#include <benchmark/benchmark.h>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace declai::credit;

namespace {

std::atomic<std::uint64_t> g_keyCounter{0};

void transfers(benchmark::State& state, Ledger* ledger) {
    // Each thread moves credits back and forth between its own two accounts, so no transfer ever fails.
    const std::string a = std::string("user:bench-a").append(std::to_string(state.thread_index()));
    const std::string b = std::string("user:bench-b").append(std::to_string(state.thread_index()));
    bool forward = true;
    for (auto _ : state) {
        const std::string key = std::string("bench-").append(std::to_string(g_keyCounter.fetch_add(1)));
        auto tx = forward ? ledger->transfer(a, b, 1, key) : ledger->transfer(b, a, 1, key);
        if (!tx) {
            state.SkipWithError(tx.error().message.c_str());
            break;
        }
        forward = !forward;
    }
    state.SetItemsProcessed(state.iterations() * 2); // postings
}

// Store-level batching: 256 transfers queued at once with writeAsync (one thread, no wake-up ping-pong), so
// they share commits; the same append path (zero-sum, negative-balance guard, hash chain, cached balances)
// without Ledger's idempotency lookup and friendly pre-checks.
void queuedBatch(benchmark::State& state, Ledger* ledger) {
    constexpr int kBatch = 256;
    std::vector<std::future<declai::Expected<TxId>>> futures;
    futures.reserve(kBatch);
    bool forward = true;
    for (auto _ : state) {
        futures.clear();
        for (int i = 0; i < kBatch; ++i, forward = !forward) {
            const std::string key = std::string("batch-").append(std::to_string(g_keyCounter.fetch_add(1)));
            const std::string from = forward ? "user:bench-a0" : "user:bench-b0";
            const std::string to = forward ? "user:bench-b0" : "user:bench-a0";
            futures.push_back(ledger->store().writeAsync<TxId>([key, from, to](LedgerSession& session)
                                                                   -> declai::Expected<TxId> {
                auto tx = session.appendTransaction({key, TxKind::Transfer, "", 0, {{from, -1}, {to, 1}}});
                if (!tx)
                    return tx.error();
                return tx->id;
            }));
        }
        for (auto& future : futures) {
            if (auto tx = future.get(); !tx) {
                state.SkipWithError(tx.error().message.c_str());
                return;
            }
        }
    }
    state.SetItemsProcessed(state.iterations() * kBatch * 2); // postings
}

bool prepare(Ledger& ledger, int threads) {
    for (int t = 0; t < threads; ++t) {
        for (const char* side : {"user:bench-a", "user:bench-b"}) {
            const std::string account = std::string(side).append(std::to_string(t));
            if (!ledger.ensureAccount(account, AccountKind::User))
                return false;
            if (!ledger.grant(account, 1'000'000'000, std::string("bench-seed-").append(account)))
                return false;
        }
    }
    return true;
}

void registerFor(const char* name, Ledger* ledger) {
    for (int threads : {1, 8, 32})
        benchmark::RegisterBenchmark(name, transfers, ledger)->Threads(threads)->UseRealTime();
    benchmark::RegisterBenchmark(std::string(name).append("_queued256").c_str(), queuedBatch, ledger)
        ->UseRealTime();
}

} // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    benchmark::Initialize(&argc, argv);
    QTemporaryDir dir;
    auto sqliteStore = SqliteLedgerStore::open(dir.filePath(QStringLiteral("bench.sqlite")));
    if (!sqliteStore) {
        std::fprintf(stderr, "%s\n", sqliteStore.error().toString().c_str());
        return 1;
    }
    Ledger sqlite(std::move(*sqliteStore));
    if (!prepare(sqlite, 32))
        return 1;
    registerFor("sqlite_transfers", &sqlite);

    std::unique_ptr<Ledger> postgres;
    const QString pg = qEnvironmentVariable("DECLAI_TEST_PG");
    if (!pg.isEmpty()) {
        auto info = PostgresConnectionInfo::parse(pg.toStdString());
        if (!info) {
            std::fprintf(stderr, "%s\n", info.error().toString().c_str());
            return 1;
        }
        info->schema = std::string("bench_").append(std::to_string(QCoreApplication::applicationPid()));
        auto store = PostgresLedgerStore::open(*info);
        if (!store) {
            std::fprintf(stderr, "%s\n", store.error().toString().c_str());
            return 1;
        }
        postgres = std::make_unique<Ledger>(std::move(*store));
        if (!prepare(*postgres, 32))
            return 1;
        registerFor("postgres_transfers", postgres.get());
    } else {
        std::fprintf(stderr, "DECLAI_TEST_PG is not set: PostgreSQL benchmarks skipped\n");
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
