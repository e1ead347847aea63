import CLinux
import Glibc

/// A plain pthread running one closure. Workers own their event loop for the life of the
/// process and must not be scheduled by a concurrency runtime; the test backend serves each
/// connection on a thread of its own.
/// Sendable so its owner can hand it to whoever joins it; the pthread_t is only read after
/// creation.
public final class WorkerThread: @unchecked Sendable {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private var thread = pthread_t()

    /// A joinable thread with glibc's default stack. Failing to start one is fatal: the
    /// caller is starting the process and has no way to carry on without it.
    public init(name: String, _ run: @escaping @Sendable () -> Void) {
        do {
            thread = try Self.start(name: name, stackSize: nil, detached: false, run)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    public func join() {
        pthread_join(thread, nil)
    }

    /// A thread nobody joins. Thread-per-connection needs thousands of them, so the stack is
    /// kept small (debug builds still need a few hundred KiB) instead of glibc's 8 MiB
    /// default; running out of threads is an error the caller can answer.
    public static func detach(name: String, stackSize: Int = 512 * 1024,
                              _ run: @escaping @Sendable () -> Void) throws(SystemError) {
        _ = try start(name: name, stackSize: stackSize, detached: true, run)
    }

    private static func start(name: String, stackSize: Int?, detached: Bool,
                              _ run: @escaping @Sendable () -> Void) throws(SystemError) -> pthread_t {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        if let stackSize { pthread_attr_setstacksize(&attributes, stackSize) }

        let context = Unmanaged.passRetained(Body {
            _ = cl_set_thread_name(String(name.prefix(15)))
            run()
        }).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        if result != 0 {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError(errno: result, call: "pthread_create")
        }
        return thread
    }
}
