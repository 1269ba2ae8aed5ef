// Hands a result computed on another thread (the ledger's store thread) back to a QObject's thread.
#pragma once

#include "declai/core/Error.h"

#include <QMetaObject>
#include <QObject>
#include <QPointer>
#include <functional>
#include <memory>

namespace declai::server {

// A callback that may be called on any thread and runs `then` on context's thread. Nothing runs when
// context is gone by then (a queued call to a destroyed object is dropped).
template <class T>
std::function<void(Expected<T>)> postTo(QObject* context, std::function<void(Expected<T>)> then) {
    return [guard = QPointer<QObject>(context), then = std::move(then)](Expected<T> result) {
        QObject* target = guard.data();
        if (!target)
            return;
        auto shared = std::make_shared<Expected<T>>(std::move(result));
        QMetaObject::invokeMethod(
            target, [then, shared] { then(std::move(*shared)); }, Qt::QueuedConnection);
    };
}

} // namespace declai::server
