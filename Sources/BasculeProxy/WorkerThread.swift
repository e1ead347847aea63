import CLinux
import Glibc

/// A plain pthread running one closure: workers own their loop for the life of the process
/// and must not be scheduled by a concurrency runtime.
/// Sendable so its owner can hand it to whoever joins it; the pthread_t is only read after
/// creation.
final class WorkerThread: @unchecked Sendable {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private var thread = pthread_t()

    init(name: String, _ run: @escaping @Sendable () -> Void) {
        let body = Unmanaged.passRetained(Body {
            _ = cl_set_thread_name(String(name.prefix(15)))
            run()
        }).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, body)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    func join() {
        pthread_join(thread, nil)
    }
}
