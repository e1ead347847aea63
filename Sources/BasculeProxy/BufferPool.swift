/// Fixed-size buffers for bytes a destination could not take yet. Taken only under
/// backpressure and returned when the connection ends, so the steady state allocates nothing.
final class BufferPool {
    let bufferSize: Int
    private var free: [UnsafeMutableRawPointer] = []
    private let limit: Int

    init(bufferSize: Int, limit: Int = 1024) {
        self.bufferSize = bufferSize
        self.limit = limit
    }

    deinit {
        for buffer in free { buffer.deallocate() }
    }

    func take() -> UnsafeMutableRawPointer {
        free.popLast() ?? UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
    }

    func give(_ buffer: UnsafeMutableRawPointer) {
        if free.count < limit { free.append(buffer) } else { buffer.deallocate() }
    }
}
