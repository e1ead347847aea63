#if canImport(Glibc)
import Glibc
#endif

/// A joinable thread for tests (Foundation's Thread cannot be joined).
public final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    public init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
    }

    public func join() { pthread_join(thread, nil) }
}
