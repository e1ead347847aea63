import BasculeEventLoop
import CLinux
import Glibc

/// A kernel pipe used to splice one direction of a connection without copying to user space.
struct Pipe {
    let readEnd: Int32
    let writeEnd: Int32
}

/// Each worker keeps the pipes of finished connections for the next ones: creating a pipe
/// costs two descriptors and three calls, and a bulk connection needs one per direction.
/// Only empty pipes come back here; a pipe still holding bytes is closed instead.
final class PipePool {
    private var free: [Pipe] = []
    /// Pipes held by connections of this worker.
    private(set) var inUse = 0
    /// More pipes out than the pool keeps: a burst of bulk connections is under way, and each
    /// one that drains should give its pipe back at once rather than after `pipeIdleMs`, or
    /// the burst spends the descriptor limit on pipes.
    var isCrowded: Bool { inUse > limit }
    private let limit: Int
    let pipeSize: Int

    init(limit: Int = 256, pipeSize: Int = 256 * 1024) {
        self.limit = limit
        self.pipeSize = pipeSize
        free.reserveCapacity(limit)
    }

    deinit {
        for pipe in free { close(pipe) }
    }

    /// nil when no pipe can be made (descriptor limit): the caller keeps copying via buffers.
    func take() -> Pipe? {
        if let pipe = free.popLast() { inUse += 1; return pipe }
        var fds: (Int32, Int32) = (-1, -1)
        let result = withUnsafeMutablePointer(to: &fds) {
            $0.withMemoryRebound(to: Int32.self, capacity: 2) { cl_pipe2_nonblock($0) }
        }
        guard result == 0 else { return nil }
        // A larger pipe moves more per splice; the kernel allocates its pages only while
        // bytes are in flight, so idle pipes stay cheap. Failure just keeps the default.
        _ = cl_set_pipe_size(fds.1, Int32(pipeSize))
        inUse += 1
        return Pipe(readEnd: fds.0, writeEnd: fds.1)
    }

    func give(_ pipe: Pipe, empty: Bool) {
        inUse -= 1
        if empty && free.count < limit {
            free.append(pipe)
        } else {
            close(pipe)
        }
    }

    private func close(_ pipe: Pipe) {
        closeDescriptor(pipe.readEnd)
        closeDescriptor(pipe.writeEnd)
    }
}
