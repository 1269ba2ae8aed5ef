// Load generator for the crash test: opens the SQLite ledger at argv[1] and runs transfers between two
// accounts from four threads until it is killed. Prints "ACK <txid>" for every transaction whose call
// returned success -- i.e. after its COMMIT -- and flushes, so the parent knows exactly what was
// acknowledged.
#include "declai/credit/Ledger.h"
#include "declai/credit/SqliteLedgerStore.h"

#include <QCoreApplication>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace declai::credit;

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    if (argc < 2) {
        std::fprintf(stderr, "usage: ledger_load LEDGER.sqlite\n");
        return 2;
    }
    auto store = SqliteLedgerStore::open(QString::fromLocal8Bit(argv[1]));
    if (!store) {
        std::fprintf(stderr, "ledger_load: %s\n", store.error().toString().c_str());
        return 1;
    }
    Ledger ledger(std::move(*store));
    for (const char* account : {"user:a", "user:b"}) {
        if (auto ok = ledger.ensureAccount(account, AccountKind::User); !ok) {
            std::fprintf(stderr, "ledger_load: %s\n", ok.error().toString().c_str());
            return 1;
        }
    }
    // Same keys on every start: however often the tool is killed and restarted, these grant once each.
    if (!ledger.grant("user:a", 1'000'000'000, "load-seed-a") ||
        !ledger.grant("user:b", 1'000'000'000, "load-seed-b")) {
        std::fprintf(stderr, "ledger_load: seed grant failed\n");
        return 1;
    }
    std::mutex outputMutex;
    const std::string run =
        std::to_string(::getpid()).append("-").append(std::to_string(std::random_device{}()));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(std::random_device{}());
            for (std::uint64_t i = 0;; ++i) {
                const bool aToB = rng() % 2 == 0;
                std::string key = "load-";
                key.append(run).append("-").append(std::to_string(t)).append("-").append(std::to_string(i));
                auto tx = ledger.transfer(aToB ? "user:a" : "user:b", aToB ? "user:b" : "user:a",
                                          1 + static_cast<Microcredits>(rng() % 1000), key);
                if (tx) {
                    std::lock_guard lock(outputMutex);
                    std::printf("ACK %lld\n", static_cast<long long>(*tx));
                    std::fflush(stdout);
                }
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    return 0;
}
